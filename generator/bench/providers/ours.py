"""Kernels of this project that no engine runs (yet): split-K and fused decode for small M,
persistent TMA and warp-specialized Gluon for large M, INT8 with zero points. Each runs the
config a user of the kernel gets: the tuner's winner for the device and shape where there is
one (:func:`generator.data.lookup.tuned_config`), else the kernel's own default (what
``config=None`` runs)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement, Unsupported
from generator.bench.providers.common import (
    BLOCK,
    block_operands,
    block_provider,
    bytes_block,
    calls,
    info,
    output_template,
    work_of,
)
from generator.bench.providers.engine import lookup, prepare_block
from generator.data.records import Origin, Scheme
from kernels.int8_azp import (
    int8_azp_bytes,
    int8_azp_matmul,
    int8_azp_reference,
    per_token_quant_int8_azp,
    quantize_weight_per_channel_int8,
    weight_colsum,
)
from kernels.tiling import default_w8a8_config


def _setup_splitk(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.w8a8_block_splitk import default_splitk_config, w8a8_block_splitk_matmul

    cfg = lookup("w8a8_block_splitk", "fp8", p, ctx) or default_splitk_config(p.M)
    return prepare_block(p, ctx, "fp8", cfg, w8a8_block_splitk_matmul)


def _setup_persistent(p: Problem, ctx: BenchContext) -> Prepared:
    from kernels.w8a8_block_persistent import (
        default_persistent_config,
        w8a8_block_persistent_matmul,
    )

    cfg = lookup("w8a8_block_persistent", "fp8", p, ctx) or default_persistent_config()
    return prepare_block(p, ctx, "fp8", cfg, w8a8_block_persistent_matmul)


def _setup_gluon(p: Problem, ctx: BenchContext) -> Prepared:
    """Timed: our per-token-group quant (Triton) + the warp-specialized Hopper kernel."""
    from kernels.w8a8_block_gluon import (
        default_gluon_config,
        gluon_supported,
        w8a8_block_gluon_matmul,
    )

    problem = gluon_supported(ctx.device, p.N, p.K, ctx.out_dtype)
    if problem:
        raise Unsupported(problem)
    cfg = lookup("w8a8_block_gluon", "fp8", p, ctx) or default_gluon_config()
    return prepare_block(p, ctx, "fp8", cfg, w8a8_block_gluon_matmul)


def _setup_decode(p: Problem, ctx: BenchContext) -> Prepared:
    """Timed: one launch that quantizes the bf16 activation and runs the split-K GEMM."""
    from kernels.w8a8_block_decode import default_decode_config, w8a8_block_decode_matmul

    cfg = lookup("w8a8_block_decode", "fp8", p, ctx) or default_decode_config(p.M)
    _, B, Bs = block_operands(ctx, "fp8")
    out_dtype = ctx.out_dtype

    def run(x: torch.Tensor, B: torch.Tensor, Bs: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return w8a8_block_decode_matmul(x, B, Bs, BLOCK, out_dtype, config=cfg, out=out)

    sets = ctx.rotate(
        (ctx.x_bf16, B, Bs), bytes_block(p, out_dtype, True), (output_template(p, ctx),)
    )
    work = work_of(w8a8_block_decode_matmul, cfg, "x_bf16", "fp8_block")
    return Prepared(calls(sets, run), config=dict(cfg), work=work)


def _block_fp8(
    name: str,
    label: str,
    description: str,
    setup: Callable[[Problem, BenchContext], Prepared],
    style: tuple[str, str],
    requires: Requirement = Requirement.TRITON,
) -> Provider:
    return block_provider(
        info(
            name,
            label,
            description + "; activation quant timed",
            Scheme.FP8_BLOCK,
            Origin.OURS,
            *style,
            config_source="own",
            quant_timed=True,
        ),
        setup,
        requires=requires,
    )


BLOCK_FP8 = [
    _block_fp8(
        "triton-fp8-block-splitk",
        "Triton FP8 block, split-K (ours, small M)",
        "our Triton block FP8 split-K + swap-AB kernel for small M (deterministic reduce)",
        _setup_splitk,
        ("dot", "star"),
    ),
    _block_fp8(
        "triton-fp8-block-persistent",
        "Triton FP8 block, persistent TMA (ours, large M)",
        "our Triton block FP8 persistent kernel with TMA loads for large M",
        _setup_persistent,
        ("dot", "pentagon"),
        Requirement.TMA,
    ),
    _block_fp8(
        "triton-fp8-block-gluon",
        "Triton FP8 block, warp-specialized Gluon (ours, large M, Hopper)",
        "our warp-specialized Hopper block FP8 kernel (Gluon: TMA producer warp, one partition "
        "per consumer warpgroup, lagged promotion) for large M",
        _setup_gluon,
        ("solid", "star-diamond"),
        Requirement.HOPPER,
    ),
    _block_fp8(
        "triton-fp8-block-decode",
        "Triton FP8 block, fused decode (ours, small M)",
        "our Triton block FP8 decode kernel: activation quant fused into a split-K swap-AB GEMM "
        "with an in-kernel deterministic reduction (one launch)",
        _setup_decode,
        ("solid", "hexagon"),
    ),
]


# --- INT8 with asymmetric per-token activations (zero points) --------------------------------


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
    bias = ctx.weight(f"bias_{out_dtype}", lambda w: ctx.bias.to(out_dtype)) if with_bias else None
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
    return Prepared(calls(sets, run), config=dict(cfg))


def _azp_provider(with_bias: bool) -> Provider:
    return Provider(
        info=info(
            "triton-int8-azp" + ("-bias" if with_bias else ""),
            "Triton INT8 zero-point (ours)" + (", with bias" if with_bias else ""),
            "our Triton INT8 kernel, asymmetric per-token activations (zero-point correction as "
            "vLLM's CUTLASS azp), per-channel weights"
            + (", with bias" if with_bias else "")
            + "; activation quant (Triton) timed",
            Scheme.INT8_AZP,
            Origin.OURS,
            "dot" if with_bias else "solid",
            "bowtie",
            config_source="default",
            quant_timed=True,
        ),
        compute=Compute.INT8,
        setup=lambda p, ctx: _setup_azp(p, ctx, with_bias),
        reference=_make_ref_azp(with_bias),
        bytes_moved=lambda p, od: int8_azp_bytes(p.M, p.N, p.K, od, with_bias) + p.M * p.K,
        requires=(Requirement.TRITON,),
    )


PROVIDERS = [*BLOCK_FP8, _azp_provider(False), _azp_provider(True)]
