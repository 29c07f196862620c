"""INT8 GEMM with asymmetric per-token activations (zero points) against its fp32 reference.

Error bound: ``kernels.reference.tolerance(out_dtype)``. The integer part (A @ B^T and the
zero-point correction a_zp * colsum_B) is exact in int32, so the only error is the fp32 scaling
and the output rounding; a wrong zero point, colsum or scale gives errors >= 1e-2.
"""

from __future__ import annotations

import pytest
import torch

from kernels.int8_azp import (
    int8_azp_matmul,
    int8_azp_reference,
    per_token_quant_int8_azp,
    per_token_quant_int8_azp_reference,
    quantize_weight_per_channel_int8,
    weight_colsum,
)
from kernels.reference import relative_error, tolerance
from tests.kernels.cases import poisoned, spread_randn

SHAPES = [  # (M, N, K): M = 1, ragged M / N / K, several K tiles
    (1, 64, 256),
    (37, 200, 300),
    (65, 130, 384),
]
SMALL_CONFIG = dict(
    BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=2, num_warps=4, num_stages=2
)


def _operands(M, N, K, g, device, shift=0.3):
    # Shifted activations (mostly positive, like post-SiLU), so the zero points are not trivial.
    x = (spread_randn(M, K, g=g) + shift).to(device)
    w = spread_randn(N, K, g=g).to(device)
    A, a_s, a_zp = per_token_quant_int8_azp(x)
    B, b_s = quantize_weight_per_channel_int8(w)
    return x, w, A, a_s, a_zp, B, b_s


@pytest.mark.parametrize("K", [1, 300, 1500])  # one element, ragged, more than one 1024 chunk
def test_quant_kernel_matches_torch(K, rng, device):
    x = spread_randn(7, K, g=rng).to(device) + 0.2
    x[3] = 0.0  # a constant row: finite scale, exact zero
    x[4] = x[4].abs()  # one-signed row: zero point at the bottom of the range
    q, s, zp = per_token_quant_int8_azp(x)
    q_ref, s_ref, zp_ref = per_token_quant_int8_azp_reference(x)
    assert torch.equal(q.cpu(), q_ref.cpu())
    assert torch.equal(s.cpu(), s_ref.cpu())
    assert torch.equal(zp.cpu(), zp_ref.cpu())
    assert int(zp.min()) >= -128 and int(zp.max()) <= 127
    deq = s[:, None] * (q.float() - zp[:, None].float())
    assert torch.all((deq - x).abs() <= s[:, None] * 0.5 + 1e-6), "beyond half a step"
    assert torch.all(deq[3] == 0)


def test_asymmetric_beats_symmetric_on_one_signed_rows(rng):
    x = spread_randn(16, 512, g=rng).abs()  # post-ReLU-like: all >= 0
    q, s, zp = per_token_quant_int8_azp_reference(x)
    asym_err = relative_error(s[:, None] * (q.float() - zp[:, None].float()), x)
    sym_scale = x.abs().amax(dim=1, keepdim=True) / 127
    sym_err = relative_error(torch.round(x / sym_scale) * sym_scale, x)
    assert asym_err < 0.6 * sym_err


@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("M, N, K", SHAPES)
def test_matches_reference(M, N, K, with_bias, rng, device):
    _, _, A, a_s, a_zp, B, b_s = _operands(M, N, K, rng, device)
    bias = (
        torch.randn(N, generator=rng).to(device=device, dtype=torch.float16) if with_bias else None
    )
    out = poisoned((M, N), torch.float16, device)
    C = int8_azp_matmul(
        A, a_s, a_zp, B, b_s, weight_colsum(B), bias, torch.float16, SMALL_CONFIG, out=out
    )
    assert C.data_ptr() == out.data_ptr()
    assert torch.isfinite(C).all(), "some outputs were never written"
    err = relative_error(C, int8_azp_reference(A, a_s, a_zp, B, b_s, bias))
    assert err <= tolerance(torch.float16), f"rel error {err:.2e}"


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16], ids=str)
def test_default_config_and_out_dtypes(out_dtype, rng, device):
    x, w, A, a_s, a_zp, B, b_s = _operands(20, 96, 200, rng, device)
    C = int8_azp_matmul(A, a_s, a_zp, B, b_s, weight_colsum(B), out_dtype=out_dtype)
    assert C.dtype == out_dtype
    assert relative_error(C, int8_azp_reference(A, a_s, a_zp, B, b_s)) <= tolerance(out_dtype)
    # and the whole scheme approximates the unquantized product to int8 accuracy
    assert relative_error(C, x.float() @ w.float().t()) < 3e-2


def test_wrong_zero_point_correction_is_detected(rng, device):
    """The check can fail: dropping the colsum correction gives a large error."""
    _, _, A, a_s, a_zp, B, b_s = _operands(16, 64, 128, rng, device)
    C = int8_azp_matmul(
        A, a_s, a_zp, B, b_s, torch.zeros_like(weight_colsum(B)), config=SMALL_CONFIG
    )
    ref = int8_azp_reference(A, a_s, a_zp, B, b_s)
    assert relative_error(C, ref) > 10 * tolerance(C.dtype)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda a: a.update(A=a["A"].float()), "A: dtype"),
        (lambda a: a.update(a_zp=a["a_zp"].float()), "a_zp: dtype"),
        (lambda a: a.update(a_s=a["a_s"][:3]), "a_s: shape"),
        (lambda a: a.update(b_colsum=a["b_colsum"][:5]), "b_colsum: shape"),
        (lambda a: a.update(bias=torch.zeros(7)), "bias: shape"),
        (lambda a: a.update(B=a["B"][:, :64]), "B: shape"),
        (lambda a: a.update(out_dtype=torch.int32), "out_dtype"),
        (lambda a: a.update(config={"BLOCK_SIZE_M": 16}), "missing key"),
    ],
    ids=["A-dtype", "zp-dtype", "as-shape", "colsum-shape", "bias-shape", "B-K", "out", "cfg"],
)
def test_validation_names_the_argument(mutate, match, device):
    g = torch.Generator().manual_seed(0)
    _, _, A, a_s, a_zp, B, b_s = _operands(8, 32, 128, g, device)
    args = dict(A=A, a_s=a_s, a_zp=a_zp, B=B, b_s=b_s, b_colsum=weight_colsum(B))
    mutate(args)
    with pytest.raises(ValueError, match=match):
        int8_azp_matmul(**args)
