"""What the engines run by default where it is not the Triton kernel: DeepGEMM and FlashInfer.

On Hopper and Blackwell, for bf16 output with N % 64 == 0 and K % 128 == 0, vLLM 0.33.0 runs
DeepGEMM for M >= 32 (FlashInfer's swap-AB kernel below that, on Hopper) and SGLang 0.5.23
runs DeepGEMM at every M (``generator/data/reference/dispatch_rules.json``, with sources).
These providers time that, so the catalog compares our files against what users run today:

* ``deepgemm-fp8-block``: as vLLM runs it. Activations quantized per token and group of 128
  into DeepGEMM's layout (MN-major, TMA-aligned scales, rounded up to powers of two because
  vLLM's default is ``VLLM_USE_DEEP_GEMM_E8M0=1``; packed UE8M0 on Blackwell), then
  ``deep_gemm.fp8_gemm_nt`` into a bf16 output (``DeepGemmFp8BlockScaledMMKernel`` and
  ``_dynamic_flashinfer_deepgemm_blockscale_gemm_impl`` in
  ``vllm/model_executor/kernels/linear/scaled_mm/``). The weights are the checkpoint's,
  re-quantized with power-of-two block scales and passed through DeepGEMM's
  ``transform_sf_into_required_layout``, as vLLM does once at load
  (``deepgemm_post_process_fp8_weight_block``). The quantization is our Triton kernel
  (``kernels.quant_deepgemm``) standing in for vLLM's CUDA op, the same work into the same
  layout. SGLang's DeepGEMM path on Hopper differs only in keeping fp32 (not power-of-two)
  scales, which does not change DeepGEMM's kernel or its time.
* ``deepgemm-fp8-block-noquant``: the GEMM alone on the same, pre-quantized operands (the
  kernel-time figure an independent harness measures).
* ``flashinfer-fp8-block-swapab``: vLLM's default below M = 32 on Hopper, which cannot be
  installed on the lent GPU machine: always "unsupported", with the reason and what stands in
  (from the dispatch rules, so the pages say the same).

Both DeepGEMM providers share one reference: the fp32 product of their own (power-of-two
scaled) operands. Which DeepGEMM ran is in the metadata (``ProviderInfo.library``).
"""

from __future__ import annotations

from types import ModuleType

import torch

from generator.bench import deep_gemm_lib
from generator.bench.context import BenchContext
from generator.bench.problem import Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement, Unsupported
from generator.bench.providers.common import (
    BLOCK,
    bytes_block,
    calls,
    fp8_block_weight,
    info,
    output_template,
)
from generator.data.dispatch import engine_rules
from generator.data.records import Origin, Scheme
from kernels.quant_deepgemm import (
    mn_major_storage,
    mn_major_view,
    per_token_group_quant_deepgemm,
    requantize_weight_ue8m0,
)
from kernels.reference import w8a8_block_reference

RECIPE = (1, *BLOCK)  # DeepGEMM's scale granularity: activations 1 x 128, weights 128 x 128


def packed_scales(ctx: BenchContext) -> bool:
    """Blackwell (compute capability 10.x) takes packed UE8M0 scales; Hopper fp32."""
    return ctx.on_cuda and torch.cuda.get_device_capability(ctx.device)[0] == 10


def _deep_gemm() -> ModuleType:
    try:
        module, _ = deep_gemm_lib.load()
    except Exception as exc:
        raise Unsupported(deep_gemm_lib.problem() or str(exc)) from exc
    return module


def _check_output(ctx: BenchContext) -> None:
    if ctx.out_dtype != torch.bfloat16:
        raise Unsupported(
            "DeepGEMM writes bf16 output only (for fp16 vLLM runs CUTLASS, SGLang the Triton "
            "kernel)"
        )


