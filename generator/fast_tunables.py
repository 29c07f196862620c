"""Register the faster block-FP8 kernels (split-K for small M, persistent for large M) as Tunables.

    import generator.fast_tunables  # noqa: F401  (idempotent: importing twice is harmless)

Both take the operands, reference, flops and bytes of the drop-in ``w8a8_block`` Tunable and the
standard config keys, so the standard space and pruning apply unchanged: the split-K kernel
derives SPLIT_K from the shape and the SM count, the persistent kernel its grid from the SM
count, inside their wrappers.
"""

from __future__ import annotations

from dataclasses import replace

from generator.tunables import (
    OUT_DTYPES,
    QUANT_DTYPES,
    TUNABLES,
    W8A8_BLOCK,
    Tunable,
    register,
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
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out),
    compile=lambda t, cfg: compile_w8a8_block_splitk(
        t.M, t.N, t.K, QUANT_DTYPES[t.input_type], OUT_DTYPES[t.out_dtype], t.block, cfg),
    default_config=lambda t: default_splitk_config(t.M),
)

W8A8_BLOCK_PERSISTENT = replace(
    W8A8_BLOCK,
    name="w8a8_block_persistent",
    run=lambda t, o, cfg, out: w8a8_block_persistent_matmul(
        o["A"], o["B"], o["As"], o["Bs"], t.block, OUT_DTYPES[t.out_dtype], config=cfg, out=out),
    compile=lambda t, cfg: compile_w8a8_block_persistent(
        t.M, t.N, t.K, QUANT_DTYPES[t.input_type], OUT_DTYPES[t.out_dtype], t.block, cfg),
    default_config=lambda t: default_persistent_config(),
)


def _register_once(tunable: Tunable) -> None:
    if tunable.name not in TUNABLES:
        register(tunable)


for _t in (W8A8_BLOCK_SPLITK, W8A8_BLOCK_PERSISTENT):
    _register_once(_t)
