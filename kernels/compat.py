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

It is also the one place that knows what a *device* offers the kernels (:class:`GpuInfo`,
:func:`kernel_problem`): the warp-specialized Gluon kernel is written for Hopper (WGMMA, TMA,
``setmaxnreg``) and runs on sm_90 only, not on sm_100 / sm_120 and not on AMD GPUs (whose
ROCm torch answers ``get_device_capability`` with gfx numbers, (9, 4) on MI300, that must not
pass for Hopper); the persistent kernel is built on TMA descriptors, which NVIDIA GPUs have
from sm_90 (sm_120 included) and which Triton rewrites into plain pointer loads elsewhere
(triton 3.6 ``CUDABackend.make_ttir`` below sm_90, ``HIPBackend.make_ttir`` always), so on Ada
and on AMD it would be another kernel than the one measured and is reported unsupported; FP8
tensor cores start at sm_89 (``CUDABackend.parse_options``: e4m3fn dots from capability 8.9).
Everything else (the drop-in kernel, split-K, fused decode, the batched A16W8 kernels, INT8)
is plain Triton and runs on every one of them.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
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


# float32 values every 8-bit format the kernels use (e4m3fn, e4m3fnuz, int8) holds exactly:
# powers of two from 0.5 to 64 and values using all three e4m3 mantissa bits, so a format read
# with the other's exponent bias (twice or half the value) shows. Values that need rounding are
# left out on purpose: the interpreters' fp32 -> e4m3 casts drop the mantissa's carry into the
# exponent (127 -> 64), which the kernels work around by rounding in fp32 first
# (kernels.quant._round_to_e4m3_grid); the probe asks whether the format itself is there.
_PROBE_VALUES = (1.0, -2.0, 3.0, 7.0, 13.0, 26.0, 52.0, 60.0, 64.0, -96.0, 104.0, 0.5, 4.0, -8.0)


@functools.cache
def interpreter_dtype_problem(dtype: Any) -> str | None:
    """Why Triton's CPU interpreter cannot run a kernel on ``dtype`` tensors, or None.

    Probed, not assumed: a small kernel casts float32 values the format holds exactly to
    ``dtype`` and the result must equal torch's cast. Running without an error is not enough:
    an interpreter that takes a format it does not implement may convert with the wrong
    exponent bias. The known case: triton 3.6's interpreter has no ``float8_e4m3fnuz``
    (MI300's FP8; "fail to convert fp8e4b8 to ir type"), so the fnuz paths of the kernels are
    tested on an AMD GPU only, and in the CPU tests through their plain-torch twins. The answer
    is kept for the process, so every kernel and test in it agrees. Call only under
    ``TRITON_INTERPRET=1``."""
    import torch

    name = str(dtype).removeprefix("torch.")
    prefix = f"triton {TRITON_VERSION}'s CPU interpreter cannot run kernels on {name}"
    src = torch.tensor(_PROBE_VALUES, dtype=torch.float32)
    try:
        want = src.to(dtype)
        got = torch.empty_like(want)
        _cast_probe()[(1,)](src, got, N=len(_PROBE_VALUES), BLOCK=16)
    except Exception as exc:  # the interpreter's own error, reported as one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{prefix} ({detail})"
    return cast_mismatch(src, got.float(), want.float(), prefix)


def cast_mismatch(src: Any, got: Any, want: Any, prefix: str) -> str | None:
    """The first value a probed cast got wrong, as one line (None when all agree)."""
    for x, g, w in zip(src.tolist(), got.tolist(), want.tolist(), strict=True):
        if g != w:
            return f"{prefix} (its cast of {x} gives {g}, not {w})"
    return None


