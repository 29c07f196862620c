"""The fused decode kernel (quantization + split-K in one launch) against the fp32 reference
and against the unfused path (quantize, then the split-K kernel).

Bounds as everywhere: ``kernels.reference.tolerance(out_dtype)``. Fresh random data and
NaN-poisoned outputs in every case. On the CPU the kernels run in Triton's interpreter (with a
small SM count for split-K, so tiny shapes still split K); ``gpu`` tests run DeepSeek-V3 TP 8
sizes. The decode kernel's reference is the same fp32 GEMM of the activation quantized by
:func:`kernels.quant.per_token_group_quant`: fusing the quantization must not change it.
"""

from __future__ import annotations

import pytest
import torch

from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.reference import relative_error, tolerance, w8a8_block_reference
from kernels.validation import FP8_DTYPE
from kernels.w8a8_block_decode import (
    _COUNTERS,
    default_decode_config,
    w8a8_block_decode_matmul,
)
from kernels.w8a8_block_splitk import choose_split_k, w8a8_block_splitk_matmul
from tests.kernels.cases import OUT_DTYPES, poisoned, spread_randn

SMALL = dict(
    BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=128, GROUP_SIZE_M=1, num_warps=4, num_stages=2
)


def _decode_operands(M, N, K, rng, device, x_dtype=torch.bfloat16):
    X = spread_randn(M, K, g=rng).to(device=device, dtype=x_dtype)
    B, Bs = quantize_weight_blockwise(spread_randn(N, K, g=rng).to(device), (128, 128), FP8_DTYPE)
    A, As = per_token_group_quant(X, 128, FP8_DTYPE)
    return X, B, Bs, A, As


@pytest.mark.parametrize(
    "M, N, K, config, out_dtype",
    [
        (1, 64, 256, SMALL, OUT_DTYPES[0]),  # M = 1, one tile, two splits
        (5, 200, 300, SMALL, OUT_DTYPES[1]),  # ragged N and K (K tail masked)
        (37, 130, 640, {**SMALL, "BLOCK_SIZE_M": 32}, OUT_DTYPES[2]),  # several M tiles, 5 K tiles
        (3, 96, 512, {**SMALL, "SPLIT_K": 1}, torch.bfloat16),  # no split: direct store
    ],
    ids=["m1", "ragged", "mtiles", "split1"],
)
def test_decode_matches_reference(M, N, K, config, out_dtype, rng, device):
    X, B, Bs, A, As = _decode_operands(M, N, K, rng, device)
    out = poisoned((M, N), out_dtype, device)
    C = w8a8_block_decode_matmul(X, B, Bs, out_dtype=out_dtype, config=config, out=out, num_sms=8)
    assert C.data_ptr() == out.data_ptr()
    assert torch.isfinite(C).all(), "some outputs were never written"
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs))
    assert err <= tolerance(out_dtype), f"rel error {err:.2e} > {tolerance(out_dtype):.2e}"


def test_decode_equals_quantize_then_splitk_bitwise(rng, device):
    """Same quantization formula and the same fixed-order reduction as the unfused path."""
    M, N, K = 4, 96, 1024
    X, B, Bs, A, As = _decode_operands(M, N, K, rng, device)
    assert choose_split_k(M, N, K, SMALL, num_sms=8) > 1
    fused = w8a8_block_decode_matmul(X, B, Bs, out_dtype=torch.float32, config=SMALL, num_sms=8)
    unfused = w8a8_block_splitk_matmul(
        A, B, As, Bs, out_dtype=torch.float32, config=SMALL, num_sms=8
    )
    assert torch.equal(fused, unfused)


def test_decode_is_deterministic_and_leaves_counters_at_zero(rng, device):
    M, N, K = 3, 160, 1024
    X, B, Bs, _, _ = _decode_operands(M, N, K, rng, device)
    runs = [
        w8a8_block_decode_matmul(
            X,
            B,
            Bs,
            out_dtype=torch.float32,
            config=SMALL,
            out=poisoned((M, N), torch.float32, device),
            num_sms=8,
        )
        for _ in range(3)
    ]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[1], runs[2])
    counters = _COUNTERS[torch.device(device) if device == "cpu" else runs[0].device]
    assert int(counters.abs().sum()) == 0


def test_decode_all_zero_token_and_fp16_input(rng, device):
    """A zero row takes the eps scale (finite, zero output); fp16 activations work as well."""
    M, N, K = 6, 64, 384
    X, B, Bs, _, _ = _decode_operands(M, N, K, rng, device, x_dtype=torch.float16)
    X[2] = 0
    A, As = per_token_group_quant(X, 128, FP8_DTYPE)
    C = w8a8_block_decode_matmul(
        X, B, Bs, config=SMALL, num_sms=8, out=poisoned((M, N), torch.bfloat16, device)
    )
    assert torch.equal(C[2], torch.zeros_like(C[2]))
    assert relative_error(C, w8a8_block_reference(A, B, As, Bs)) <= tolerance(torch.bfloat16)


@pytest.mark.parametrize(
    "update, match",
    [
        (dict(config={**SMALL, "BLOCK_SIZE_K": 64}), "must equal the quantization group"),
        (dict(config={**SMALL, "SPLIT_K": 0}), "SPLIT_K=0"),
        (dict(B="int8"), "B: dtype"),
        (dict(X="fp8"), "X: dtype"),
        (dict(block_size=(128,)), "block_size"),
    ],
    ids=["BK", "split0", "int8", "prequantized", "block"],
)
def test_decode_invalid_arguments_name_the_argument(update, match, device):
    g = torch.Generator().manual_seed(0)
    X, B, Bs, A, _ = _decode_operands(4, 64, 256, g, device)
    args = dict(X=X, B=B, Bs=Bs, block_size=(128, 128), config=SMALL)
    if update.pop("B", None):
        args["B"] = B.view(torch.int8)
    if update.pop("X", None):
        args["X"] = A
    args.update(update)
    with pytest.raises(ValueError, match=match):
        w8a8_block_decode_matmul(**args)


# --- Real sizes on a GPU ---------------------------------------------------------------------

DSV3_TP8 = [
    (4608, 7168),
    (7168, 2304),
    (3072, 1536),
    (2112, 7168),
    (512, 7168),
    (24576, 7168),
    (7168, 256),
]


@pytest.mark.gpu
@pytest.mark.parametrize("N, K", DSV3_TP8)
@pytest.mark.parametrize("M", [1, 3, 16, 64])
def test_gpu_decode_real_sizes(N, K, M, rng):
    X, B, Bs, A, As = _decode_operands(M, N, K, rng, "cuda")
    ref = w8a8_block_reference(A, B, As, Bs)
    cfg = default_decode_config(M)
    runs = [
        w8a8_block_decode_matmul(X, B, Bs, config=cfg, out=poisoned((M, N), torch.bfloat16, "cuda"))
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1]), "decode split-K is not deterministic"
    assert relative_error(runs[0], ref) <= tolerance(torch.bfloat16)
    unfused = w8a8_block_splitk_matmul(A, B, As, Bs, config=cfg)
    assert torch.equal(runs[0], unfused), "fusing the quantization changed the result"
