"""Register the faster kernels (block FP8: split-K and fused decode for small M, persistent and
the warp-specialized Gluon kernel for large M; batched A16W8: the swapped-operand kernel for
the MLA shapes) as Tunables.

    import generator.tune.fast_tunables  # noqa: F401  (idempotent: importing twice is harmless)

All take the operands, reference, flops and bytes of the drop-in ``w8a8_block`` Tunable. The
split-K and persistent kernels take the standard config keys, so vLLM's space and pruning apply
unchanged: the split-K kernel derives SPLIT_K from the shape and the SM count, the persistent
kernel its grid from the SM count, inside their wrappers. Two kernels bring their own search
space: the Gluon kernel (Hopper only) for its knobs (consumer warpgroups, LAG, ORDERED:
:func:`kernels.w8a8_block_gluon.gluon_space`), and the decode kernel, whose K tile is fixed at
the quantization group and whose SPLIT_K is a knob (:func:`kernels.w8a8_block_decode.decode_space`).
The decode kernel takes the bf16 activation itself (it quantizes inside), so its operands carry
X next to the (A, As) its reference uses. The swapped A16W8 kernel takes the operands,
reference, flops and bytes of the ``a16w8_batched`` Tunable and brings its own space
(:func:`kernels.a16w8_batched_swapped.swapped_space`: tiles per program is its knob).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from generator.tune.tunables import (
    A16W8_BATCHED,
    OUT_DTYPES,
    QUANT_DTYPES,
    TUNABLES,
    W8A8_BLOCK,
    Tunable,
    register,
)
from kernels.a16w8_batched_swapped import (
    a16w8_batched_swapped_matmul,
    compile_a16w8_batched_swapped,
    default_swapped_config,
    swapped_space,
)
from kernels.quant import per_token_group_quant
from kernels.w8a8_block_decode import (
    compile_w8a8_block_decode,
    decode_space,
    default_decode_config,
    w8a8_block_decode_matmul,
)
from kernels.w8a8_block_gluon import (
    compile_w8a8_block_gluon,
    default_gluon_config,
    gluon_space,
    w8a8_block_gluon_matmul,
)
from kernels.w8a8_block_persistent import (
    compile_w8a8_block_persistent,
    default_persistent_config,
    w8a8_block_persistent_matmul,
)
from kernels.w8a8_block_splitk import (
    compile_w8a8_block_splitk,
    default_splitk_config,
    w8a8_block_splitk_matmul,
)

W8A8_BLOCK_SPLITK = replace(
    W8A8_BLOCK,
    name="w8a8_block_splitk",
    run=lambda t, o, cfg, out: w8a8_block_splitk_matmul(
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out
    ),
    compile=lambda t, cfg: compile_w8a8_block_splitk(
        t.M, t.N, t.K, QUANT_DTYPES[t.input_type], OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_splitk_config(t.M),
)

W8A8_BLOCK_PERSISTENT = replace(
    W8A8_BLOCK,
    name="w8a8_block_persistent",
    run=lambda t, o, cfg, out: w8a8_block_persistent_matmul(
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out
    ),
    compile=lambda t, cfg: compile_w8a8_block_persistent(
        t.M, t.N, t.K, QUANT_DTYPES[t.input_type], OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_persistent_config(),
)

W8A8_BLOCK_GLUON = replace(
    W8A8_BLOCK,
    name="w8a8_block_gluon",
    input_types=("fp8",),
    run=lambda t, o, cfg, out: w8a8_block_gluon_matmul(
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out
    ),
    compile=lambda t, cfg: compile_w8a8_block_gluon(
        t.M, t.N, t.K, OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_gluon_config(),
    space=gluon_space,
)


def _decode_operands(task, g: torch.Generator, device: str) -> dict[str, torch.Tensor]:
    ops = W8A8_BLOCK.make_operands(task, g, device)
    X = torch.randn((task.M, task.K), generator=g, device=device).to(torch.bfloat16)
    A, As = per_token_group_quant(X, task.block_k, QUANT_DTYPES[task.input_type])
    return {**ops, "X": X, "A": A, "As": As}


W8A8_BLOCK_DECODE = replace(
    W8A8_BLOCK,
    name="w8a8_block_decode",
    input_types=("fp8",),
    a_bytes=lambda t: 2,  # the bf16 activation tile is what the program loads
    make_operands=_decode_operands,
    run=lambda t, o, cfg, out: w8a8_block_decode_matmul(
        o["X"], o["B"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out
    ),
    compile=lambda t, cfg: compile_w8a8_block_decode(
        t.M, t.N, t.K, torch.bfloat16, OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_decode_config(t.M),
    space=decode_space,
)


A16W8_BATCHED_SWAPPED = replace(
    A16W8_BATCHED,
    name="a16w8_batched_swapped",
    run=lambda t, o, cfg, out: a16w8_batched_swapped_matmul(
        o["X"], o["W"], o["Ws"], t.block, config=cfg, out=out
    ),
    compile=lambda t, cfg: compile_a16w8_batched_swapped(
        t.B, t.M, t.N, t.K, OUT_DTYPES[t.out_dtype], OUT_DTYPES[t.out_dtype], t.block, cfg
    ),
    default_config=lambda t: default_swapped_config(t.M),
    space=swapped_space,
)


def _register_once(tunable: Tunable) -> None:
    if tunable.name not in TUNABLES:
        register(tunable)


for _t in (
    W8A8_BLOCK_SPLITK,
    W8A8_BLOCK_PERSISTENT,
    W8A8_BLOCK_DECODE,
    W8A8_BLOCK_GLUON,
    A16W8_BATCHED_SWAPPED,
):
    _register_once(_t)