def ue8m0_weight(ctx: BenchContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The checkpoint's block weights re-quantized with power-of-two scales (vLLM, at load)."""
    B, Bs = fp8_block_weight(ctx)
    return ctx.weight("fp8_block_ue8m0", lambda w: requantize_weight_ue8m0(B, Bs, BLOCK))


def ue8m0_act(ctx: BenchContext, packed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The activations quantized as vLLM's DeepGEMM path does (fp32 or packed scales)."""
    return ctx.act(
        f"fp8_group_ue8m0{'_packed' if packed else ''}",
        lambda x: per_token_group_quant_deepgemm(x, BLOCK[1], ue8m0=True, packed=packed),
    )


def deepgemm_weight_scales(ctx: BenchContext, dg: ModuleType) -> torch.Tensor:
    """The weight scales in the layout DeepGEMM computes with, made by DeepGEMM itself as vLLM
    does once at load (``deepgemm_post_process_weight_scale_block``): on Hopper the fp32 block
    scales, checked; on Blackwell packed UE8M0 per output row."""
    B, Bs = ue8m0_weight(ctx)
    N, K = B.shape

    def transform(w: torch.Tensor) -> torch.Tensor:
        sf = dg.transform_sf_into_required_layout(
            sf=Bs.unsqueeze(0),
            mn=N,
            k=K,
            recipe=RECIPE,
            num_groups=1,
            is_sfa=False,
            disable_ue8m0_cast=False,
        )
        return sf.squeeze(0)

    return ctx.weight(f"fp8_block_ue8m0_deepgemm_{dg.__name__}_{packed_scales(ctx)}", transform)


def _gemm(dg: ModuleType, A, As, B, Bs, out: torch.Tensor) -> torch.Tensor:
    """vLLM's call: ``fp8_gemm_nt((A, As), (B, Bs), out)`` with the UE8M0 cast on
    (``disable_ue8m0_cast = not is_deep_gemm_e8m0_used()``, False by default), into the
    set's own output (vLLM allocates it just before; ``BenchContext.rotate`` says why not)."""
    dg.fp8_gemm_nt((A, As), (B, Bs), out, disable_ue8m0_cast=False)
    return out


def _setup(p: Problem, ctx: BenchContext, quant: bool) -> Prepared:
    _check_output(ctx)
    dg = _deep_gemm()
    packed = packed_scales(ctx)
    B, _ = ue8m0_weight(ctx)
    sfb = deepgemm_weight_scales(ctx, dg)
    nbytes = bytes_block(p, ctx.out_dtype, quant)
    A, As = ue8m0_act(ctx, packed)
    rows = A.shape[0]
    # The scales are rotated as their dense buffer: a clone of the gapped MN-major view
    # would be repacked, and DeepGEMM would copy it back inside the timed call.
    storage = mn_major_storage(As)
    out = output_template(p, ctx)
    if quant:

        def run(
            x: torch.Tensor,
            B: torch.Tensor,
            sfb: torch.Tensor,
            A: torch.Tensor,
            storage: torch.Tensor,
            out: torch.Tensor,
        ) -> torch.Tensor:
            A, As = per_token_group_quant_deepgemm(
                x, BLOCK[1], ue8m0=True, packed=packed, out=(A, storage)
            )
            return _gemm(dg, A, As, B, sfb, out)

        sets = ctx.rotate((ctx.x_bf16, B, sfb), nbytes, written=(A, storage, out))
        return Prepared(calls(sets, run))

    def run_noquant(
        A: torch.Tensor,
        storage: torch.Tensor,
        B: torch.Tensor,
        sfb: torch.Tensor,
        out: torch.Tensor,
    ) -> torch.Tensor:
        return _gemm(dg, A, mn_major_view(storage, rows), B, sfb, out)

    sets = ctx.rotate((A, storage, B, sfb), nbytes, written=(out,))
    return Prepared(calls(sets, run_noquant))


def deepgemm_reference(p: Problem, ctx: BenchContext) -> torch.Tensor:
    """fp32 product of the operands both DeepGEMM providers compute with: the power-of-two
    scaled activations and the re-quantized weights (the same values on Hopper and Blackwell;
    only the scales' storage differs)."""
    B, Bs = ue8m0_weight(ctx)
    A, As = ue8m0_act(ctx)
    return w8a8_block_reference(A, B, As, Bs, BLOCK)


_DEEPGEMM_BUILD = deep_gemm_lib.locate()
LIBRARY = _DEEPGEMM_BUILD.describe() if _DEEPGEMM_BUILD else None


def _deepgemm_provider(quant: bool) -> Provider:
    what = (
        "vLLM 0.33.0's path: per-token-group quant into DeepGEMM's layout (MN-major, "
        "TMA-aligned, power-of-two scales; our Triton kernel standing in for vLLM's CUDA op) "
        "then deep_gemm.fp8_gemm_nt; weights re-quantized with power-of-two block scales at "
        "load; activation quant timed"
        if quant
        else "deep_gemm.fp8_gemm_nt alone on the same pre-quantized operands; activations "
        "pre-quantized"
    )
    return Provider(
        info=info(
            "deepgemm-fp8-block" + ("" if quant else "-noquant"),
            "DeepGEMM FP8 block, as vLLM runs it" if quant else "DeepGEMM FP8 block, no act. quant",
            "DeepGEMM FP8 block-scaled GEMM (1x128 act, 128x128 weight), what vLLM (M from 32) "
            f"and SGLang run by default on Hopper and Blackwell for bf16 output: {what}",
            Scheme.FP8_BLOCK,
            Origin.LIBRARY,
            "solid" if quant else "dot",
            "star" if quant else "star-open",
            quant_timed=quant,
            library=LIBRARY,
        ),
        compute=Compute.FP8,
        setup=lambda p, ctx: _setup(p, ctx, quant),
        reference=deepgemm_reference,
        bytes_moved=lambda p, od: bytes_block(p, od, quant),
        requires=(Requirement.DEEP_GEMM,),
        library=True,
    )


def flashinfer_reason() -> str:
    """Why FlashInfer's swap-AB kernel is not measured, and what stands in: the dispatch rules'
    words, so the bench rows and the pages say the same."""
    backend = engine_rules("vllm", "0.33.0").backends["flashinfer-swapab"]
    return f"{backend.stand_in_reason}; stand-in: {backend.stand_in}"


def _setup_flashinfer(p: Problem, ctx: BenchContext) -> Prepared:
    raise Unsupported(flashinfer_reason())


FLASHINFER_SWAPAB = Provider(
    info=info(
        "flashinfer-fp8-block-swapab",
        "FlashInfer FP8 block swap-AB (vLLM, M under 32)",
        "FlashInfer's fp8_blockscale_gemm_sm90 on the bf16 input (it quantizes internally), "
        "vLLM 0.33.0's default for M under 32 on Hopper; not measured by this bench (always "
        "unsupported, with the reason): DeepGEMM as vLLM runs it stands in",
        Scheme.FP8_BLOCK,
        Origin.LIBRARY,
        "dashdot",
        "hexagram",
        quant_timed=True,
    ),
    compute=Compute.FP8,
    setup=_setup_flashinfer,
    reference=deepgemm_reference,
    bytes_moved=lambda p, od: bytes_block(p, od, True),
    library=True,
)

PROVIDERS = [_deepgemm_provider(True), _deepgemm_provider(False), FLASHINFER_SWAPAB]
