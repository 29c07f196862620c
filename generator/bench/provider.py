"""What a benchmark provider is: the value types every provider family and the sweep share.

A provider declares, in one place, what it is (:class:`~generator.data.records.ProviderInfo`:
label, scheme, origin, which engines' users can install it, what is timed, whether it is a
baseline, its chart style), what it needs (a CUDA GPU, ``torch._scaled_mm``, Hopper), which
compute ceiling bounds its roofline, how many bytes it must move, how to build its inputs and
its fp32 reference. The benchmark treats every provider alike (same timing, same accuracy
check, same roofline) and stores each provider's info in the bench file, so the catalog reads
metadata and never parses a name.

What is timed: ``setup`` does everything a serving engine does once per weight (quantize,
transpose, pad scales, sum columns) *outside* the timed region and returns one zero-argument
callable per rotated input set; only those callables are timed.

No behaviour lives here (no registry, no environment checks): these types sit above the problem
and the per-run context, and below the requirement checks and the provider families.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Kind, Problem
from generator.data.records import ProviderInfo


class Compute(str, enum.Enum):
    """Which measured compute ceiling (``records.Ceilings``) bounds the provider's roofline."""

    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"


class Requirement(str, enum.Enum):
    CUDA = "cuda"  # a library kernel (cuBLAS / cuBLASLt): CUDA only
    TRITON = "triton"  # our Triton kernels: a CUDA GPU, or the CPU interpreter
    SCALED_MM = "scaled_mm"  # torch._scaled_mm on an FP8 GPU (sm89+)
    SCALED_MM_V2 = "scaled_mm_v2"  # torch.nn.functional.scaled_mm with ScalingType (newer torch)
    INT_MM = "int_mm"  # torch._int_mm on CUDA
    HOPPER = "hopper"  # a Gluon kernel written for sm_90 (WGMMA, TMA, setmaxnreg)
    DEEP_GEMM = "deep_gemm"  # DeepGEMM: an importable deep_gemm and an sm_90 / sm_100 GPU
    TMA = "tma"  # a Triton kernel built on TMA descriptors: NVIDIA sm_90+ (or the interpreter)


class Unsupported(Exception):
    """Raised by ``setup`` when a provider cannot run a problem (status "unsupported")."""


@dataclass
class Prepared:
    """What ``setup`` returns: one zero-argument callable per rotated input set (the first one's
    output is the one checked for accuracy), the kernel config, if the provider has one, and
    the identity of its work."""

    calls: list[Callable[[], torch.Tensor]]
    config: dict[str, int] | None = None
    # What the calls compute, as a value: two providers with equal ``work`` at a point run the
    # identical kernel and config on the same operands, so the sweep times them once and
    # records the one timing for both (e.g. the tuned file's entry is SGLang's default). None:
    # work no other provider does.
    work: tuple | None = None


@dataclass(frozen=True)
class Provider:
    """A registered way to compute a problem; see the module doc for the contract."""

    info: ProviderInfo
    compute: Compute
    setup: Callable[[Problem, BenchContext], Prepared]
    reference: Callable[[Problem, BenchContext], torch.Tensor]
    bytes_moved: Callable[[Problem, torch.dtype], int]
    requires: tuple[Requirement, ...] = ()
    library: bool = False  # a library call: errors it raises mean "refused" (unsupported)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> Kind:
        return Kind(self.info.kind)

    @property
    def description(self) -> str:
        return self.info.description

    @property
    def is_baseline(self) -> bool:
        return self.info.baseline

    @property
    def quant_in_timed_region(self) -> bool:
        return self.info.quant_timed

    def flops(self, problem: Problem) -> int:
        return problem.flops
