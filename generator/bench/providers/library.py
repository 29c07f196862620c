"""Library providers: cuBLAS / cuBLASLt through torch (bf16, FP8 tensor-, channel- and
block-wise, INT8 channel-wise). What a user gets without any Triton kernel; errors these raise
mean the library refused the shape (status "unsupported")."""

from __future__ import annotations

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement
from generator.bench.providers.common import (
    BLOCK,
    block_reference,
    bytes_8bit,
    bytes_block,
    calls,
    fp8_block_weight,
    fp8_quant_rowwise,
    fp8_quant_tensorwise,
    group_quant_templates,
    info,
    int8_quant_rowwise,
    output_template,
    ref_bf16,
)
from generator.data.records import Origin, Scheme
from kernels.int8_azp import quantize_weight_per_channel_int8
from kernels.quant import per_token_group_quant
from kernels.reference import dense_reference
from kernels.validation import FP8_DTYPE

QUANT_WORDS = {True: "; activation quant ({}) timed", False: "; activations pre-quantized"}


def _bf16_bytes(p: Problem, od: torch.dtype) -> int:
    return 2 * (p.M * p.K + p.N * p.K + p.M * p.N)


def _setup_bf16(p: Problem, ctx: BenchContext) -> Prepared:
    w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
    out = output_template(p, ctx, torch.bfloat16)  # bf16 in, bf16 out
    sets = ctx.rotate((ctx.x_bf16, w), _bf16_bytes(p, ctx.out_dtype), written=(out,))
    return Prepared(calls(sets, lambda x, w, out: torch.matmul(x, w.t(), out=out)))


TORCH_BF16 = Provider(
    info=info(
        "torch-bf16",
        "bf16 (cuBLAS)",
        "torch.matmul in bf16 (cuBLAS on GPU): the baseline",
        Scheme.BF16,
        Origin.LIBRARY,
        "dash",
        "circle",
        baseline=True,
        output_dtype="bfloat16",
    ),
    compute=Compute.BF16,
    setup=_setup_bf16,
    reference=ref_bf16,
    bytes_moved=_bf16_bytes,
)


# --- FP8 tensor-wise and channel-wise via torch._scaled_mm -----------------------------------


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
    key = "fp8_channel" if rowwise else "fp8_tensor"
    wq, ws = ctx.weight(key, quant_fn)
    ws_arg = (
        ctx.weight(key + "_scale_row", lambda w: ws.reshape(1, -1).contiguous()) if rowwise else ws
    )
    nbytes = bytes_8bit(p, out_dtype, quant)
    if quant:

        def run(
            x: torch.Tensor, wq: torch.Tensor, ws: torch.Tensor, out: torch.Tensor
        ) -> torch.Tensor:
            xq, xs = quant_fn(x)  # torch ops: their intermediates are allocated in the graph
            return torch._scaled_mm(
                xq, wq.t(), scale_a=xs, scale_b=ws, out_dtype=out_dtype, out=out
            )

        sets = ctx.rotate((ctx.x_bf16, wq, ws_arg), nbytes, written=(output_template(p, ctx),))
    else:

        def run(
            xq: torch.Tensor,
            xs: torch.Tensor,
            wq: torch.Tensor,
            ws: torch.Tensor,
            out: torch.Tensor,
        ) -> torch.Tensor:
            return torch._scaled_mm(
                xq, wq.t(), scale_a=xs, scale_b=ws, out_dtype=out_dtype, out=out
            )

        xq, xs = ctx.act("fp8_token" if rowwise else "fp8_tensor", quant_fn)
        sets = ctx.rotate((xq, xs, wq, ws_arg), nbytes, written=(output_template(p, ctx),))
    return Prepared(calls(sets, run))


def _scaled_mm_provider(quant: bool, rowwise: bool) -> Provider:
    base = "fp8-channel" if rowwise else "fp8-tensor"
    what = (
        "channel-wise weight x token-wise activation"
        if rowwise
        else "tensor-wise weight x tensor-wise activation"
    )
    label = "cuBLAS FP8 " + ("channel-wise" if rowwise else "tensor-wise")
    style = {
        (False, True): ("dashdot", "cross"),
        (False, False): ("dot", "cross"),
        (True, True): ("dashdot", "x"),
        (True, False): ("dashdot", "x"),
    }[(rowwise, quant)]
    return Provider(
        info=info(
            base + ("" if quant else "-noquant"),
            label + ("" if quant else ", no act. quant"),
            f"torch._scaled_mm FP8, {what}" + QUANT_WORDS[quant].format("torch"),
            Scheme.FP8_CHANNEL if rowwise else Scheme.FP8_TENSOR,
            Origin.LIBRARY,
            *style,
            quant_timed=quant,
        ),
        compute=Compute.FP8,
        setup=lambda p, ctx: _setup_scaled_mm(p, ctx, quant, rowwise),
        reference=_ref_fp8_channel if rowwise else _ref_fp8_tensor,
        bytes_moved=lambda p, od: bytes_8bit(p, od, quant),
        requires=(Requirement.SCALED_MM,),
        library=True,
    )