@functools.cache
def _cast_probe() -> Any:
    """The probe kernel, defined once: dst[i] = src[i] cast to dst's element type."""
    import triton.language as tl

    @triton.jit
    def cast(src, dst, N, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        mask = offs < N
        x = tl.load(src + offs, mask=mask)
        tl.store(dst + offs, x.to(dst.dtype.element_ty), mask=mask)

    return cast


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


# --- what a device offers the kernels ------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    """What the kernels need to know about a device: NVIDIA (compute capability), AMD (GCN
    architecture), or the CPU interpreter."""

    vendor: str  # "nvidia" | "amd" | "cpu"
    capability: tuple[int, int] | None = None  # NVIDIA only
    arch: str | None = None  # AMD only, e.g. "gfx942"

    @property
    def label(self) -> str:
        if self.vendor == "nvidia" and self.capability:
            return f"sm_{self.capability[0]}{self.capability[1]}"
        if self.vendor == "amd":
            return self.arch or "an AMD GPU"
        return "the CPU interpreter"


def gpu_info(device: Any = None) -> GpuInfo:
    """The :class:`GpuInfo` of a torch device (the current CUDA/HIP device when None)."""
    import torch

    from kernels.platform import gcn_arch, is_rocm

    dev = torch.device(device) if device is not None else None
    if (dev is not None and dev.type != "cuda") or not torch.cuda.is_available():
        return GpuInfo("cpu")
    index = dev.index if dev is not None and dev.index is not None else torch.cuda.current_device()
    if is_rocm():
        return GpuInfo("amd", arch=gcn_arch(index))
    return GpuInfo("nvidia", capability=tuple(torch.cuda.get_device_capability(index)))


HOPPER_ONLY = "needs a Hopper (sm_90) GPU"


def hopper_problem(gpu: GpuInfo) -> str | None:
    """Why a kernel written for Hopper (WGMMA, TMA, setmaxnreg: the Gluon kernel) cannot run on
    ``gpu``, or None: NVIDIA sm_90 only."""
    if gpu.vendor == "nvidia" and gpu.capability and gpu.capability[0] == 9:
        return None
    return HOPPER_ONLY


def tma_problem(gpu: GpuInfo) -> str | None:
    """Why a kernel built on TMA tensor descriptors (the persistent kernel) is not itself on
    ``gpu``, or None: NVIDIA sm_90 and newer have TMA; the CPU interpreter emulates the
    descriptors (what the CPU tests run); elsewhere Triton turns them into pointer loads."""
    if gpu.vendor == "cpu":
        return None
    if gpu.vendor == "nvidia" and gpu.capability and gpu.capability >= (9, 0):
        return None
    return (
        f"needs TMA (an NVIDIA GPU of sm_90 or newer); on {gpu.label} Triton rewrites its tensor "
        "descriptors into pointer loads, another kernel than the one this measures"
    )


# GCN architecture prefixes vLLM counts as FP8-capable: vLLM 0.33.0 RocmPlatform.supports_fp8 is
# on_cdna() ("gfx9" or "gfx1250" in the arch) or on_rdna() (gfx11, gfx12); Triton's AMD backend
# takes every fp8 dot type there, emulated where the GPU has none (HIPOptions.supported_fp8_dtypes).
# generator/data/reference/platforms.json records it; a test keeps the two equal.
AMD_FP8_ARCH_PREFIXES = ("gfx9", "gfx11", "gfx12")


def fp8_problem(gpu: GpuInfo) -> str | None:
    """Why FP8 GEMMs cannot run on ``gpu``, or None: NVIDIA from sm_89 (Triton's e4m3fn dots),
    AMD where vLLM runs FP8 (:data:`AMD_FP8_ARCH_PREFIXES`: CDNA gfx9xx, RDNA gfx11xx / gfx12xx;
    natively on gfx942 / gfx950 / gfx12, emulated by Triton on the older ones)."""
    if gpu.vendor == "nvidia" and gpu.capability and gpu.capability < (8, 9):
        return f"FP8 needs an sm_89 or newer GPU; this is {gpu.label}"
    if gpu.vendor == "amd" and not (gpu.arch or "").startswith(AMD_FP8_ARCH_PREFIXES):
        return f"FP8 needs a CDNA (gfx9xx) or RDNA3/4 (gfx11xx, gfx12xx) GPU; this is {gpu.label}"
    return None


# kernel -> the checks it must pass besides FP8 (every kernel here runs wherever Triton runs,
# except these two)
_KERNEL_CHECKS = {
    "w8a8_block_gluon": (hopper_problem,),
    "w8a8_block_persistent": (tma_problem,),
}


def kernel_problem(kernel: str, gpu: GpuInfo, fp8: bool = True) -> str | None:
    """Why ``kernel`` cannot run (as itself) on ``gpu``, or None; ``fp8``: on FP8 operands."""
    for check in _KERNEL_CHECKS.get(kernel, ()):
        problem = check(gpu)
        if problem:
            return problem if problem != HOPPER_ONLY else f"{HOPPER_ONLY}; this is {gpu.label}"
    return fp8_problem(gpu) if fp8 else None
