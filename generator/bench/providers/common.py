"""What the provider families share: operand builders (torch: graph-capturable, no host
syncs), the references of the block-scaled schemes, bytes moved, and :func:`info` to declare a
provider's metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Kind, Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement
from generator.configs.keys import config_key
from generator.data.records import Origin, ProviderInfo, Scheme
from kernels.quant import (
    FP8_MAX,
    INT8_MAX,
    SCALE_EPS,
    empty_token_group_quant,
    per_token_group_quant,
    quantize_weight_blockwise,
)
from kernels.reference import dense_reference, w8a8_block_reference
from kernels.validation import FP8_DTYPE
from kernels.w8a8_block import w8a8_block_bytes

BLOCK = (128, 128)  # weight quantization block of every block-scaled provider


def info(
    name: str,
    label: str,
    description: str,
    scheme: Scheme,
    origin: Origin,
    dash: str = "solid",
    symbol: str = "circle",
    kind: Kind = Kind.GEMM,
    **fields: Any,
) -> ProviderInfo:
    """A provider's metadata (see :class:`generator.data.records.ProviderInfo`)."""
    return ProviderInfo(
        name=name,
        label=label,
        description=description,
        kind=kind.value,
        scheme=scheme,
        origin=origin,
        dash=dash,
        symbol=symbol,
        **fields,
    )


def work_of(kernel: Callable[..., Any], cfg: dict[str, int], *operands: str) -> tuple:
    """The identity of a kernel launch's work at a point (``Prepared.work``): which kernel,
    with which config, on which of the context's operands."""
    return (f"{kernel.__module__}.{kernel.__qualname__}", config_key(cfg), *operands)


def out_size(dtype: torch.dtype) -> int:
    return torch.empty(0, dtype=dtype).element_size()


def fp8_quant_tensorwise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One fp32 scale for the whole tensor (0-dim), amax / the platform's FP8 max (448; 224 on
    MI300-class GPUs, kernels.platform)."""
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


def fp32_matmul_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp32 a @ b^T over the last two dims (batched too), TF32 off: the reference product."""
    if a.dim() == 2:
        return dense_reference(a, b)
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return a.float() @ b.float().transpose(-1, -2)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


def calls(
    sets: list[tuple[Any, ...]], fn: Callable[..., torch.Tensor]
) -> list[Callable[[], torch.Tensor]]:
    """One zero-argument callable per input set (binding each set now, not at call time)."""
    return [lambda s=s: fn(*s) for s in sets]


def bytes_8bit(p: Problem, out_dtype: torch.dtype, quant_inside: bool, scales: int = 0) -> int:
    """8-bit operands read once, output written once; a timed quant also reads bf16 x once."""
    act = (2 if quant_inside else 1) * p.M * p.K
    return act + p.N * p.K + scales + p.M * p.N * out_size(out_dtype)


def bytes_block(p: Problem, out_dtype: torch.dtype, quant_inside: bool) -> int:
    return w8a8_block_bytes(p.M, p.N, p.K, out_dtype, BLOCK) + (p.M * p.K if quant_inside else 0)


def ref_bf16(p: Problem, ctx: BenchContext) -> torch.Tensor:
    """fp32 product of the bf16 operands (2-D, or batched for the bmm baseline)."""
    return fp32_matmul_t(ctx.x_bf16, ctx.weight("bf16", lambda w: w.to(torch.bfloat16)))


def fp8_block_weight(ctx: BenchContext) -> tuple[torch.Tensor, torch.Tensor]:
    return ctx.weight("fp8_block", lambda w: quantize_weight_blockwise(w, BLOCK, FP8_DTYPE))


def output_template(
    p: Problem, ctx: BenchContext, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """The output a call writes, (M, N), or (B, M, N) for a batched problem, in the run's
    dtype unless ``dtype``: a template for ``BenchContext.rotate(written=...)``, which gives
    each rotated set its own."""
    lead = (p.B,) if p.kind == Kind.BATCHED else ()
    return torch.empty((*lead, p.M, p.N), dtype=dtype or ctx.out_dtype, device=ctx.device)


def group_quant_templates(
    p: Problem, ctx: BenchContext, dtype: torch.dtype, column_major_scales: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a timed per-token-group quantization of the activation writes, as
    :func:`kernels.quant.per_token_group_quant` allocates it: templates for
    ``BenchContext.rotate(written=...)``."""
    return empty_token_group_quant(p.M, p.K, BLOCK[1], dtype, column_major_scales, ctx.device)


def block_operands(ctx: BenchContext, input_type: str):
    """(quantized dtype, B, Bs) of the block-quantized weight, once per weight shape."""
    if input_type == "fp8":
        return (FP8_DTYPE, *fp8_block_weight(ctx))
    B, Bs = ctx.weight(
        f"{input_type}_block", lambda w: quantize_weight_blockwise(w, BLOCK, torch.int8)
    )
    return torch.int8, B, Bs


def block_reference(input_type: str) -> Callable[[Problem, BenchContext], torch.Tensor]:
    """The fp32 product of per-token-group quantized activations and the block weights (one
    function per input type, so the context memoizes it once for every provider sharing it)."""
    return _BLOCK_REFERENCES[input_type]


def block_provider(
    info: ProviderInfo,
    setup: Callable[[Problem, BenchContext], Prepared],
    input_type: str = "fp8",
    requires: Requirement = Requirement.TRITON,
) -> Provider:
    """A block-scaled provider that times the activation quantization with its GEMM: every
    such provider has the same reference, bytes and compute ceiling for its input type."""
    return Provider(
        info=info,
        compute=Compute.FP8 if input_type == "fp8" else Compute.INT8,
        setup=setup,
        reference=block_reference(input_type),
        bytes_moved=lambda p, od: bytes_block(p, od, True),
        requires=(requires,),
    )


def _make_block_reference(input_type: str) -> Callable[[Problem, BenchContext], torch.Tensor]:
    def reference(p: Problem, ctx: BenchContext) -> torch.Tensor:
        dtype, B, Bs = block_operands(ctx, input_type)
        A, As = ctx.act(f"{input_type}_group", lambda x: per_token_group_quant(x, BLOCK[1], dtype))
        return w8a8_block_reference(A, B, As, Bs, BLOCK)

    return reference


_BLOCK_REFERENCES = {t: _make_block_reference(t) for t in ("fp8", "int8")}
