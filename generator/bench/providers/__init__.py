"""Benchmark providers: one registry of "ways to compute this GEMM", as tritonbench does it.

Why a registry: every sweep must run every provider on the same inputs and treat them alike
(same timing, same accuracy check, same roofline). A provider declares, in one place, its
name, what it needs (a CUDA GPU, ``torch._scaled_mm``, a tuned config), which compute ceiling
its roofline uses, how many bytes it must move, how to build its inputs and its fp32
reference. The benchmark (``generator.bench.sweeps``) only loops over the registry; there is no
``if provider == ...`` anywhere, and a new kernel is one more ``@provider`` function here.

What is timed: ``setup`` does everything a serving engine does once per weight (quantize,
transpose, pad scales, sum columns) *outside* the timed region and returns one zero-argument
callable per rotated input set; only those callables are timed. Providers whose name has no
``-noquant`` suffix quantize the bf16 activations *inside* the callable, as a real layer
must; ``-noquant`` variants start from already quantized activations (vLLM's naming).

Inputs: every provider derives its operands from the same fp32 source tensors of the problem
(``BenchContext.x`` / ``.w`` / ``.bias``), memoized per problem (activations) and per weight
shape (weights), so providers are compared on the very same numbers and a weight is quantized
once for all batch sizes. The reference of a provider is the fp32 product of *its own*
dequantized operands (``kernels.reference``), so the error column measures the kernel, not the
quantization scheme.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from generator.errors import UserError
from kernels.a16w8_batched import a16w8_batched_flops, default_a16w8_config
from kernels.compat import gluon_problem
from kernels.int8_azp import (
    int8_azp_bytes,
    int8_azp_matmul,
    int8_azp_reference,
    per_token_quant_int8_azp,
    quantize_weight_per_channel_int8,
    weight_colsum,
)
from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.reference import a16w8_batched_reference, dense_reference, w8a8_block_reference
from kernels.tiling import default_w8a8_config, pick_config
from kernels.validation import FP8_DTYPE, interpreting
from kernels.w8a8_block import w8a8_block_bytes, w8a8_block_matmul
from kernels.w8a8_block_gluon import (
    default_gluon_config,
    gluon_supported,
    w8a8_block_gluon_matmul,
)

BLOCK = (128, 128)  # weight quantization block of every block-scaled provider
FP8_MAX = 448.0
INT8_MAX = 127.0
SCALE_EPS = 1e-10


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


def _spread_randn(shape: tuple[int, ...], g: torch.Generator, device: torch.device) -> torch.Tensor:
    """Normal data with row and column magnitudes spread over half a decade, so per-token,
    per-channel and per-block scales really differ (and a misplaced one shows as error)."""
    x = torch.randn(shape, generator=g, device=device)
    rows = 10 ** (-0.5 * torch.rand((*shape[:-1], 1), generator=g, device=device))
    cols = 10 ** (
        -0.5 * torch.rand((*([1] * (len(shape) - 1)), shape[-1]), generator=g, device=device)
    )
    return x * rows * cols


@dataclass
class BenchContext:
    """Per-run state shared by all providers: device, output dtype, where tuned configs live,
    and the source tensors of the current problem with memoized derived operands."""

    device: torch.device
    out_dtype: torch.dtype = torch.bfloat16
    site_data: Path | None = None
    device_name: str = ""
    l2_bytes: int = 0
    seed: int = 0
    x: torch.Tensor | None = None  # (M, K) or (B, M, K) fp32 activations
    w: torch.Tensor | None = None  # (N, K) or (B, N, K) fp32 weights
    bias: torch.Tensor | None = None  # (N,) fp32
    _weight_shape: tuple[int, ...] | None = None
    _weights: dict[Any, Any] = field(default_factory=dict)
    _acts: dict[Any, Any] = field(default_factory=dict)

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    def _generator(self, *key: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(zlib.crc32(repr((self.seed, *key)).encode()))
        return g

    def start(self, problem: Problem) -> None:
        """Make the sources of ``problem``: new activations always, new weights only when the
        weight shape changes (sweeps walk M innermost, so each weight is quantized once)."""
        lead = (problem.B,) if problem.kind == Kind.BATCHED else ()
        w_shape = (*lead, problem.N, problem.K)
        if w_shape != self._weight_shape:
            self._weights.clear()
            self.w = self.bias = None
            if self.on_cuda:
                torch.cuda.empty_cache()
            g = self._generator(*w_shape)
            self.w = _spread_randn(w_shape, g, self.device)
            self.bias = torch.randn((problem.N,), generator=g, device=self.device)
            self._weight_shape = w_shape
        self._acts.clear()
        self.x = _spread_randn(
            (*lead, problem.M, problem.K), self._generator(problem.M, *w_shape), self.device
        )

    def weight(self, key: str, make: Callable[[torch.Tensor], Any]) -> Any:
        """A derived weight operand, computed once per weight shape."""
        if key not in self._weights:
            self._weights[key] = make(self.w)
        return self._weights[key]

    def act(self, key: str, make: Callable[[torch.Tensor], Any]) -> Any:
        """A derived activation operand (from the bf16 activations), computed once per problem."""
        if key not in self._acts:
            self._acts[key] = make(self.x_bf16)
        return self._acts[key]

    def reference_of(
        self, fn: Callable[[Problem, BenchContext], torch.Tensor], problem: Problem
    ) -> torch.Tensor:
        """A provider's fp32 reference, computed once per problem for all providers sharing
        the same reference function (quant / noquant variants, cuBLAS and Triton block FP8)."""
        key = ("reference", fn)
        if key not in self._acts:
            self._acts[key] = fn(problem, self)
        return self._acts[key]

    @property
    def x_bf16(self) -> torch.Tensor:
        """The activations as a layer receives them: bf16, the input of every timed quant."""
        if "bf16" not in self._acts:
            self._acts["bf16"] = self.x.to(torch.bfloat16)
        return self._acts["bf16"]

    def rotate(self, tensors: Sequence[Any], bytes_per_set: int) -> list[tuple[Any, ...]]:
        """Input sets for L2 rotation: the originals, then clones (same values, new memory).

        ``timing.rotation_count`` decides how many sets make the total exceed the L2 cache.
        Clones keep strides (``torch.preserve_format``), so column-major scales stay so.
        """
        from generator.bench.timing import rotation_count

        count = rotation_count(bytes_per_set, self.l2_bytes)
        sets = [tuple(tensors)]
        for _ in range(count - 1):
            sets.append(tuple(t.clone() if isinstance(t, torch.Tensor) else t for t in tensors))
        return sets


@dataclass(frozen=True)
class Provider:
    """A registered way to compute a problem; see the module doc for the contract."""

    name: str
    kind: Kind
    description: str
    compute: Compute
    setup: Callable[[Problem, BenchContext], Prepared]
    reference: Callable[[Problem, BenchContext], torch.Tensor]
    bytes_moved: Callable[[Problem, torch.dtype], int]
    requires: tuple[Requirement, ...] = ()
    is_baseline: bool = False
    quant_in_timed_region: bool = False
    library: bool = False  # a library call: errors it raises mean "refused" (unsupported)

    def flops(self, problem: Problem) -> int:
        return problem.flops

    def unmet(self, ctx: BenchContext) -> str | None:
        """Why this provider cannot run in ``ctx`` (one line), or None."""
        for req in self.requires:
            message = _REQUIREMENT_CHECKS[req](ctx)
            if message:
                return message
        return None


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


_REQUIREMENT_CHECKS: dict[Requirement, Callable[[BenchContext], str | None]] = {
    Requirement.CUDA: lambda ctx: None if ctx.on_cuda else "needs a CUDA GPU (library kernel)",
    Requirement.TRITON: _need_triton,
    Requirement.SCALED_MM: _need_scaled_mm,
    Requirement.SCALED_MM_V2: _need_scaled_mm_v2,
    Requirement.INT_MM: lambda ctx: (
        None if ctx.on_cuda and hasattr(torch, "_int_mm") else "needs torch._int_mm on CUDA"
    ),
    Requirement.HOPPER: lambda ctx: (
        gluon_problem()
        or (
            None
            if _capability(ctx)[0] == 9
            else "needs a Hopper (sm_90) GPU (Gluon kernel; no CPU interpreter)"
        )
    ),
}


# ---------------------------------------------------------------------------------------------
# Registry

_REGISTRY: dict[str, Provider] = {}


def register(p: Provider) -> Provider:
    """Add a provider; a second provider with the same name is an error, never an overwrite."""
    if p.name in _REGISTRY:
        raise ValueError(f"provider '{p.name}' is already registered")
    _REGISTRY[p.name] = p
    return p


def unregister(name: str) -> None:
    """Remove a provider (tests register deliberately broken ones and clean up after)."""
    _REGISTRY.pop(name, None)


SetupFn = Callable[[Problem, BenchContext], Prepared]


def provider(name: str, **fields: Any) -> Callable[[SetupFn], SetupFn]:
    """Decorator form of :func:`register` for a ``setup`` function."""

    def decorate(setup: SetupFn) -> SetupFn:
        register(Provider(name=name, setup=setup, **fields))
        return setup

    return decorate


def all_providers(kind: Kind | None = None) -> list[Provider]:
    """Registered providers in registration order, optionally of one kind."""
    return [p for p in _REGISTRY.values() if kind is None or p.kind == kind]


def get(name: str) -> Provider:
    return select([name])[0]


def select(names: Iterable[str] | None) -> list[Provider]:
    """Providers by name (comma-separated entries allowed), in registry order; None = all.

    Unknown names raise a one-line :class:`UserError` listing the known ones.
    """
    if names is None:
        return all_providers()
    wanted = [n.strip() for entry in names for n in entry.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in _REGISTRY]
    if unknown:
        raise UserError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(_REGISTRY)}")
    if not wanted:
        raise UserError(f"no provider named; known: {', '.join(_REGISTRY)}")
    return [p for p in _REGISTRY.values() if p.name in wanted]


# ---------------------------------------------------------------------------------------------
# Shared operand builders (torch: graph-capturable, no host syncs)


def _out_size(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size()


def fp8_quant_tensorwise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One fp32 scale for the whole tensor (0-dim), amax / 448."""
    scale = (x.abs().amax().float() / FP8_MAX).clamp(min=SCALE_EPS)
    return (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE), scale


