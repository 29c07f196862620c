"""Benchmark providers: one registry of "ways to compute this GEMM", as tritonbench does it.

Why a registry: every sweep must run every provider on the same inputs and treat them alike
(same timing, same accuracy check, same roofline). A provider declares, in one place, what it
is (:class:`~generator.data.records.ProviderInfo`: label, scheme, origin, which engines' users
can install it, what is timed, whether it is a baseline, its chart style), what it needs (a
CUDA GPU, ``torch._scaled_mm``, Hopper), which compute ceiling bounds its roofline, how many
bytes it must move, how to build its inputs and its fp32 reference. The benchmark only loops
over the registry and stores each provider's info in the bench file, so the catalog reads
metadata and never parses a name; there is no ``if provider == ...`` anywhere.

What is timed: ``setup`` does everything a serving engine does once per weight (quantize,
transpose, pad scales, sum columns) *outside* the timed region and returns one zero-argument
callable per rotated input set; only those callables are timed.

The registry is built explicitly from each family module's ``PROVIDERS`` list
(:mod:`generator.bench.providers`); :func:`register` / :func:`unregister` exist for tests that
add deliberately broken providers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from generator.data.records import ProviderInfo
from generator.errors import UserError
from kernels.a16w8_batched import a16w8_batched_flops

if TYPE_CHECKING:
    from generator.bench.context import BenchContext


class Kind(str, enum.Enum):
    """The problem family a provider computes: one (M, K) x (N, K)^T GEMM or B of them."""

    GEMM = "gemm"
    BATCHED = "batched"


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


class Unsupported(Exception):
    """Raised by ``setup`` when a provider cannot run a problem (status "unsupported")."""


@dataclass(frozen=True)
class Problem:
    """One measured point. ``B`` > 1 only for batched problems."""

    M: int
    N: int
    K: int
    B: int = 1
    kind: Kind = Kind.GEMM

    @property
    def flops(self) -> int:
        return a16w8_batched_flops(self.B, self.M, self.N, self.K)


@dataclass
class Prepared:
    """What ``setup`` returns: one zero-argument callable per rotated input set (the first one's
    output is the one checked for accuracy) and the kernel config, if the provider has one."""

    calls: list[Callable[[], torch.Tensor]]
    config: dict[str, int] | None = None


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

    def unmet(self, ctx: BenchContext) -> str | None:
        """Why this provider cannot run in ``ctx`` (one line), or None."""
        from generator.bench.requirements import REQUIREMENT_CHECKS

        for req in self.requires:
            message = REQUIREMENT_CHECKS[req](ctx)
            if message:
                return message
        return None


_REGISTRY: dict[str, Provider] = {}
_LOADED = False


def ensure_loaded(providers: Iterable[Provider] | None = None) -> None:
    """Register the project's providers once, before the first lookup (the list lives in
    :mod:`generator.bench.providers`; importing it here would be a cycle)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    if providers is None:
        from generator.bench.providers import PROVIDERS as providers
    for p in providers:
        register(p)


def register(p: Provider) -> Provider:
    """Add a provider; a second provider with the same name is an error, never an overwrite."""
    if not _LOADED:
        ensure_loaded()
    if p.name in _REGISTRY:
        raise ValueError(f"provider '{p.name}' is already registered")
    _REGISTRY[p.name] = p
    return p


def unregister(name: str) -> None:
    """Remove a provider (tests register deliberately broken ones and clean up after)."""
    _REGISTRY.pop(name, None)


def all_providers(kind: Kind | None = None) -> list[Provider]:
    """Registered providers in registration order, optionally of one kind."""
    ensure_loaded()
    return [p for p in _REGISTRY.values() if kind is None or p.kind == kind]


def get(name: str) -> Provider:
    return select([name])[0]


def select(names: Iterable[str] | None) -> list[Provider]:
    """Providers by name (comma-separated entries allowed), in registry order; None = all.

    Unknown names raise a one-line :class:`UserError` listing the known ones.
    """
    ensure_loaded()
    if names is None:
        return all_providers()
    wanted = [n.strip() for entry in names for n in entry.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in _REGISTRY]
    if unknown:
        raise UserError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(_REGISTRY)}")
    if not wanted:
        raise UserError(f"no provider named; known: {', '.join(_REGISTRY)}")
    return [p for p in _REGISTRY.values() if p.name in wanted]
