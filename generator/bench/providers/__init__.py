"""Every benchmark provider, by family (one module each), in the catalog's display order.

* :mod:`~generator.bench.providers.library`: cuBLAS / cuBLASLt through torch (the bf16
  baseline, FP8 tensor-, channel- and block-wise, INT8 channel-wise);
* :mod:`~generator.bench.providers.engine`: the Triton block kernel vLLM and SGLang run, with
  its default config and with the catalog's tuned files;
* :mod:`~generator.bench.providers.engine_default`: what the engines run by default where it is
  not the Triton kernel (DeepGEMM as vLLM runs it and kernel-only; FlashInfer's swap-AB kernel,
  recorded unsupported with what stands in);
* :mod:`~generator.bench.providers.ours`: kernels of this project no engine runs;
* :mod:`~generator.bench.providers.batched`: the batched MLA shapes.

:data:`PROVIDERS` lists them; :mod:`generator.bench.registry` builds the registry from it.
"""

from __future__ import annotations

from generator.bench.provider import Provider
from generator.bench.providers import batched, engine, engine_default, library, ours

PROVIDERS: list[Provider] = [
    *library.PROVIDERS,
    *engine.PROVIDERS,
    *engine_default.PROVIDERS,
    *ours.PROVIDERS,
    *batched.PROVIDERS,
]
