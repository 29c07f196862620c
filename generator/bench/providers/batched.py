"""Batched providers of DeepSeek's absorbed MLA attention: bf16 activations (B, M, K) times
B weights (B, N, K). Our A16W8 kernels on fp8 128x128 block weights (the straightforward one
with its tuned table, the swapped-operand one with the tuner's winner), against bf16
``torch.bmm`` (the baseline, with bf16 weights: twice the weight bytes) and dequantize-then-bmm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Kind, Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement
from generator.bench.providers.common import (
    BLOCK,
    calls,
    fp8_block_weight,
    info,
    output_template,
    ref_bf16,
    work_of,
)
from generator.bench.providers.engine import lookup
from generator.data.records import Origin, Scheme
from kernels.reference import a16w8_batched_reference


def a16w8_bytes(p: Problem, weight_bytes: int) -> int:
    """bf16 X and Y, weights at ``weight_bytes`` per element, fp32 block scales if 8-bit."""
    scales = 4 * p.B * (-(-p.N // BLOCK[0])) * (-(-p.K // BLOCK[1])) if weight_bytes == 1 else 0
    return p.B * (2 * p.M * p.K + weight_bytes * p.N * p.K + 2 * p.M * p.N) + scales


def _ref_a16w8(p: Problem, ctx: BenchContext) -> torch.Tensor:
    W, Ws = fp8_block_weight(ctx)
    return a16w8_batched_reference(ctx.x_bf16, W, Ws, BLOCK)


def _prepare_a16w8(
    p: Problem, ctx: BenchContext, matmul: Callable[..., torch.Tensor], cfg: dict[str, int]
) -> Prepared:
    """Timed: one of our batched A16W8 kernels with ``cfg`` on the FP8 block weights, into
    the set's own output (``BenchContext.rotate``)."""
    W, Ws = fp8_block_weight(ctx)
    out_dtype = ctx.out_dtype

    def run(x: torch.Tensor, W: torch.Tensor, Ws: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return matmul(x, W, Ws, BLOCK, out_dtype, config=cfg, out=out)

    sets = ctx.rotate((ctx.x_bf16, W, Ws), a16w8_bytes(p, 1), (output_template(p, ctx),))
    return Prepared(calls(sets, run), config=dict(cfg), work=work_of(matmul, cfg, "x_bf16"))


def _setup_a16w8(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.a16w8_batched import a16w8_batched_matmul, default_a16w8_config

    cfg = lookup("a16w8_batched", "bf16", p, ctx) or default_a16w8_config(*BLOCK)
    return _prepare_a16w8(p, ctx, a16w8_batched_matmul, cfg)


def _setup_a16w8_swapped(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.a16w8_batched_swapped import a16w8_batched_swapped_matmul, default_swapped_config

    cfg = lookup("a16w8_batched_swapped", "bf16", p, ctx) or default_swapped_config(p.M)
    return _prepare_a16w8(p, ctx, a16w8_batched_swapped_matmul, cfg)


def _setup_bmm_bf16(p: Problem, ctx: BenchContext) -> Prepared:
    w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
    out = output_template(p, ctx, torch.bfloat16)
    sets = ctx.rotate((ctx.x_bf16, w), a16w8_bytes(p, 2), (out,))
    return Prepared(calls(sets, lambda x, w, out: torch.bmm(x, w.transpose(1, 2), out=out)))


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


def _setup_dequant_bmm(p: Problem, ctx: BenchContext) -> Prepared:
    W, Ws = fp8_block_weight(ctx)

    def run(x: torch.Tensor, W: torch.Tensor, Ws: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        # the dequantized weight is the graph's own: an intermediate of torch ops
        return torch.bmm(x, dequantize_blocks_bf16(W, Ws).transpose(1, 2), out=out)

    sets = ctx.rotate(
        (ctx.x_bf16, W, Ws), a16w8_bytes(p, 1), (output_template(p, ctx, torch.bfloat16),)
    )
    return Prepared(calls(sets, run))


PROVIDERS = [
    Provider(
        info=info(
            "a16w8-triton",
            "A16W8 Triton (ours, batched)",
            "our batched A16W8 Triton kernel (bf16 x fp8 128x128 block weights); the tuned "
            "table from site_data when present, else its default",
            Scheme.A16W8_BLOCK,
            Origin.OURS,
            "solid",
            "diamond",
            kind=Kind.BATCHED,
            config_source="tuned",
        ),
        compute=Compute.BF16,
        setup=_setup_a16w8,
        reference=_ref_a16w8,
        bytes_moved=lambda p, od: a16w8_bytes(p, 1),
        requires=(Requirement.TRITON,),
    ),
    Provider(
        info=info(
            "a16w8-triton-swapped",
            "A16W8 Triton, swapped operands (ours, batched)",
            "our batched A16W8 Triton kernel with the operands swapped (widened fp8 weights as "
            "the register MMA operand, tokens on the MMA's N side) and several tiles per "
            "program; the tuner's winner when present",
            Scheme.A16W8_BLOCK,
            Origin.OURS,
            "solid",
            "star-diamond",
            kind=Kind.BATCHED,
            config_source="own",
        ),
        compute=Compute.BF16,
        setup=_setup_a16w8_swapped,
        reference=_ref_a16w8,
        bytes_moved=lambda p, od: a16w8_bytes(p, 1),
        requires=(Requirement.TRITON,),
    ),
    Provider(
        info=info(
            "a16w8-bmm-bf16",
            "bf16 torch.bmm",
            "torch.bmm in bf16 with the weights stored in bf16 (2x the weight bytes): the "
            "baseline of the batched shapes",
            Scheme.BF16,
            Origin.LIBRARY,
            "dash",
            "circle",
            kind=Kind.BATCHED,
            baseline=True,
            output_dtype="bfloat16",
        ),
        compute=Compute.BF16,
        setup=_setup_bmm_bf16,
        reference=ref_bf16,
        bytes_moved=lambda p, od: a16w8_bytes(p, 2),
    ),
    Provider(
        info=info(
            "a16w8-dequant-bmm",
            "dequantize + bf16 torch.bmm",
            "dequantize the fp8 block weights to bf16, then torch.bmm (both timed)",
            Scheme.A16W8_BLOCK,
            Origin.LIBRARY,
            "dot",
            "circle-open",
            kind=Kind.BATCHED,
            output_dtype="bfloat16",
        ),
        compute=Compute.BF16,
        setup=_setup_dequant_bmm,
        reference=_ref_a16w8,
        bytes_moved=lambda p, od: a16w8_bytes(p, 1),
    ),
]