def fp8_quant_rowwise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One fp32 scale per row (token or output channel), shape (rows, 1)."""
    scale = (x.abs().amax(dim=-1, keepdim=True).float() / FP8_MAX).clamp(min=SCALE_EPS)
    return (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE), scale


def int8_quant_rowwise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row INT8, rounding half away from zero; scale (rows, 1)."""
    scale = (x.abs().amax(dim=-1, keepdim=True).float() / INT8_MAX).clamp(min=SCALE_EPS)
    y = x.float() / scale
    q = (torch.sign(y) * torch.floor(y.abs() + 0.5)).clamp(-INT8_MAX - 1.0, INT8_MAX)
    return q.to(torch.int8), scale


def _fp32_matmul_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp32 a @ b^T over the last two dims (batched too), TF32 off: the reference product."""
    if a.dim() == 2:
        return dense_reference(a, b)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return a.float() @ b.float().transpose(-1, -2)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


def _calls(
    sets: list[tuple[Any, ...]], fn: Callable[..., torch.Tensor]
) -> list[Callable[[], torch.Tensor]]:
    """One zero-argument callable per input set (binding each set now, not at call time)."""
    return [lambda s=s: fn(*s) for s in sets]


def _bytes_8bit(p: Problem, out_dtype: torch.dtype, quant_inside: bool, scales: int = 0) -> int:
    """8-bit operands read once, output written once; a timed quant also reads bf16 x once."""
    act = (2 if quant_inside else 1) * p.M * p.K
    return act + p.N * p.K + scales + p.M * p.N * _out_size(out_dtype)


def _bytes_block(p: Problem, out_dtype: torch.dtype, quant_inside: bool) -> int:
    return w8a8_block_bytes(p.M, p.N, p.K, out_dtype, BLOCK) + (p.M * p.K if quant_inside else 0)


# ---------------------------------------------------------------------------------------------
# bf16 baseline


def _ref_bf16(p: Problem, ctx: BenchContext) -> torch.Tensor:
    """fp32 product of the bf16 operands (2-D, or batched for the bmm baseline)."""
    return _fp32_matmul_t(ctx.x_bf16, ctx.weight("bf16", lambda w: w.to(torch.bfloat16)))


@provider(
    "torch-bf16",
    kind=Kind.GEMM,
    description="torch.matmul in bf16 (cuBLAS on GPU): the baseline",
    compute=Compute.BF16,
    reference=_ref_bf16,
    bytes_moved=lambda p, od: 2 * (p.M * p.K + p.N * p.K + p.M * p.N),
    is_baseline=True,
)
def _setup_bf16(p: Problem, ctx: BenchContext) -> Prepared:
    w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
    sets = ctx.rotate((ctx.x_bf16, w), 2 * (p.M * p.K + p.N * p.K + p.M * p.N))
    return Prepared(_calls(sets, lambda x, w: torch.matmul(x, w.t())))


# ---------------------------------------------------------------------------------------------
# FP8 tensor-wise and channel-wise via torch._scaled_mm


def _ref_fp8_tensor(p: Problem, ctx: BenchContext) -> torch.Tensor:
    xq, xs = ctx.act("fp8_tensor", fp8_quant_tensorwise)
    wq, ws = ctx.weight("fp8_tensor", fp8_quant_tensorwise)
    return dense_reference(xq.float() * xs, wq.float() * ws)


def _ref_fp8_channel(p: Problem, ctx: BenchContext) -> torch.Tensor:
    xq, xs = ctx.act("fp8_token", fp8_quant_rowwise)
    wq, ws = ctx.weight("fp8_channel", fp8_quant_rowwise)
    return dense_reference(xq.float() * xs, wq.float() * ws)


def _setup_scaled_mm(p: Problem, ctx: BenchContext, quant: bool, rowwise: bool) -> Prepared:
    """Weight scale: one per tensor, or one per output channel (as (1, N) for _scaled_mm).
    Activation scale: one per tensor, or one per token ((M, 1)); quantized in or out of the
    timed region. The weight is passed as the column-major (K, N) view ``w.t()``."""
    out_dtype = ctx.out_dtype
    quant_fn = fp8_quant_rowwise if rowwise else fp8_quant_tensorwise
    wq, ws = ctx.weight("fp8_channel" if rowwise else "fp8_tensor", quant_fn)
    ws_arg = ws.reshape(1, -1).contiguous() if rowwise else ws
    nbytes = _bytes_8bit(p, out_dtype, quant)
    if quant:

        def run(x: torch.Tensor, wq: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
            xq, xs = quant_fn(x)
            return torch._scaled_mm(xq, wq.t(), scale_a=xs, scale_b=ws, out_dtype=out_dtype)

        sets = ctx.rotate((ctx.x_bf16, wq, ws_arg), nbytes)
    else:

        def run(
            xq: torch.Tensor, xs: torch.Tensor, wq: torch.Tensor, ws: torch.Tensor
        ) -> torch.Tensor:
            return torch._scaled_mm(xq, wq.t(), scale_a=xs, scale_b=ws, out_dtype=out_dtype)

        xq, xs = ctx.act("fp8_token" if rowwise else "fp8_tensor", quant_fn)
        sets = ctx.rotate((xq, xs, wq, ws_arg), nbytes)
    return Prepared(_calls(sets, run))


for _quant in (True, False):
    for _rowwise, _base, _what in (
        (False, "fp8-tensor", "tensor-wise weight x tensor-wise activation"),
        (True, "fp8-channel", "channel-wise weight x token-wise activation"),
    ):
        register(
            Provider(
                name=_base + ("" if _quant else "-noquant"),
                kind=Kind.GEMM,
                description=f"torch._scaled_mm FP8, {_what}"
                + ("; activation quant (torch) timed" if _quant else "; activations pre-quantized"),
                compute=Compute.FP8,
                setup=lambda p, ctx, q=_quant, r=_rowwise: _setup_scaled_mm(p, ctx, q, r),
                reference=_ref_fp8_channel if _rowwise else _ref_fp8_tensor,
                bytes_moved=lambda p, od, q=_quant: _bytes_8bit(p, od, q),
                requires=(Requirement.SCALED_MM,),
                quant_in_timed_region=_quant,
                library=True,
            )
        )


# ---------------------------------------------------------------------------------------------
# FP8 block-wise via cuBLASLt


def _fp8_block_weight(ctx: BenchContext) -> tuple[torch.Tensor, torch.Tensor]:
    return ctx.weight("fp8_block", lambda w: quantize_weight_blockwise(w, BLOCK, FP8_DTYPE))


def _ref_fp8_block(p: Problem, ctx: BenchContext) -> torch.Tensor:
    A, As = ctx.act("fp8_group", lambda x: per_token_group_quant(x, BLOCK[1], FP8_DTYPE))
    B, Bs = _fp8_block_weight(ctx)
    return w8a8_block_reference(A, B, As, Bs, BLOCK)


def _setup_cublas_block(p: Problem, ctx: BenchContext, quant: bool) -> Prepared:
    """Legacy ``torch._scaled_mm`` block-wise call: scale_a (M, K/128) with column-major
    strides (1, M), scale_b the (K/128, N/128) transposed view of the (N/128, K/128) weight
    scales (ANCHORS.md). Known on torch 2.11 / H100: M = 1 refused; K/128 not a multiple of 4
    returns wrong numbers silently, which the accuracy check turns into "incorrect"."""
    out_dtype = ctx.out_dtype
    B, Bs = _fp8_block_weight(ctx)
    nbytes = _bytes_block(p, out_dtype, quant)
    if quant:

        def run(x: torch.Tensor, B: torch.Tensor, Bs_t: torch.Tensor) -> torch.Tensor:
            A, As = per_token_group_quant(x, BLOCK[1], FP8_DTYPE, column_major_scales=True)
            return torch._scaled_mm(A, B.t(), scale_a=As, scale_b=Bs_t, out_dtype=out_dtype)

        sets = ctx.rotate((ctx.x_bf16, B, Bs.t()), nbytes)
    else:

        def run(
            A: torch.Tensor, As: torch.Tensor, B: torch.Tensor, Bs_t: torch.Tensor
        ) -> torch.Tensor:
            return torch._scaled_mm(A, B.t(), scale_a=As, scale_b=Bs_t, out_dtype=out_dtype)

        A, As = ctx.act(
            "fp8_group_cm",
            lambda x: per_token_group_quant(x, BLOCK[1], FP8_DTYPE, column_major_scales=True),
        )
        sets = ctx.rotate((A, As, B, Bs.t()), nbytes)
    return Prepared(_calls(sets, run))


for _quant in (True, False):
    register(
        Provider(
            name="cublas-fp8-block" + ("" if _quant else "-noquant"),
            kind=Kind.GEMM,
            description="cuBLASLt FP8 block-wise (1x128 act, 128x128 weight) via torch._scaled_mm"
            + ("; activation quant (Triton) timed" if _quant else "; activations pre-quantized"),
            compute=Compute.FP8,
            setup=lambda p, ctx, q=_quant: _setup_cublas_block(p, ctx, q),
            reference=_ref_fp8_block,
            bytes_moved=lambda p, od, q=_quant: _bytes_block(p, od, q),
            requires=(Requirement.SCALED_MM,),
            quant_in_timed_region=_quant,
            library=True,
        )
    )


def _padded_weight_scales(Bs: torch.Tensor) -> torch.Tensor:
    """(L4, N/128) view with strides (1, L4) of the weight scales, K blocks padded up to a
    multiple of 4 (L4): the layout ``torch.nn.functional.scaled_mm`` demands for 128x128."""
    nb, kb = Bs.shape
    l4 = -(-kb // 4) * 4
    padded = torch.zeros((nb, l4), dtype=torch.float32, device=Bs.device)
    padded[:, :kb] = Bs
    return padded.t()


@provider(
    "cublas-fp8-block-v2",
    kind=Kind.GEMM,
    description="cuBLASLt FP8 block-wise via torch.nn.functional.scaled_mm (BlockWise1x128 x "
    "BlockWise128x128, padded scales); activation quant (Triton) timed",
    compute=Compute.FP8,
    reference=_ref_fp8_block,
    bytes_moved=lambda p, od: _bytes_block(p, od, True),
    requires=(Requirement.SCALED_MM_V2,),
    quant_in_timed_region=True,
    library=True,
)
def _setup_cublas_block_v2(p: Problem, ctx: BenchContext) -> Prepared:
    fn = torch.nn.functional
    out_dtype = ctx.out_dtype
    B, Bs = _fp8_block_weight(ctx)
    sb = ctx.weight("fp8_block_v2_scales", lambda w: _padded_weight_scales(Bs))

    def run(x: torch.Tensor, B: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
        A, As = per_token_group_quant(x, BLOCK[1], FP8_DTYPE, column_major_scales=True)
        return fn.scaled_mm(
            A,
            B.t(),
            As,
            fn.ScalingType.BlockWise1x128,
            sb,
            fn.ScalingType.BlockWise128x128,
            swizzle_a=fn.SwizzleType.NO_SWIZZLE,
            swizzle_b=fn.SwizzleType.NO_SWIZZLE,
            output_dtype=out_dtype,
        )

    sets = ctx.rotate((ctx.x_bf16, B, sb), _bytes_block(p, out_dtype, True))
    return Prepared(_calls(sets, run))


# ---------------------------------------------------------------------------------------------
# INT8 per-token x per-channel via torch._int_mm


def _ref_int8_channel(p: Problem, ctx: BenchContext) -> torch.Tensor:
    xq, xs = ctx.act("int8_token", int8_quant_rowwise)
    wq, ws = ctx.weight("int8_channel", quantize_weight_per_channel_int8)
    return dense_reference(xq.float() * xs, wq.float() * ws[:, None])


def _setup_int_mm(p: Problem, ctx: BenchContext, quant: bool) -> Prepared:
    """torch._int_mm (cuBLASLt int8 -> int32; needs M > 16 and N, K multiples of 8), then the
    per-token x per-channel scaling in fp32 and the cast, all inside the timed region."""
    out_dtype = ctx.out_dtype
    wq, ws = ctx.weight("int8_channel", quantize_weight_per_channel_int8)
    ws_row = ws.reshape(1, -1)

    def gemm(
        xq: torch.Tensor, xs: torch.Tensor, wq: torch.Tensor, ws: torch.Tensor
    ) -> torch.Tensor:
        return (torch._int_mm(xq, wq.t()).float() * xs * ws).to(out_dtype)

    nbytes = _bytes_8bit(p, out_dtype, quant)
    if quant:
        sets = ctx.rotate((ctx.x_bf16, wq, ws_row), nbytes)
        return Prepared(_calls(sets, lambda x, wq, ws: gemm(*int8_quant_rowwise(x), wq, ws)))
    xq, xs = ctx.act("int8_token", int8_quant_rowwise)
    return Prepared(_calls(ctx.rotate((xq, xs, wq, ws_row), nbytes), gemm))


for _quant in (True, False):
    register(
        Provider(
            name="int8-channel" + ("" if _quant else "-noquant"),
            kind=Kind.GEMM,
            description="torch._int_mm INT8, per-channel weight x per-token activation,"
            " fp32 scaling"
            + ("; activation quant (torch) timed" if _quant else "; activations pre-quantized"),
            compute=Compute.INT8,
            setup=lambda p, ctx, q=_quant: _setup_int_mm(p, ctx, q),
            reference=_ref_int8_channel,
            bytes_moved=lambda p, od, q=_quant: _bytes_8bit(p, od, q),
            requires=(Requirement.INT_MM,),
            quant_in_timed_region=_quant,
            library=True,
        )
    )


# ---------------------------------------------------------------------------------------------
# Our Triton block W8A8 kernel (FP8 and INT8), default and tuned configs


def _tuned_config(p: Problem, ctx: BenchContext, input_type: str) -> dict[str, int]:
    """The drop-in kernel's tuned config, from the vLLM-format files the tuner wrote."""
    from generator.configs.engine_files import load_tuned_table

    table = None
    if ctx.site_data is not None and ctx.device_name:
        table = load_tuned_table(ctx.site_data, ctx.device_name, p.N, p.K, input_type, BLOCK)
    if not table:
        raise Unsupported("no tuned config for this device/shape")
    return pick_config(table, p.M)


