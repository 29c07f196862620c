"""Block-scaled W8A8 GEMM against the fp32 reference (interpreter on CPU, or the GPU).

Error bound: ``kernels.reference.tolerance(out_dtype)`` = unit roundoff of the output dtype
(rounding a correct fp32 result can move the Frobenius error by at most that) + 1e-3 for
accumulation (Hopper's FP8 MMA accumulates each K tile with ~14 mantissa bits before the fp32
promotion). A wrong scale index, a skipped K tile or a wrapped row gives errors >= 1e-2.
"""

from __future__ import annotations

import pytest
import torch

from kernels import default_w8a8_config, pick_config, w8a8_block_matmul
from kernels.quant import per_token_group_quant_reference, quantize_weight_blockwise
from kernels.reference import relative_error, tolerance, w8a8_block_reference
from tests.kernels.cases import OUT_DTYPES, make_w8a8_operands, poisoned

SHAPES = [  # (M, N, K): M = 1, ragged M / N / K, several K tiles
    (1, 64, 256),
    (37, 200, 300),
    (65, 130, 384),
]
CONFIGS = [
    dict(
        BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=1, num_warps=4, num_stages=2
    ),
    dict(
        BLOCK_SIZE_M=32,
        BLOCK_SIZE_N=64,
        BLOCK_SIZE_K=128,
        GROUP_SIZE_M=4,
        num_warps=4,
        num_stages=3,
    ),
]


@pytest.mark.parametrize("qtype", ["fp8", "int8"])
@pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("config", CONFIGS, ids=["bk64-g1", "bk128-g4"])
def test_matches_reference(qtype, out_dtype, M, N, K, config, rng, device):
    A, B, As, Bs = make_w8a8_operands(M, N, K, qtype, rng, device)
    out = poisoned((M, N), out_dtype, device)
    C = w8a8_block_matmul(A, B, As, Bs, (128, 128), out_dtype, config=config, out=out)
    assert C.data_ptr() == out.data_ptr()
    assert torch.isfinite(C).all(), "some outputs were never written"
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs))
    assert err <= tolerance(out_dtype), f"rel error {err:.2e} > {tolerance(out_dtype):.2e}"


@pytest.mark.parametrize("qtype", ["fp8", "int8"])
def test_default_config_and_small_weight_block(qtype, rng, device):
    # Default config (BM 64, BN = bn, BK = bk) with a 64 x 64 weight block, M = 1.
    M, N, K, block = 1, 100, 200, (64, 64)
    A, B, As, Bs = make_w8a8_operands(M, N, K, qtype, rng, device, block_size=block)
    C = w8a8_block_matmul(
        A, B, As, Bs, block, torch.bfloat16, out=poisoned((M, N), torch.bfloat16, device)
    )
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs, block))
    assert err <= tolerance(torch.bfloat16)


def test_column_major_activation_scales(rng, device):
    """Scale strides are honoured (cuBLASLt's layout: As with strides (1, M))."""
    M, N, K = 20, 96, 256
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, device)
    As_cm = As.t().contiguous().t()
    assert As_cm.stride() == (1, M)
    C = w8a8_block_matmul(A, B, As_cm, Bs, config=CONFIGS[0])
    assert relative_error(C, w8a8_block_reference(A, B, As, Bs)) <= tolerance(torch.bfloat16)


def test_wrong_scale_is_detected(rng, device):
    """The check can fail: a perturbed weight scale gives an error far above the bound."""
    M, N, K = 16, 256, 256
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, device)
    C = w8a8_block_matmul(A, B, As, Bs, config=CONFIGS[1])
    Bs_bad = Bs.clone()
    Bs_bad[1, 0] *= 2
    assert relative_error(C, w8a8_block_reference(A, B, As, Bs_bad)) > 10 * tolerance(C.dtype)


def _operands(device, M=8, N=64, K=256):
    g = torch.Generator().manual_seed(0)
    return make_w8a8_operands(M, N, K, "fp8", g, device)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda a: a.update(A=a["A"].to(torch.float16)), "A: dtype"),
        (lambda a: a.update(B=a["B"].view(torch.int8)), "B: dtype"),
        (lambda a: a.update(As=a["As"][:, :1]), "As: shape"),
        (lambda a: a.update(Bs=a["Bs"].double()), "Bs: dtype"),
        (lambda a: a.update(B=a["B"][:, :128]), "B: shape"),
        (lambda a: a.update(A=a["A"].t().contiguous().t()), "A: last dimension"),
        (lambda a: a.update(out_dtype=torch.int32), "out_dtype"),
        (lambda a: a.update(block_size=(128,)), "block_size"),
        (
            lambda a: a.update(config={**default_w8a8_config(), "BLOCK_SIZE_K": 256}),
            "BLOCK_SIZE_K=256 must divide",
        ),
        (lambda a: a.update(config={**default_w8a8_config(), "BLOCK_SIZE_N": 48}), "power of two"),
        (lambda a: a.update(config={"BLOCK_SIZE_M": 16}), "missing key"),
        (lambda a: a.update(out=torch.empty(3, 3)), "out: shape"),
    ],
    ids=[
        "A-dtype",
        "B-dtype",
        "As-shape",
        "Bs-dtype",
        "B-K",
        "A-strides",
        "out-dtype",
        "block",
        "BK",
        "BN-pow2",
        "cfg-keys",
        "out-shape",
    ],
)
def test_invalid_arguments_name_the_argument(mutate, match, device):
    A, B, As, Bs = _operands(device)
    args = dict(A=A, B=B, As=As, Bs=Bs, block_size=(128, 128), out_dtype=torch.bfloat16)
    mutate(args)
    with pytest.raises(ValueError, match=match):
        w8a8_block_matmul(**args)


def test_cpu_tensors_rejected_without_interpreter(monkeypatch):
    g = torch.Generator().manual_seed(0)
    A, As = per_token_group_quant_reference(torch.randn(8, 256, generator=g))
    B, Bs = quantize_weight_blockwise(torch.randn(64, 256, generator=g))
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="CUDA device"):
        w8a8_block_matmul(A, B, As, Bs)


def test_pick_config_nearest_key_like_vllm():
    table = {
        "1": {"BLOCK_SIZE_M": 16},
        "8": {"BLOCK_SIZE_M": 32},
        "64": {"BLOCK_SIZE_M": 64},
        "4096": {"BLOCK_SIZE_M": 128},
    }
    assert pick_config(table, 1)["BLOCK_SIZE_M"] == 16
    assert pick_config(table, 5)["BLOCK_SIZE_M"] == 32
    assert pick_config(table, 36)["BLOCK_SIZE_M"] == 32  # |36-8| = 28 = |36-64|: first wins
    assert pick_config(table, 37)["BLOCK_SIZE_M"] == 64
    assert pick_config(table, 100000)["BLOCK_SIZE_M"] == 128
    assert pick_config({64: {"x": 1}, 8: {"x": 2}}, 36) == {"x": 1}  # file order, not key order
    with pytest.raises(ValueError, match="empty"):
        pick_config({}, 1)