# --- FP8 block-wise via cuBLASLt -------------------------------------------------------------


def _setup_cublas_block(p: Problem, ctx: BenchContext, quant: bool) -> Prepared:
    """Legacy ``torch._scaled_mm`` block-wise call: scale_a (M, K/128) with column-major
    strides (1, M), scale_b the (K/128, N/128) transposed view of the (N/128, K/128) weight
    scales (ANCHORS.md). Known on torch 2.11 / H100: M = 1 refused; K/128 not a multiple of 4
    returns wrong numbers silently, which the accuracy check turns into "incorrect"."""
    out_dtype = ctx.out_dtype
    B, Bs = fp8_block_weight(ctx)
    Bs_t = ctx.weight("fp8_block_scales_t", lambda w: Bs.t())
    nbytes = bytes_block(p, out_dtype, quant)
    out = output_template(p, ctx)
    if quant:

        def run(
            x: torch.Tensor,
            B: torch.Tensor,
            Bs_t: torch.Tensor,
            A: torch.Tensor,
            As: torch.Tensor,
            out: torch.Tensor,
        ) -> torch.Tensor:
            per_token_group_quant(x, BLOCK[1], FP8_DTYPE, out=(A, As))
            return torch._scaled_mm(
                A, B.t(), scale_a=As, scale_b=Bs_t, out_dtype=out_dtype, out=out
            )

        written = (*group_quant_templates(p, ctx, FP8_DTYPE, column_major_scales=True), out)
        sets = ctx.rotate((ctx.x_bf16, B, Bs_t), nbytes, written)
    else:

        def run(
            A: torch.Tensor,
            As: torch.Tensor,
            B: torch.Tensor,
            Bs_t: torch.Tensor,
            out: torch.Tensor,
        ) -> torch.Tensor:
            return torch._scaled_mm(
                A, B.t(), scale_a=As, scale_b=Bs_t, out_dtype=out_dtype, out=out
            )

        A, As = ctx.act(
            "fp8_group_cm",
            lambda x: per_token_group_quant(x, BLOCK[1], FP8_DTYPE, column_major_scales=True),
        )
        sets = ctx.rotate((A, As, B, Bs_t), nbytes, written=(out,))
    return Prepared(calls(sets, run))


def _cublas_block_provider(quant: bool) -> Provider:
    return Provider(
        info=info(
            "cublas-fp8-block" + ("" if quant else "-noquant"),
            "cuBLAS FP8 block-wise" + ("" if quant else ", no act. quant"),
            "cuBLASLt FP8 block-wise (1x128 act, 128x128 weight) via torch._scaled_mm"
            + QUANT_WORDS[quant].format("Triton"),
            Scheme.FP8_BLOCK,
            Origin.LIBRARY,
            "solid" if quant else "dot",
            "square",
            quant_timed=quant,
        ),
        compute=Compute.FP8,
        setup=lambda p, ctx: _setup_cublas_block(p, ctx, quant),
        reference=block_reference("fp8"),
        bytes_moved=lambda p, od: bytes_block(p, od, quant),
        requires=(Requirement.SCALED_MM,),
        library=True,
    )


