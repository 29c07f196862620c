"""Every benchmark provider, by family (one module each), in the catalog's display order.

* :mod:`~generator.bench.providers.library`: cuBLAS / cuBLASLt through torch (the bf16
  baseline, FP8 tensor-, channel- and block-wise, INT8 channel-wise);
* :mod:`~generator.bench.providers.engine`: the Triton block kernel vLLM and SGLang run, with
  its default config and with the catalog's tuned files;
* :mod:`~generator.bench.providers.ours`: kernels of this project no engine runs;
* :mod:`~generator.bench.providers.batched`: the batched MLA shapes.

:data:`PROVIDERS` lists them; :mod:`generator.bench.registry` builds the registry from it.
"""

from __future__ import annotations

from generator.bench.provider import Provider
from generator.bench.providers import batched, engine, library, ours

PROVIDERS: list[Provider] = [
    *library.PROVIDERS,
    *engine.PROVIDERS,
    *ours.PROVIDERS,
    *batched.PROVIDERS,
]
