"""The faster block W8A8 kernels (split-K / swap-AB, persistent / TMA) against the fp32 reference.

Same bounds as tests/kernels/test_w8a8_block.py: ``kernels.reference.tolerance(out_dtype)`` = unit
roundoff of the output dtype + 1e-3 for accumulation. Every case uses fresh random data and a
NaN-poisoned output. On the CPU the kernels run in Triton's interpreter with a small "SM count"
(8 for split-K, 4 for persistent), so the tiny shapes here still take several K splits and
several tiles per persistent program; the persistent kernel's TMA-descriptor path runs where K
rows are 16-byte aligned and its pointer path elsewhere. Tests marked ``gpu`` run real DeepSeek
V3 TP 8 sizes on a CUDA GPU.
"""

from __future__ import annotations

import pytest
import torch

from kernels.reference import relative_error, tolerance, w8a8_block_reference
from kernels.w8a8_block_persistent import (
    default_persistent_config,
    tma_compatible,
    w8a8_block_persistent_matmul,
)
from kernels.w8a8_block_splitk import (
    choose_split_k,
    default_splitk_config,
    w8a8_block_splitk_matmul,
)
from tests.kernels.cases import OUT_DTYPES, make_w8a8_operands, poisoned

SHAPES = [  # (M, N, K): M = 1, ragged M / N / K (K = 300: no TMA), several K tiles
    (1, 64, 256),
    (37, 200, 300),
    (65, 130, 384),
]
SMALL = dict(
    BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=1, num_warps=4, num_stages=2
)
MID = dict(
    BLOCK_SIZE_M=32, BLOCK_SIZE_N=64, BLOCK_SIZE_K=128, GROUP_SIZE_M=2, num_warps=4, num_stages=3
)
SPLITK_CONFIGS = {
    "bk64-auto": SMALL,
    "bk128-auto": MID,
    "bk64-split1": {**SMALL, "SPLIT_K": 1},
    "bk128-split3": {**MID, "SPLIT_K": 3},
}
PERSISTENT_CONFIGS = {
    "bk64": SMALL,
    "bk128-g2": MID,
    "flatten": {**MID, "FLATTEN": 1},
    "pointers": {**SMALL, "USE_TMA": 0},
}
# Each config runs with one output dtype (all three covered), which keeps the interpreter
# run short: the dtype only changes the final cast, the configs change the tiling.
SPLITK_CASES = [(cfg, OUT_DTYPES[i % 3]) for i, cfg in enumerate(SPLITK_CONFIGS.values())]
PERSISTENT_CASES = [(cfg, OUT_DTYPES[i % 3]) for i, cfg in enumerate(PERSISTENT_CONFIGS.values())]


def _ids(configs: dict, cases: list) -> list[str]:
    return [f"{k}-{str(d)[6:]}" for k, (_, d) in zip(configs, cases, strict=True)]


KERNELS = {"splitk": w8a8_block_splitk_matmul, "persistent": w8a8_block_persistent_matmul}


def _check(kernel, qtype, out_dtype, M, N, K, config, rng, device):
    A, B, As, Bs = make_w8a8_operands(M, N, K, qtype, rng, device)
    out = poisoned((M, N), out_dtype, device)
    C = kernel(A, B, As, Bs, (128, 128), out_dtype, config=config, out=out)
    assert C.data_ptr() == out.data_ptr()
    assert torch.isfinite(C).all(), "some outputs were never written"
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs))
    assert err <= tolerance(out_dtype), f"rel error {err:.2e} > {tolerance(out_dtype):.2e}"


@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("config, out_dtype", SPLITK_CASES, ids=_ids(SPLITK_CONFIGS, SPLITK_CASES))
def test_splitk_matches_reference(out_dtype, M, N, K, config, rng, device):
    _check(w8a8_block_splitk_matmul, "fp8", out_dtype, M, N, K, config, rng, device)


@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize(
    "config, out_dtype", PERSISTENT_CASES, ids=_ids(PERSISTENT_CONFIGS, PERSISTENT_CASES)
)
def test_persistent_matches_reference(out_dtype, M, N, K, config, rng, device):
    _check(w8a8_block_persistent_matmul, "fp8", out_dtype, M, N, K, config, rng, device)


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize("M, N, K", [(1, 200, 300), (37, 130, 384)])
def test_int8_and_default_config(kernel, M, N, K, rng, device):
    _check(kernel, "int8", torch.bfloat16, M, N, K, None, rng, device)
    _check(kernel, "fp8", torch.bfloat16, M, N, K, None, rng, device)


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
def test_small_weight_block_and_column_major_scales(kernel, rng, device):
    """64 x 64 weight blocks (two scale blocks per 128-wide tile are impossible: BK = 64) and
    cuBLASLt's column-major activation scales (strides (1, M))."""
    M, N, K, block = 20, 100, 256, (64, 64)
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, device, block_size=block)
    As_cm = As.t().contiguous().t()
    assert As_cm.stride() == (1, M)
    cfg = {**SMALL, "BLOCK_SIZE_K": 64}
    C = kernel(
        A,
        B,
        As_cm,
        Bs,
        block,
        torch.bfloat16,
        config=cfg,
        out=poisoned((M, N), torch.bfloat16, device),
    )
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs, block))
    assert err <= tolerance(torch.bfloat16)