def _padded_weight_scales(Bs: torch.Tensor) -> torch.Tensor:
    """(L4, N/128) view with strides (1, L4) of the weight scales, K blocks padded up to a
    multiple of 4 (L4): the layout ``torch.nn.functional.scaled_mm`` demands for 128x128."""
    nb, kb = Bs.shape
    l4 = -(-kb // 4) * 4
    padded = torch.zeros((nb, l4), dtype=torch.float32, device=Bs.device)
    padded[:, :kb] = Bs
    return padded.t()


def _setup_cublas_block_v2(p: Problem, ctx: BenchContext) -> Prepared:
    fn = torch.nn.functional
    out_dtype = ctx.out_dtype
    B, Bs = fp8_block_weight(ctx)
    sb = ctx.weight("fp8_block_v2_scales", lambda w: _padded_weight_scales(Bs))

    def run(
        x: torch.Tensor, B: torch.Tensor, sb: torch.Tensor, A: torch.Tensor, As: torch.Tensor
    ) -> torch.Tensor:
        # scaled_mm (v2) takes no output: it allocates one inside the graph
        per_token_group_quant(x, BLOCK[1], FP8_DTYPE, out=(A, As))
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

    written = group_quant_templates(p, ctx, FP8_DTYPE, column_major_scales=True)
    sets = ctx.rotate((ctx.x_bf16, B, sb), bytes_block(p, out_dtype, True), written)
    return Prepared(calls(sets, run))


CUBLAS_BLOCK_V2 = Provider(
    info=info(
        "cublas-fp8-block-v2",
        "cuBLAS FP8 block-wise (scaled_mm v2)",
        "cuBLASLt FP8 block-wise via torch.nn.functional.scaled_mm (BlockWise1x128 x "
        "BlockWise128x128, padded scales); activation quant (Triton) timed",
        Scheme.FP8_BLOCK,
        Origin.LIBRARY,
        "dashdot",
        "square-open",
        quant_timed=True,
    ),
    compute=Compute.FP8,
    setup=_setup_cublas_block_v2,
    reference=block_reference("fp8"),
    bytes_moved=lambda p, od: bytes_block(p, od, True),
    requires=(Requirement.SCALED_MM_V2,),
    library=True,
)


# --- INT8 per-token x per-channel via torch._int_mm ------------------------------------------


def _ref_int8_channel(p: Problem, ctx: BenchContext) -> torch.Tensor:
    xq, xs = ctx.act("int8_token", int8_quant_rowwise)
    wq, ws = ctx.weight("int8_channel", quantize_weight_per_channel_int8)
    return dense_reference(xq.float() * xs, wq.float() * ws[:, None])


def _setup_int_mm(p: Problem, ctx: BenchContext, quant: bool) -> Prepared:
    """torch._int_mm (cuBLASLt int8 -> int32; needs M > 16 and N, K multiples of 8), then the
    per-token x per-channel scaling in fp32 and the cast, all inside the timed region."""
    out_dtype = ctx.out_dtype
    wq, ws = ctx.weight("int8_channel", quantize_weight_per_channel_int8)
    ws_row = ctx.weight("int8_channel_scale_row", lambda w: ws.reshape(1, -1))

    def gemm(
        xq: torch.Tensor, xs: torch.Tensor, wq: torch.Tensor, ws: torch.Tensor
    ) -> torch.Tensor:
        return (torch._int_mm(xq, wq.t()).float() * xs * ws).to(out_dtype)

    nbytes = bytes_8bit(p, out_dtype, quant)
    if quant:
        sets = ctx.rotate((ctx.x_bf16, wq, ws_row), nbytes)
        return Prepared(calls(sets, lambda x, wq, ws: gemm(*int8_quant_rowwise(x), wq, ws)))
    xq, xs = ctx.act("int8_token", int8_quant_rowwise)
    return Prepared(calls(ctx.rotate((xq, xs, wq, ws_row), nbytes), gemm))


def _int_mm_provider(quant: bool) -> Provider:
    return Provider(
        info=info(
            "int8-channel" + ("" if quant else "-noquant"),
            "cuBLAS INT8 channel-wise" + ("" if quant else ", no act. quant"),
            "torch._int_mm INT8, per-channel weight x per-token activation, fp32 scaling"
            + QUANT_WORDS[quant].format("torch"),
            Scheme.INT8_CHANNEL,
            Origin.LIBRARY,
            "dashdot" if quant else "dot",
            "triangle-down",
            quant_timed=quant,
        ),
        compute=Compute.INT8,
        setup=lambda p, ctx: _setup_int_mm(p, ctx, quant),
        reference=_ref_int8_channel,
        bytes_moved=lambda p, od: bytes_8bit(p, od, quant),
        requires=(Requirement.INT_MM,),
        library=True,
    )


PROVIDERS = [
    TORCH_BF16,
    *(_scaled_mm_provider(q, r) for q in (True, False) for r in (False, True)),
    *(_cublas_block_provider(q) for q in (True, False)),
    CUBLAS_BLOCK_V2,
    *(_int_mm_provider(q) for q in (True, False)),
]