def _block_operands(ctx: BenchContext, input_type: str):
    dtype = FP8_DTYPE if input_type == "fp8" else torch.int8
    B, Bs = ctx.weight(f"{input_type}_block", lambda w: quantize_weight_blockwise(w, BLOCK, dtype))
    return dtype, B, Bs


def _make_ref_block(input_type: str) -> Callable[[Problem, BenchContext], torch.Tensor]:
    def reference(p: Problem, ctx: BenchContext) -> torch.Tensor:
        dtype, B, Bs = _block_operands(ctx, input_type)
        A, As = ctx.act(f"{input_type}_group", lambda x: per_token_group_quant(x, BLOCK[1], dtype))
        return w8a8_block_reference(A, B, As, Bs, BLOCK)

    return reference


def _setup_triton_block(
    p: Problem,
    ctx: BenchContext,
    input_type: str,
    tuned: bool,
    matmul: Callable[..., torch.Tensor] = w8a8_block_matmul,
    config: dict[str, int] | None = None,
) -> Prepared:
    """Timed: our per-token-group quant (Triton) + a block W8A8 kernel, like vLLM's layer."""
    if config is not None:
        cfg = config
    else:
        cfg = _tuned_config(p, ctx, input_type) if tuned else default_w8a8_config(*BLOCK)
    dtype, B, Bs = _block_operands(ctx, input_type)
    out_dtype = ctx.out_dtype

    def run(x: torch.Tensor, B: torch.Tensor, Bs: torch.Tensor) -> torch.Tensor:
        A, As = per_token_group_quant(x, BLOCK[1], dtype)
        return matmul(A, B, As, Bs, BLOCK, out_dtype, config=cfg)

    sets = ctx.rotate((ctx.x_bf16, B, Bs), _bytes_block(p, out_dtype, True))
    return Prepared(_calls(sets, run), config=dict(cfg))


