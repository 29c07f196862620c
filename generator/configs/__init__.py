"""Config keys, a search space per kernel (its own pruning rules), and the file formats vLLM
and SGLang load (engine_files). Torch-free: read by the tuner, the bench and the site."""
