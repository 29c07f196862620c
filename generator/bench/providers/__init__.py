"""Every benchmark provider, by family (one module each), in the catalog's display order.

* :mod:`~generator.bench.providers.library`: cuBLAS / cuBLASLt through torch (the bf16
  baseline, FP8 tensor-, channel- and block-wise, INT8 channel-wise);
* :mod:`~generator.bench.providers.engine`: the Triton block kernel vLLM and SGLang run, with
  its default config and with the catalog's tuned files;
* :mod:`~generator.bench.providers.ours`: kernels of this project no engine runs;
* :mod:`~generator.bench.providers.batched`: the batched MLA shapes.

:data:`PROVIDERS` lists them; :func:`generator.bench.registry.select` and friends read the
registry, which :func:`load` fills from this list (explicitly, once).
"""

from __future__ import annotations

from generator.bench import registry
from generator.bench.context import BenchContext
from generator.bench.providers import batched, engine, library, ours
from generator.bench.registry import (
    Compute,
    Kind,
    Prepared,
    Problem,
    Provider,
    Requirement,
    Unsupported,
    all_providers,
    get,
    register,
    select,
    unregister,
)

PROVIDERS: list[Provider] = [
    *library.PROVIDERS,
    *engine.PROVIDERS,
    *ours.PROVIDERS,
    *batched.PROVIDERS,
]

__all__ = [
    "PROVIDERS",
    "BenchContext",
    "Compute",
    "Kind",
    "Prepared",
    "Problem",
    "Provider",
    "Requirement",
    "Unsupported",
    "all_providers",
    "get",
    "load",
    "register",
    "select",
    "unregister",
]


def load() -> None:
    """Fill the registry with :data:`PROVIDERS` (idempotent)."""
    registry.ensure_loaded(PROVIDERS)