_REF_BLOCK = {"fp8": _ref_fp8_block, "int8": _make_ref_block("int8")}

for _itype, _compute in (("fp8", Compute.FP8), ("int8", Compute.INT8)):
    for _tuned in (False, True):
        register(
            Provider(
                name=f"triton-{_itype}-block-" + ("tuned" if _tuned else "default"),
                kind=Kind.GEMM,
                description=f"our Triton block {_itype.upper()} kernel"
                " (128x128 weights, 1x128 act), "
                + ("tuned config from site_data" if _tuned else "vLLM's default config")
                + "; activation quant (Triton) timed",
                compute=_compute,
                setup=lambda p, ctx, it=_itype, t=_tuned: _setup_triton_block(p, ctx, it, t),
                reference=_REF_BLOCK[_itype],
                bytes_moved=lambda p, od: _bytes_block(p, od, True),
                requires=(Requirement.TRITON,),
                quant_in_timed_region=True,
            )
        )


# ---------------------------------------------------------------------------------------------
# Our faster FP8 block kernels (issue 5): split-K + swap-AB for small M, persistent TMA for large M.
# Same operands and semantics as the drop-in kernel; configs are the best of the sweep in
# benchmarks/fast_kernels.py on the H200 (docs/kernel-notes.md).


def _small_m_config(M: int) -> dict[str, int]:
    """The one small-M config of the split-K and decode providers (64 weight rows x 128 K, 4
    stages), chosen from the sweeps of benchmarks/fast_kernels.py."""
    return {
        "BLOCK_SIZE_M": 16 if M <= 16 else 64,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 4,
    }


