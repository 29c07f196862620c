"""Kernels the tuner can tune, declared once each.

A ``Tunable`` says how to build random operands for a task, run the kernel with a config,
compute the fp32 reference, compile a config ahead of time, and count flops and bytes. The
tuner, the compile-ahead pool and the workers only talk to this interface, so a new kernel
(e.g. the faster ones of issue 5) becomes tunable by registering one more entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from generator.configs.spaces.vllm import full_space
from generator.errors import UserError
from generator.tune.tasks import Task
from kernels.a16w8_batched import (
    a16w8_batched_bytes,
    a16w8_batched_flops,
    a16w8_batched_matmul,
    compile_a16w8_batched,
    default_a16w8_config,
)
from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.reference import a16w8_batched_reference, w8a8_block_reference
from kernels.tiling import default_w8a8_config
from kernels.validation import FP8_DTYPE
from kernels.w8a8_block import (
    compile_w8a8_block,
    w8a8_block_bytes,
    w8a8_block_flops,
    w8a8_block_matmul,
)

QUANT_DTYPES = {"fp8": FP8_DTYPE, "int8": torch.int8}
OUT_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}

Operands = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Tunable:
    name: str
    input_types: tuple[str, ...]
    a_bytes: Callable[[Task], int]  # element size of the A operand in shared memory
    make_operands: Callable[[Task, torch.Generator, str], Operands]
    run: Callable[[Task, Operands, dict[str, int], torch.Tensor], torch.Tensor]
    new_output: Callable[[Task, str], torch.Tensor]
    reference: Callable[[Task, Operands], torch.Tensor]
    compile: Callable[[Task, dict[str, int]], None]
    default_config: Callable[[Task], dict[str, int]]
    flops: Callable[[Task], int]
    bytes: Callable[[Task], int]
    # The configs to search (before pruning): vLLM's space unless a kernel has its own knobs.
    space: Callable[[], list[dict[str, int]]] = full_space
    # Batched over B (the MLA shapes of a model) rather than one (N, K) weight per layer.
    batched: bool = False


def _randn(shape: tuple[int, ...], g: torch.Generator, device: str) -> torch.Tensor:
    return torch.randn(shape, generator=g, device=device)


# --- W8A8 block-scaled GEMM (the drop-in kernel) -------------------------------------------


def _w8a8_operands(task: Task, g: torch.Generator, device: str) -> Operands:
    qdtype = QUANT_DTYPES[task.input_type]
    A, As = per_token_group_quant(_randn((task.M, task.K), g, device), task.block_k, qdtype)
    B, Bs = quantize_weight_blockwise(
        _randn((task.N, task.K), g, device) * 0.05, task.block, qdtype
    )
    return {"A": A, "B": B, "As": As, "Bs": Bs}


W8A8_BLOCK = Tunable(
    name="w8a8_block",
    input_types=("fp8", "int8"),
    a_bytes=lambda t: 1,
    make_operands=_w8a8_operands,
    run=lambda t, o, cfg, out: w8a8_block_matmul(
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out
    ),
    new_output=lambda t, dev: torch.empty((t.M, t.N), dtype=OUT_DTYPES[t.out_dtype], device=dev),
    reference=lambda t, o: w8a8_block_reference(o["A"], o["B"], o["As"], o["Bs"], t.block),
    compile=lambda t, cfg: compile_w8a8_block(
        t.M, t.N, t.K, QUANT_DTYPES[t.input_type], OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_w8a8_config(t.block_n, t.block_k),
    flops=lambda t: w8a8_block_flops(t.M, t.N, t.K),
    bytes=lambda t: w8a8_block_bytes(t.M, t.N, t.K, OUT_DTYPES[t.out_dtype], t.block),
)


# --- Batched A16W8 (DeepSeek-R1 MLA) --------------------------------------------------------


def _a16w8_operands(task: Task, g: torch.Generator, device: str) -> Operands:
    X = _randn((task.B, task.M, task.K), g, device).to(OUT_DTYPES[task.out_dtype])
    W, Ws = quantize_weight_blockwise(
        _randn((task.B, task.N, task.K), g, device) * 0.05, task.block
    )
    return {"X": X, "W": W, "Ws": Ws}


A16W8_BATCHED = Tunable(
    name="a16w8_batched",
    input_types=("bf16",),
    a_bytes=lambda t: 2,
    make_operands=_a16w8_operands,
    run=lambda t, o, cfg, out: a16w8_batched_matmul(
        o["X"], o["W"], o["Ws"], t.block, config=cfg, out=out
    ),
    new_output=lambda t, dev: torch.empty(
        (t.B, t.M, t.N), dtype=OUT_DTYPES[t.out_dtype], device=dev
    ),
    reference=lambda t, o: a16w8_batched_reference(o["X"], o["W"], o["Ws"], t.block),
    compile=lambda t, cfg: compile_a16w8_batched(
        t.B, t.M, t.N, t.K, OUT_DTYPES[t.out_dtype], OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_a16w8_config(t.block_n, t.block_k),
    flops=lambda t: a16w8_batched_flops(t.B, t.M, t.N, t.K),
    bytes=lambda t: a16w8_batched_bytes(t.B, t.M, t.N, t.K, 2, t.block),
    batched=True,
)

TUNABLES: dict[str, Tunable] = {t.name: t for t in (W8A8_BLOCK, A16W8_BATCHED)}


def get_tunable(name: str) -> Tunable:
    if name not in TUNABLES:
        import generator.tune.fast_tunables  # noqa: F401  (registers our own faster kernels)
    try:
        return TUNABLES[name]
    except KeyError:
        raise UserError(f"unknown kernel '{name}'; tunable: {', '.join(TUNABLES)}") from None


def register(tunable: Tunable) -> Tunable:
    """Add a kernel of our own (issue 5 kernels register here); names must be unique."""
    if tunable.name in TUNABLES:
        raise ValueError(f"tunable '{tunable.name}' is already registered")
    TUNABLES[tunable.name] = tunable
    return tunable
