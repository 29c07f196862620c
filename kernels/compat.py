"""The one place that knows which Triton this is and what it offers.

Supported: triton >= 3.6.0 and < 3.10 (:data:`SUPPORTED_TRITON`). 3.6.0 is what the lent GPU
machines run and what every committed measurement used; 3.9 is the newest release, the one
new engine versions bring. CI runs the CPU suite at both ends.

What moved inside that range, and how each kernel copes, is decided here by *probing* for the
API a kernel needs, never by comparing version strings:

* Gluon's Hopper TMA copies were renamed (3.6: ``tma.async_copy_global_to_shared`` /
  ``async_copy_shared_to_global``; 3.9: ``tma.async_load`` / ``async_store``, the old names
  raising). :data:`tma_async_load` / :data:`tma_async_store` are whichever exists; a Gluon kernel
  calls them like the builtins they are.
* The offline sm_90 build (:mod:`kernels.sm90_build`) uses three private entry points
  (``GluonASTSource``, ``native_specialize_impl``, the CUDA backend's option parser).
  :func:`offline_build_problem` says in one line which one is missing.
* :func:`allocator_is_set` reads Triton's private allocator slot to avoid replacing a user's
  allocator; where that slot moved it answers ``None`` (unknown).

A kernel that cannot run on the installed Triton reports why through :func:`gluon_problem`
(providers turn that into ``unsupported``, tests into a skip), never with a traceback.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import triton

SUPPORTED_TRITON = (">=3.6.0", "<3.10")
TRITON_VERSION = triton.__version__


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def triton_in_supported_range(version: str = TRITON_VERSION) -> bool:
    """Whether ``version`` lies in :data:`SUPPORTED_TRITON` (for install messages; kernels
    never branch on this, they probe)."""
    return (3, 6, 0) <= _version_tuple(version) < (3, 10)


def _attr(module: str, *names: str) -> Any | None:
    """The first of ``names`` that ``module`` defines, or None (module missing included)."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        obj = getattr(mod, name, None)
        # A name kept only to raise "has been removed" is a Triton builtin too; the new name
        # is listed first, so it wins wherever both exist.
        if obj is not None:
            return obj
    return None


_HOPPER_TMA = "triton.experimental.gluon.language.nvidia.hopper.tma"
tma_async_load = _attr(_HOPPER_TMA, "async_load", "async_copy_global_to_shared")
tma_async_store = _attr(_HOPPER_TMA, "async_store", "async_copy_shared_to_global")


@functools.cache
def gluon_problem() -> str | None:
    """Why the Gluon Hopper kernels cannot be built with this Triton, or None."""
    needed = {
        "gluon.jit": _attr("triton.experimental.gluon", "jit"),
        "gluon warp_specialize": _attr("triton.experimental.gluon.language", "warp_specialize"),
        "Hopper TMA load": tma_async_load,
        "Hopper TMA store": tma_async_store,
        "Hopper warpgroup_mma": _attr(
            "triton.experimental.gluon.language.nvidia.hopper", "warpgroup_mma"
        ),
        "Hopper TensorDescriptor": _attr(
            "triton.experimental.gluon.nvidia.hopper", "TensorDescriptor"
        ),
    }
    missing = [name for name, obj in needed.items() if obj is None]
    if missing:
        return f"triton {TRITON_VERSION} lacks Gluon's {', '.join(missing)}"
    return None


@functools.cache
def offline_build_problem() -> str | None:
    """Why a Gluon kernel cannot be compiled for sm_90 without a GPU here, or None."""
    problem = gluon_problem()
    if problem:
        return problem
    needed = {
        "GluonASTSource": _attr("triton.experimental.gluon._runtime", "GluonASTSource"),
        "native_specialize_impl": _attr("triton._C.libtriton", "native_specialize_impl"),
        "CUDABackend": _attr("triton.backends.nvidia.compiler", "CUDABackend"),
        "GPUTarget": _attr("triton.backends.compiler", "GPUTarget"),
    }
    missing = [name for name, obj in needed.items() if obj is None]
    if missing:
        return f"triton {TRITON_VERSION} lacks the offline build's {', '.join(missing)}"
    return None


def allocator_is_set() -> bool | None:
    """Whether a Triton allocator (for device-side TMA descriptors' scratch) is installed;
    None when this Triton keeps it somewhere we cannot read."""
    module = "triton.runtime._allocation"
    slot, null = _attr(module, "_allocator"), _attr(module, "NullAllocator")
    if slot is None or null is None or not hasattr(slot, "get"):
        return None
    return not isinstance(slot.get(), null)


def is_interpreted(fn: Any) -> bool:
    """Whether a ``@triton.jit`` function was decorated for the CPU interpreter (Triton reads
    ``TRITON_INTERPRET`` when a kernel is defined, not when it is launched)."""
    cls = _attr("triton.runtime.interpreter", "InterpretedFunction")
    return cls is not None and isinstance(fn, cls)


def interpreter_problem(numpy_version: str | None = None) -> str | None:
    """A known breakage of Triton's CPU interpreter (what the CPU tests run on), or None.

    The one known: triton 3.6's interpreter fails inside kernels with numpy >= 2.4
    ("only 0-dimensional arrays can be converted to Python scalars"); 3.9 runs with 2.4.
    This cannot be probed cheaply (it fails deep inside some kernels only), so it is the one
    version comparison the project keeps, here.
    """
    if numpy_version is None:
        import numpy

        numpy_version = numpy.__version__
    if _version_tuple(TRITON_VERSION)[:2] == (3, 6) and _version_tuple(numpy_version) >= (2, 4):
        return (
            f"triton {TRITON_VERSION}'s CPU interpreter needs numpy < 2.4 (found "
            f"{numpy_version}); `make install` pins a working set"
        )
    return None