# The Gluon kernel's config where nothing is tuned for the device and shape: its default
# (lagged promotion, the fastest on most shapes of the H100 lab sweeps: docs/kernel-notes.md).
GLUON_CONFIG = default_gluon_config()

PERSISTENT_CONFIG = {
    "BLOCK_SIZE_M": 128,
    "BLOCK_SIZE_N": 128,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 16,
    "num_warps": 8,
    "num_stages": 3,
}


def _fast_matmul(name: str) -> Callable[..., torch.Tensor]:
    if name == "splitk":
        from kernels.w8a8_block_splitk import w8a8_block_splitk_matmul

        return w8a8_block_splitk_matmul
    from kernels.w8a8_block_persistent import w8a8_block_persistent_matmul

    return w8a8_block_persistent_matmul


for _name, _desc in (
    ("splitk", "split-K + swap-AB kernel for small M (deterministic reduce)"),
    ("persistent", "persistent kernel with TMA loads for large M"),
):
    register(
        Provider(
            name=f"triton-fp8-block-{_name}",
            kind=Kind.GEMM,
            description=f"our Triton block FP8 {_desc}; activation quant (Triton) timed",
            compute=Compute.FP8,
            setup=lambda p, ctx, n=_name: _setup_triton_block(
                p,
                ctx,
                "fp8",
                False,
                _fast_matmul(n),
                _small_m_config(p.M) if n == "splitk" else PERSISTENT_CONFIG,
            ),
            reference=_REF_BLOCK["fp8"],
            bytes_moved=lambda p, od: _bytes_block(p, od, True),
            requires=(Requirement.TRITON,),
            quant_in_timed_region=True,
        )
    )