def test_splitk_is_deterministic(rng, device):
    """Fixed-order reduction: two runs with several splits are bitwise equal."""
    M, N, K = 3, 96, 1024
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, device)
    assert choose_split_k(M, N, K, SMALL, num_sms=8) > 1
    runs = [
        w8a8_block_splitk_matmul(
            A,
            B,
            As,
            Bs,
            out_dtype=torch.float32,
            config=SMALL,
            out=poisoned((M, N), torch.float32, device),
            num_sms=8,
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    assert relative_error(runs[0], w8a8_block_reference(A, B, As, Bs)) <= tolerance(torch.float32)


def test_wrong_scale_is_detected(rng, device):
    M, N, K = 16, 256, 256
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, device)
    Bs_bad = Bs.clone()
    Bs_bad[1, 0] *= 2
    for kernel in KERNELS.values():
        C = kernel(A, B, As, Bs, config=MID)
        assert relative_error(C, w8a8_block_reference(A, B, As, Bs_bad)) > 10 * tolerance(C.dtype)


def test_choose_split_k():
    cfg = default_splitk_config(1)  # BN 128, BK 128
    # 4608 x 7168 on 132 SMs: 36 tiles -> ceil(264 / 36) = 8 splits of 7 K tiles (56 in all).
    assert choose_split_k(1, 4608, 7168, cfg, 132) == 8
    # Enough tiles already: no split, no second kernel.
    assert choose_split_k(1, 24576, 7168, cfg, 132) == 1
    # 7168 x 2304: 56 tiles -> want 5; 18 K tiles -> 4 per split -> 5 non-empty splits.
    assert choose_split_k(1, 7168, 2304, cfg, 132) == 5
    # At most k_tiles / 2 splits; an explicit SPLIT_K is clamped to the K tiles and equalised.
    assert choose_split_k(1, 128, 256, cfg, 132) == 1
    assert choose_split_k(1, 4608, 7168, {**cfg, "SPLIT_K": 1000}, 132) == 56
    assert choose_split_k(1, 4608, 7168, {**cfg, "SPLIT_K": 30}, 132) == 28  # 2 K tiles each


def test_tma_path_selection(device):
    g = torch.Generator().manual_seed(0)
    A, B, _, _ = make_w8a8_operands(4, 64, 256, "fp8", g, device)
    assert tma_compatible(A, B)
    A2, B2, _, _ = make_w8a8_operands(4, 64, 300, "fp8", g, device)
    assert not tma_compatible(A2, B2)  # 300-byte rows are not 16-byte aligned


@pytest.mark.parametrize("kernel", KERNELS.values(), ids=KERNELS.keys())
@pytest.mark.parametrize(
    "update, match",
    [
        (dict(config={**MID, "BLOCK_SIZE_K": 256}), "BLOCK_SIZE_K=256 must divide"),
        (dict(config={**MID, "BOGUS": 1}), "unknown key"),
        (dict(out=torch.empty(3, 3)), "out: shape"),
        (dict(block_size=(128,)), "block_size"),
    ],
    ids=["BK", "unknown-key", "out-shape", "block"],
)
def test_invalid_arguments_name_the_argument(kernel, update, match, device):
    g = torch.Generator().manual_seed(0)
    A, B, As, Bs = make_w8a8_operands(8, 64, 256, "fp8", g, device)
    args = dict(A=A, B=B, As=As, Bs=Bs, block_size=(128, 128), out_dtype=torch.bfloat16)
    args.update(update)
    with pytest.raises(ValueError, match=match):
        kernel(**args)


def test_extra_keys_are_validated(device):
    g = torch.Generator().manual_seed(0)
    A, B, As, Bs = make_w8a8_operands(8, 64, 256, "fp8", g, device)
    with pytest.raises(ValueError, match="SPLIT_K=0"):
        w8a8_block_splitk_matmul(A, B, As, Bs, config={**MID, "SPLIT_K": 0})
    with pytest.raises(ValueError, match="FLATTEN=2"):
        w8a8_block_persistent_matmul(A, B, As, Bs, config={**MID, "FLATTEN": 2})


# --- Real sizes on a GPU ---------------------------------------------------------------------

DSV3_TP8 = [(4608, 7168), (7168, 2304), (3072, 1536), (2112, 7168), (24576, 7168)]


@pytest.mark.gpu
@pytest.mark.parametrize("N, K", DSV3_TP8)
@pytest.mark.parametrize("M", [1, 16, 64])
def test_gpu_splitk_real_sizes(N, K, M, rng):
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, "cuda")
    ref = w8a8_block_reference(A, B, As, Bs)
    runs = []
    for _ in range(2):
        out = poisoned((M, N), torch.bfloat16, "cuda")
        runs.append(
            w8a8_block_splitk_matmul(A, B, As, Bs, config=default_splitk_config(M), out=out)
        )
    assert torch.equal(runs[0], runs[1]), "split-K is not deterministic"
    assert relative_error(runs[0], ref) <= tolerance(torch.bfloat16)


@pytest.mark.gpu
@pytest.mark.parametrize("N, K", DSV3_TP8)
@pytest.mark.parametrize("M", [1, 1024, 4096])
@pytest.mark.parametrize("flatten", [0, 1])
def test_gpu_persistent_real_sizes(N, K, M, flatten, rng):
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, "cuda")
    out = poisoned((M, N), torch.bfloat16, "cuda")
    C = w8a8_block_persistent_matmul(
        A, B, As, Bs, config={**default_persistent_config(), "FLATTEN": flatten}, out=out
    )
    assert relative_error(C, w8a8_block_reference(A, B, As, Bs)) <= tolerance(torch.bfloat16)
