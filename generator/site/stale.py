"""Bench rows of our tuned files that timed an earlier file than the one installed now.

Why: a re-tune rewrites a config file, but the bench rows of the tuned provider stay until the
sweep is run again. Such a row times a config the catalog no longer installs, so a page that
showed it would publish, as what our files do, the speed of a file nobody can download (the
H200 square sweep showed a tuned row of 2026-11-21 against a file re-tuned on 2026-11-29). The
catalog drops these rows where it loads them, and the pages say how many it dropped; the model
pages then compare, at those points, with the tuner's own timings of the current file
(``gains.gains``).

Which record a row stands for: the engines load a file's entry for the batch size nearest M
(``engine_files.nearest_batch``) among the records with a winner (those the files hold), so a
row of M is stale when it was measured before that record was tuned. A record is dated by its
own provenance; records without one (before 2026-11-29) are dated by their file's only where no
record of the file has its own (the file is then one run's): a file's provenance is its last
writer's, and would date an old record to a later partial re-tune.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from generator.configs.engine_files import nearest_batch
from generator.data.records import BenchRow, TuneFile
from generator.site import providers

# the kernel whose files the engines load (the drop-in configs); its records back the rows
DROP_IN_KERNEL = "w8a8_block"


def _tuned_at(tf: TuneFile, m: int) -> datetime | None:
    """When the entry the engines load at batch size ``m`` was tuned; None: no entry, or one
    that cannot be dated."""
    held = {r.M: r for r in tf.records if r.winner and r.winner.config}
    if not held:
        return None
    rec = held[nearest_batch(list(held), m)]
    if rec.provenance is not None:
        return rec.provenance.date
    if any(r.provenance is not None for r in tf.records):
        return None
    return tf.provenance.date


def stale_rows(
    rows: Iterable[BenchRow], tunes: Iterable[TuneFile], out_dtype: str
) -> list[BenchRow]:
    """The rows (of one bench file, whose GEMMs wrote ``out_dtype``) of an installable provider
    measured before the record of their point in the tuning file that stands for it now (same
    dtype, shape and output dtype; not exhaustive)."""
    files = {
        (t.input_type, t.out_dtype, t.N, t.K): t
        for t in tunes
        if t.kernel == DROP_IN_KERNEL and t.B == 1 and not t.exhaustive
    }
    out = []
    for row in rows:
        dtype = providers.file_dtype(row.provider)
        tf = files.get((dtype, out_dtype, row.N, row.K)) if dtype else None
        if tf is None or row.provenance is None:
            continue
        tuned_at = _tuned_at(tf, row.M)
        if tuned_at is not None and row.provenance.date < tuned_at:
            out.append(row)
    return out