def _setup_gluon(p: Problem, ctx: BenchContext) -> Prepared:
    """Timed: our per-token-group quant (Triton) + the warp-specialized Hopper kernel."""
    problem = gluon_supported(ctx.device, p.N, p.K, ctx.out_dtype)
    if problem:
        raise Unsupported(problem)
    return _setup_triton_block(
        p,
        ctx,
        "fp8",
        False,
        w8a8_block_gluon_matmul,
        _fast_kernel_config("w8a8_block_gluon", p, ctx, GLUON_CONFIG),
    )


def _fast_kernel_config(
    kernel: str, p: Problem, ctx: BenchContext, fallback: dict[str, int], input_type: str = "fp8"
) -> dict[str, int]:
    """The tuner's winner for ``kernel`` on this device and shape (nearest tuned M, as vLLM
    picks from its files), else ``fallback``. ``input_type`` is the Tunable's (the tuning
    file's name carries it): "fp8" for the block-FP8 kernels, "bf16" for the A16W8 ones."""
    from generator.data.records import TuneFile, load
    from generator.tune.store import tune_file_path, winner_table
    from generator.tune.tasks import Task

    if ctx.site_data is None or not ctx.device_name:
        return fallback
    out_name = str(ctx.out_dtype).removeprefix("torch.")
    task = Task(
        kernel=kernel,
        input_type=input_type,
        out_dtype=out_name,
        block_n=BLOCK[0],
        block_k=BLOCK[1],
        N=p.N,
        K=p.K,
        B=p.B,
        M=p.M,
    )
    path = tune_file_path(ctx.site_data, ctx.device_name, task, exhaustive=False)
    if not path.exists():
        return fallback
    table = winner_table(load(path, TuneFile))
    return pick_config(table, p.M) if table else fallback


