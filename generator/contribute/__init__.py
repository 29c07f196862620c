"""``blockgemm contribute``: measure this machine's GPU for the catalog in one command.

Why: contributing a GPU took several commands and a person who knew which (tune each model at
its TP sizes, run the benchmark sweeps, validate, find the folder to send). Here one command
plans the work (:mod:`.plan`: what will be tuned and benchmarked, and about how long it takes),
runs the GPU steps (:mod:`.steps`: the tuner and the bench, both resumable, so a rerun skips
what is finished), validates exactly what will be sent, and writes one archive of the device's
``site_data`` folder with a summary of what was measured (:mod:`.summary`, :mod:`.archive`).
A maintainer unpacks it with ``blockgemm contribute --unpack``, which checks the archive,
validates it in the tree and refuses it whole if anything is wrong.

An entry point: it may import the tuner, the bench and the site (``.ci/check_imports.py``).
"""
