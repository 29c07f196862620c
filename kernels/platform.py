"""Which GPU platform this is, and the FP8 format the engines quantize to on it: the one place.

Why: quantization used to assume ``float8_e4m3fn`` (largest value 448) everywhere. On AMD
Instinct MI300-class GPUs (gfx942, CDNA3) vLLM quantizes to ``float8_e4m3fnuz`` instead, and to
a largest value of 224, not the dtype's 240: vLLM 0.33.0 (its wheel) ``vllm/platforms/rocm.py``
``RocmPlatform.is_fp8_fnuz`` ("gfx94" in the GCN arch) / ``fp8_dtype``, and
``vllm/model_executor/layers/quantization/utils/quant_utils.py`` ``get_fp8_min_max`` ("Using
the default value (240.0) from pytorch will cause accuracy issue on dynamic quantization models
on ROCm. Here, use 224.0 for fnuz"). Checkpoints ship e4m3fn weights; on fnuz vLLM reinterprets
their bits as fnuz (half the value) and doubles the scales (``normalize_e4m3fn_to_e4m3fnuz``),
so weights too stay within 224. MI350-class GPUs (gfx950, CDNA4) use the OCP ``e4m3fn``.
Triton 3.6 agrees (``triton/backends/amd/compiler.py`` ``HIPOptions``: the fnuz variant is
native on CDNA3, e4m3fn native since CDNA4). The recorded facts with their sources:
``generator/data/reference/platforms.json`` (a test keeps this module equal to it).

The GEMM kernels are dtype-generic; what follows the format is the quantization's largest value
(:func:`fp8_format`), the dtype quantized to by default (:data:`PLATFORM_FP8`), and therefore
the references (they dequantize whatever was quantized). The error bounds do not depend on it:
they compare the output with the fp32 product of the dequantized operands.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Fp8Format:
    """An FP8 element type and the largest magnitude quantization maps a group's amax to."""

    name: str  # torch's name of the dtype
    dtype: torch.dtype
    qmax: float  # what the engines quantize to (vLLM: 224 for fnuz, not the dtype's 240)
    finite_max: float  # the dtype's largest finite value (torch.finfo)


E4M3FN = Fp8Format("float8_e4m3fn", torch.float8_e4m3fn, 448.0, 448.0)
E4M3FNUZ = Fp8Format("float8_e4m3fnuz", torch.float8_e4m3fnuz, 224.0, 240.0)
FP8_FORMATS: tuple[Fp8Format, ...] = (E4M3FN, E4M3FNUZ)
FP8_DTYPES: tuple[torch.dtype, ...] = tuple(f.dtype for f in FP8_FORMATS)

# GCN architectures whose FP8 is the fnuz variant (vLLM's RocmPlatform.is_fp8_fnuz: "gfx94").
FNUZ_ARCH_PREFIXES = ("gfx94",)


def fp8_format(dtype: torch.dtype) -> Fp8Format:
    """The format of an FP8 dtype (ValueError for anything else)."""
    for fmt in FP8_FORMATS:
        if fmt.dtype == dtype:
            return fmt
    names = ", ".join(f.name for f in FP8_FORMATS)
    raise ValueError(f"dtype: {dtype} is not an FP8 format the kernels know ({names})")


def fp8_format_for_arch(gcn_arch: str | None) -> Fp8Format:
    """The FP8 format the engines use on a GPU: fnuz on gfx94x (MI300X / MI300A / MI308X /
    MI325X), e4m3fn on every other AMD GPU (gfx950: MI350X / MI355X) and on NVIDIA (None)."""
    if gcn_arch and gcn_arch.startswith(FNUZ_ARCH_PREFIXES):
        return E4M3FNUZ
    return E4M3FN


def is_rocm() -> bool:
    """Whether this torch is a ROCm (HIP) build: then ``torch.cuda`` drives AMD GPUs, and
    ``get_device_capability`` answers gfx numbers (9, 4 for gfx942) that look like Hopper's."""
    return getattr(torch.version, "hip", None) is not None


def gcn_arch(index: int = 0) -> str | None:
    """The GCN architecture of AMD GPU ``index`` (e.g. ``gfx942``, without the
    ``:sramecc+:xnack-`` feature suffix); None on a CUDA build or without a GPU."""
    if not is_rocm() or not torch.cuda.is_available():
        return None
    name = getattr(torch.cuda.get_device_properties(index), "gcnArchName", "") or ""
    return name.split(":")[0] or None


@functools.cache
def platform_fp8() -> Fp8Format:
    """The FP8 format of this machine's GPU 0 (e4m3fn without a GPU: CPU runs, CUDA)."""
    return fp8_format_for_arch(gcn_arch(0))


PLATFORM_FP8 = platform_fp8()
