"""What a provider needs to run here, each checked in one line ("needs a CUDA GPU", "torch X
has no torch._scaled_mm", "triton X lacks Gluon's ..."), which the sweep records as the row's
"unsupported" message instead of raising."""

from __future__ import annotations

from collections.abc import Callable

import torch

from generator.bench import deep_gemm_lib
from generator.bench.context import BenchContext
from generator.bench.provider import Provider, Requirement
from kernels.compat import gluon_problem, gpu_info, hopper_problem, tma_problem
from kernels.platform import is_rocm
from kernels.validation import interpreting


def _capability(ctx: BenchContext) -> tuple[int, int]:
    return torch.cuda.get_device_capability(ctx.device) if ctx.on_cuda else (0, 0)


def _need_scaled_mm(ctx: BenchContext) -> str | None:
    if not ctx.on_cuda:
        return "needs a CUDA GPU (torch._scaled_mm is a cuBLASLt call)"
    if not hasattr(torch, "_scaled_mm"):
        return f"torch {torch.__version__} has no torch._scaled_mm"
    if _capability(ctx) < (8, 9):
        return "needs an FP8 GPU (compute capability 8.9 or newer)"
    return None


def _need_scaled_mm_v2(ctx: BenchContext) -> str | None:
    base = _need_scaled_mm(ctx)
    if base:
        return base
    fn = torch.nn.functional
    if not (hasattr(fn, "scaled_mm") and hasattr(fn, "ScalingType")):
        return f"torch {torch.__version__} has no torch.nn.functional.scaled_mm"
    return None


def _need_triton(ctx: BenchContext) -> str | None:
    """On a CPU the kernels must have been decorated in interpreter mode: Triton reads
    TRITON_INTERPRET when a kernel is defined, not when it is launched."""
    if ctx.on_cuda:
        return None
    from kernels.compat import is_interpreted
    from kernels.tiling import grouped_tile_ids

    if interpreting() and is_interpreted(grouped_tile_ids):
        return None
    return "needs a CUDA GPU, or TRITON_INTERPRET=1 set before the kernels are imported"


def _need_deep_gemm(ctx: BenchContext) -> str | None:
    """DeepGEMM's FP8 GEMM has kernels for sm_90 and the sm_100 family only (its
    ``fp8_fp4_gemm_nt`` dispatches on arch 9 or 10), and nothing to run on a CPU."""
    if not ctx.on_cuda:
        return "needs an NVIDIA Hopper (sm_90) or Blackwell (sm_100) GPU (DeepGEMM has no CPU path)"
    if is_rocm():  # ROCm torch answers get_device_capability with gfx numbers: (9, 4) on MI300
        return "needs an NVIDIA sm_90 or sm_100 GPU (DeepGEMM's FP8 GEMM), this is an AMD GPU"
    major, minor = _capability(ctx)
    if major not in (9, 10):
        return f"needs an sm_90 or sm_100 GPU (DeepGEMM's FP8 GEMM), this one is sm_{major}{minor}"
    return deep_gemm_lib.problem()


def _need_hopper(ctx: BenchContext) -> str | None:
    """sm_90 itself: not sm_100 / sm_120, not an AMD GPU (whose torch reports gfx942 as
    capability 9.4), not the CPU interpreter (Gluon has none)."""
    gpu = gpu_info(ctx.device)
    if hopper_problem(gpu) is None:
        return None
    return f"needs a Hopper (sm_90) GPU (Gluon kernel; no CPU interpreter); this is {gpu.label}"


REQUIREMENT_CHECKS: dict[Requirement, Callable[[BenchContext], str | None]] = {
    Requirement.CUDA: lambda ctx: None if ctx.on_cuda else "needs a CUDA GPU (library kernel)",
    Requirement.TRITON: _need_triton,
    Requirement.SCALED_MM: _need_scaled_mm,
    Requirement.SCALED_MM_V2: _need_scaled_mm_v2,
    Requirement.INT_MM: lambda ctx: (
        None if ctx.on_cuda and hasattr(torch, "_int_mm") else "needs torch._int_mm on CUDA"
    ),
    Requirement.HOPPER: lambda ctx: gluon_problem() or _need_hopper(ctx),
    Requirement.TMA: lambda ctx: _need_triton(ctx) or tma_problem(gpu_info(ctx.device)),
    Requirement.DEEP_GEMM: _need_deep_gemm,
}


def unmet(provider: Provider, ctx: BenchContext) -> str | None:
    """Why ``provider`` cannot run in ``ctx`` (one line), or None."""
    for req in provider.requires:
        message = REQUIREMENT_CHECKS[req](ctx)
        if message:
            return message
    return None