register(
    Provider(
        name="triton-fp8-block-gluon",
        kind=Kind.GEMM,
        description="our warp-specialized Hopper block FP8 kernel (Gluon: TMA producer warp,"
        " one partition per consumer warpgroup, lagged promotion) for large M; quant timed",
        compute=Compute.FP8,
        setup=_setup_gluon,
        reference=_REF_BLOCK["fp8"],
        bytes_moved=lambda p, od: _bytes_block(p, od, True),
        requires=(Requirement.HOPPER,),
        quant_in_timed_region=True,
    )
)


def _setup_decode(p: Problem, ctx: BenchContext) -> Prepared:
    """Timed: one launch that quantizes the bf16 activation and runs the split-K GEMM, with the
    tuner's config for the device and shape where there is one."""
    from kernels.w8a8_block_decode import w8a8_block_decode_matmul

    cfg = _fast_kernel_config("w8a8_block_decode", p, ctx, _small_m_config(p.M))
    _, B, Bs = _block_operands(ctx, "fp8")
    out_dtype = ctx.out_dtype

    def run(x: torch.Tensor, B: torch.Tensor, Bs: torch.Tensor) -> torch.Tensor:
        return w8a8_block_decode_matmul(x, B, Bs, BLOCK, out_dtype, config=cfg)

    sets = ctx.rotate((ctx.x_bf16, B, Bs), _bytes_block(p, out_dtype, True))
    return Prepared(_calls(sets, run), config=dict(cfg))


register(
    Provider(
        name="triton-fp8-block-decode",
        kind=Kind.GEMM,
        description="our Triton block FP8 decode kernel: activation quant fused into a split-K"
        " swap-AB GEMM with an in-kernel deterministic reduction (one launch); quant timed",
        compute=Compute.FP8,
        setup=_setup_decode,
        reference=_REF_BLOCK["fp8"],
        bytes_moved=lambda p, od: _bytes_block(p, od, True),
        requires=(Requirement.TRITON,),
        quant_in_timed_region=True,
    )
)


# ---------------------------------------------------------------------------------------------
# Our Triton INT8 kernel with asymmetric per-token activations (zero points)


