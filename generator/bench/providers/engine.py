"""The Triton block W8A8 kernel as vLLM and SGLang run it, with every config table a user can
have: each engine's default (no file for the shape), the files each engine ships (reference
data, :mod:`generator.data.shipped`; nearest batch-size key, as the engine picks) and our tuned
files (what the catalog's bundles install). Same kernel, same inputs, one run: the tuned-vs-
shipped ratio is the gain of installing our files. Timed like vLLM's layer: per-token-group
quantization (Triton) + the GEMM."""

from __future__ import annotations

from collections.abc import Callable

import torch

from generator.bench.context import BenchContext
from generator.bench.problem import Problem
from generator.bench.provider import Prepared, Provider, Unsupported
from generator.bench.providers.common import (
    BLOCK,
    block_operands,
    block_provider,
    bytes_block,
    calls,
    group_quant_templates,
    info,
    output_template,
    work_of,
)
from generator.configs.keys import Config
from generator.data.lookup import tuned_config
from generator.data.records import Origin, Scheme
from generator.data.shipped import ShippedSet, shipped_sets
from generator.data.tasks import Task
from kernels.quant import per_token_group_quant
from kernels.tiling import default_w8a8_config, pick_config
from kernels.w8a8_block import w8a8_block_matmul


def lookup(kernel: str, input_type: str, p: Problem, ctx: BenchContext) -> Config | None:
    """The config ``kernel`` runs for this device, shape and M from the published tables
    (:func:`generator.data.lookup.tuned_config`), or None."""
    out_name = str(ctx.out_dtype).removeprefix("torch.")
    task = Task(kernel, input_type, out_name, *BLOCK, p.N, p.K, p.B, p.M)
    return tuned_config(ctx.site_data, ctx.device_name, task)


def prepare_block(
    p: Problem,
    ctx: BenchContext,
    input_type: str,
    cfg: Config,
    matmul: Callable[..., torch.Tensor] = w8a8_block_matmul,
) -> Prepared:
    """Timed: our per-token-group quant (Triton) + a block W8A8 kernel with ``cfg``, into the
    set's own quantized activation, scales and output (``BenchContext.rotate``)."""
    dtype, B, Bs = block_operands(ctx, input_type)
    out_dtype = ctx.out_dtype

    def run(
        x: torch.Tensor,
        B: torch.Tensor,
        Bs: torch.Tensor,
        A: torch.Tensor,
        As: torch.Tensor,
        out: torch.Tensor,
    ) -> torch.Tensor:
        per_token_group_quant(x, BLOCK[1], dtype, out=(A, As))
        return matmul(A, B, As, Bs, BLOCK, out_dtype, config=cfg, out=out)

    written = (*group_quant_templates(p, ctx, dtype), output_template(p, ctx))
    sets = ctx.rotate((ctx.x_bf16, B, Bs), bytes_block(p, out_dtype, True), written)
    work = work_of(matmul, cfg, "x_bf16", f"{input_type}_block")
    return Prepared(calls(sets, run), config=dict(cfg), work=work)


def _setup(p: Problem, ctx: BenchContext, input_type: str, tuned: bool) -> Prepared:
    if tuned:
        cfg = lookup("w8a8_block", input_type, p, ctx)
        if cfg is None:
            raise Unsupported("no tuned config for this device/shape")
    else:
        cfg = default_w8a8_config(*BLOCK)
    return prepare_block(p, ctx, input_type, cfg)


_STYLE = {
    ("fp8", False): ("dot", "diamond-open"),
    ("fp8", True): ("solid", "diamond"),
    ("int8", False): ("dot", "triangle-up-open"),
    ("int8", True): ("solid", "triangle-up"),
}


def _provider(input_type: str, tuned: bool) -> Provider:
    which = "tuned" if tuned else "default"
    return block_provider(
        info(
            f"triton-{input_type}-block-{which}",
            f"Triton {input_type.upper()} block, "
            + ("tuned" if tuned else "vLLM's default config"),
            f"the Triton block {input_type.upper()} kernel vLLM and SGLang run (128x128 weights, "
            "1x128 act), "
            + ("with the catalog's tuned config file" if tuned else "with vLLM's default config")
            + "; activation quant (Triton) timed",
            Scheme.FP8_BLOCK if input_type == "fp8" else Scheme.INT8_BLOCK,
            Origin.ENGINE,
            *_STYLE[(input_type, tuned)],
            installable=["vllm", "sglang"] if tuned else [],
            config_source=which,
            quant_timed=True,
        ),
        lambda p, ctx: _setup(p, ctx, input_type, tuned),
        input_type,
    )


def _setup_shipped(p: Problem, ctx: BenchContext, shipped: ShippedSet) -> Prepared:
    table = shipped.table(ctx.device_name, p.N, p.K, "fp8", BLOCK) if ctx.device_name else None
    if not table:
        raise Unsupported(
            f"{shipped.engine} {shipped.version} ships no file for this device and shape: it "
            f"runs its default config"
        )
    return prepare_block(p, ctx, "fp8", pick_config(table, p.M))


def _shipped_provider(shipped: ShippedSet) -> Provider:
    engine = {"vllm": "vLLM", "sglang": "SGLang"}.get(shipped.engine, shipped.engine)
    return block_provider(
        info(
            f"triton-fp8-block-{shipped.id}",
            f"Triton FP8 block, {engine} {shipped.version}'s shipped config",
            f"the Triton block FP8 kernel with the config file {engine} {shipped.version} ships "
            f"for this device and shape ({shipped.license}, {shipped.source}); nearest batch-"
            "size key, as the engine picks; activation quant (Triton) timed",
            Scheme.FP8_BLOCK,
            Origin.ENGINE,
            "dashdot",
            "diamond-tall",
            config_source=f"shipped:{shipped.id}",
            quant_timed=True,
        ),
        lambda p, ctx: _setup_shipped(p, ctx, shipped),
    )


def _setup_sglang_default(p: Problem, ctx: BenchContext) -> Prepared:
    sglang = next(s for s in shipped_sets() if s.engine == "sglang")
    return prepare_block(p, ctx, "fp8", sglang.default_config(BLOCK))


SGLANG_DEFAULT = block_provider(
    info(
        "triton-fp8-block-sglang-default",
        "Triton FP8 block, SGLang's default config",
        "the Triton block FP8 kernel with SGLang's default config (vLLM's with 3 stages), what "
        "SGLang runs for a shape it has no file for; activation quant (Triton) timed",
        Scheme.FP8_BLOCK,
        Origin.ENGINE,
        "dot",
        "diamond-wide",
        config_source="default:sglang",
        quant_timed=True,
    ),
    _setup_sglang_default,
)

PROVIDERS = [
    *(_provider(t, tuned) for t in ("fp8", "int8") for tuned in (False, True)),
    *(_shipped_provider(s) for s in shipped_sets()),
    SGLANG_DEFAULT,
]