def _azp_weight(ctx: BenchContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    wq, ws = ctx.weight("int8_channel", quantize_weight_per_channel_int8)
    colsum = ctx.weight("int8_channel_colsum", lambda w: weight_colsum(wq))
    return wq, ws, colsum


def _make_ref_azp(with_bias: bool) -> Callable[[Problem, BenchContext], torch.Tensor]:
    def reference(p: Problem, ctx: BenchContext) -> torch.Tensor:
        q, s, zp = ctx.act("int8_azp", per_token_quant_int8_azp)
        wq, ws, _ = _azp_weight(ctx)
        bias = ctx.bias.to(ctx.out_dtype) if with_bias else None
        return int8_azp_reference(q, s, zp, wq, ws, bias)

    return reference


def _setup_azp(p: Problem, ctx: BenchContext, with_bias: bool) -> Prepared:
    """Timed: asymmetric per-token quant (Triton) + the azp GEMM. Weight quant and the column
    sums (vLLM's azp_adj) are per-weight work, outside."""
    wq, ws, colsum = _azp_weight(ctx)
    out_dtype = ctx.out_dtype
    bias = ctx.bias.to(out_dtype) if with_bias else None
    cfg = default_w8a8_config(*BLOCK)

    def run(
        x: torch.Tensor,
        wq: torch.Tensor,
        ws: torch.Tensor,
        colsum: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        q, s, zp = per_token_quant_int8_azp(x)
        return int8_azp_matmul(q, s, zp, wq, ws, colsum, bias, out_dtype, config=cfg)

    nbytes = int8_azp_bytes(p.M, p.N, p.K, out_dtype, with_bias) + p.M * p.K
    sets = ctx.rotate((ctx.x_bf16, wq, ws, colsum, bias), nbytes)
    return Prepared(_calls(sets, run), config=dict(cfg))


for _bias in (False, True):
    register(
        Provider(
            name="triton-int8-azp" + ("-bias" if _bias else ""),
            kind=Kind.GEMM,
            description="our Triton INT8 kernel, asymmetric per-token activations (zero-point "
            "correction as vLLM's CUTLASS azp), per-channel weights"
            + (", with bias" if _bias else "")
            + "; activation quant (Triton) timed",
            compute=Compute.INT8,
            setup=lambda p, ctx, b=_bias: _setup_azp(p, ctx, b),
            reference=_make_ref_azp(_bias),
            bytes_moved=lambda p, od, b=_bias: int8_azp_bytes(p.M, p.N, p.K, od, b) + p.M * p.K,
            requires=(Requirement.TRITON,),
            quant_in_timed_region=True,
        )
    )


# ---------------------------------------------------------------------------------------------
# Batched A16W8 (MLA absorbed attention)


def _a16w8_bytes(p: Problem, weight_bytes: int) -> int:
    """bf16 X and Y, weights at ``weight_bytes`` per element, fp32 block scales if 8-bit."""
    scales = 4 * p.B * (-(-p.N // BLOCK[0])) * (-(-p.K // BLOCK[1])) if weight_bytes == 1 else 0
    return p.B * (2 * p.M * p.K + weight_bytes * p.N * p.K + 2 * p.M * p.N) + scales


def _ref_a16w8(p: Problem, ctx: BenchContext) -> torch.Tensor:
    W, Ws = _fp8_block_weight(ctx)
    return a16w8_batched_reference(ctx.x_bf16, W, Ws, BLOCK)


def _a16w8_config(p: Problem, ctx: BenchContext) -> dict[str, int]:
    from generator.configs.engine_files import load_a16w8_table

    table = None
    if ctx.site_data is not None and ctx.device_name:
        table = load_a16w8_table(ctx.site_data, ctx.device_name, p.B, p.N, p.K, BLOCK)
    return pick_config(table, p.M) if table else default_a16w8_config(*BLOCK)


@provider(
    "a16w8-triton",
    kind=Kind.BATCHED,
    description="our batched A16W8 Triton kernel (bf16 x fp8 128x128 block weights); tuned "
    "config from site_data when present, else the default",
    compute=Compute.BF16,
    reference=_ref_a16w8,
    bytes_moved=lambda p, od: _a16w8_bytes(p, 1),
    requires=(Requirement.TRITON,),
)
def _setup_a16w8(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.a16w8_batched import a16w8_batched_matmul

    return _prepare_a16w8(p, ctx, a16w8_batched_matmul, _a16w8_config(p, ctx))


def _prepare_a16w8(
    p: Problem, ctx: BenchContext, matmul: Callable[..., torch.Tensor], cfg: dict[str, int]
) -> Prepared:
    """Timed: one of our batched A16W8 kernels with ``cfg`` on the FP8 block weights."""
    W, Ws = _fp8_block_weight(ctx)
    out_dtype = ctx.out_dtype

    def run(x: torch.Tensor, W: torch.Tensor, Ws: torch.Tensor) -> torch.Tensor:
        return matmul(x, W, Ws, BLOCK, out_dtype, config=cfg)

    sets = ctx.rotate((ctx.x_bf16, W, Ws), _a16w8_bytes(p, 1))
    return Prepared(_calls(sets, run), config=dict(cfg))


@provider(
    "a16w8-triton-swapped",
    kind=Kind.BATCHED,
    description="our batched A16W8 Triton kernel with the operands swapped (widened fp8 weights"
    " as the register MMA operand, tokens on the MMA's N side) and several tiles per program;"
    " tuned config from site_data when present",
    compute=Compute.BF16,
    reference=_ref_a16w8,
    bytes_moved=lambda p, od: _a16w8_bytes(p, 1),
    requires=(Requirement.TRITON,),
)
def _setup_a16w8_swapped(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.a16w8_batched_swapped import a16w8_batched_swapped_matmul, default_swapped_config

    cfg = _fast_kernel_config(
        "a16w8_batched_swapped", p, ctx, default_swapped_config(p.M), input_type="bf16"
    )
    return _prepare_a16w8(p, ctx, a16w8_batched_swapped_matmul, cfg)


@provider(
    "a16w8-bmm-bf16",
    kind=Kind.BATCHED,
    description="torch.bmm in bf16 with the weights stored in bf16 (2x the weight bytes)",
    compute=Compute.BF16,
    reference=_ref_bf16,
    bytes_moved=lambda p, od: _a16w8_bytes(p, 2),
    is_baseline=True,
)
def _setup_bmm_bf16(p: Problem, ctx: BenchContext) -> Prepared:
    w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
    sets = ctx.rotate((ctx.x_bf16, w), _a16w8_bytes(p, 2))
    return Prepared(_calls(sets, lambda x, w: torch.bmm(x, w.transpose(1, 2))))


def dequantize_blocks_bf16(W: torch.Tensor, Ws: torch.Tensor) -> torch.Tensor:
    """(B, N, K) fp8 block-quantized weights -> bf16, scaling in fp32 (one rounding).

    Broadcast through an expanded view instead of ``repeat_interleave``: no host sync, so it
    can be captured in a CUDA graph.
    """
    Bt, N, K = W.shape
    bn, bk = BLOCK
    nb, kb = Ws.shape[-2:]
    s = Ws[:, :, None, :, None].expand(Bt, nb, bn, kb, bk).reshape(Bt, nb * bn, kb * bk)
    return (W.float() * s[:, :N, :K]).to(torch.bfloat16)


@provider(
    "a16w8-dequant-bmm",
    kind=Kind.BATCHED,
    description="dequantize the fp8 block weights to bf16, then torch.bmm (both timed)",
    compute=Compute.BF16,
    reference=_ref_a16w8,
    bytes_moved=lambda p, od: _a16w8_bytes(p, 1),
)
def _setup_dequant_bmm(p: Problem, ctx: BenchContext) -> Prepared:
    W, Ws = _fp8_block_weight(ctx)

    def run(x: torch.Tensor, W: torch.Tensor, Ws: torch.Tensor) -> torch.Tensor:
        return torch.bmm(x, dequantize_blocks_bf16(W, Ws).transpose(1, 2))

    sets = ctx.rotate((ctx.x_bf16, W, Ws), _a16w8_bytes(p, 1))
    return Prepared(_calls(sets, run))
