"""Quantization helpers: the Triton per-token-group kernel equals its torch twin, and the
dequantized values are within the format's rounding of the input."""

from __future__ import annotations

import pytest
import torch

from kernels.quant import (
    FP8_MAX,
    dequantize_token_groups,
    dequantize_weight_blocks,
    per_token_group_quant,
    per_token_group_quant_reference,
    quantize_weight_blockwise,
)
from tests.kernels.cases import QTYPES, spread_randn


def assert_within_rounding(x: torch.Tensor, xr: torch.Tensor, scale: torch.Tensor, qtype: str):
    """Element-wise: |dequant - x| is at most half a quantization step.

    In units of the scale, v = x / scale. INT8 steps are 1, so the error is <= 0.5 * scale.
    e4m3 rounds v to 3 mantissa bits: half an ulp is <= |v| * 2^-4 for normal values and
    2^-10 in the subnormal range (spacing 2^-9). A factor 1.001 covers fp32 rounding of x / s.
    """
    v = (x.float() / scale).abs()
    if qtype == "int8":
        half_step = torch.full_like(v, 0.5)
    else:
        half_step = torch.clamp(v * 2.0**-4, min=2.0**-10)
    excess = ((xr - x.float()).abs() - 1.001 * half_step * scale).max().item()
    assert excess <= 0, f"dequantized value off by more than half a step (excess {excess:.3e})"


@pytest.mark.parametrize("qtype", ["fp8", "int8"])
@pytest.mark.parametrize("M, K", [(1, 128), (7, 300), (33, 512), (3, 2560)])
@pytest.mark.parametrize("in_dtype", [torch.bfloat16, torch.float32], ids=str)
def test_token_group_kernel_equals_reference(qtype, M, K, in_dtype, rng, device):
    x = spread_randn(M, K, g=rng, dtype=in_dtype).to(device)
    q, s = per_token_group_quant(x, 128, QTYPES[qtype])
    q_ref, s_ref = per_token_group_quant_reference(x, 128, QTYPES[qtype])
    assert s.shape == (M, -(-K // 128)) and s.dtype == torch.float32
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    mismatch = (q.float() != q_ref.float()).float().mean().item()
    assert mismatch == 0.0, f"{mismatch:.2%} of quantized values differ from the reference"
    xr = dequantize_token_groups(q, s, 128)
    assert_within_rounding(x, xr, s.repeat_interleave(128, dim=-1)[:, :K], qtype)


def test_fp8_scale_maps_group_amax_to_448(rng, device):
    x = spread_randn(4, 256, g=rng).to(device)
    q, s = per_token_group_quant(x, 128)
    amax = x.view(4, 2, 128).abs().amax(-1)
    torch.testing.assert_close(s, amax / FP8_MAX)
    assert q.float().abs().amax().item() == FP8_MAX


def test_column_major_scales_layout(rng, device):
    x = spread_randn(5, 256, g=rng).to(device)
    q, s = per_token_group_quant(x, 128, column_major_scales=True)
    assert s.stride() == (1, 5)
    _, s_ref = per_token_group_quant_reference(x, 128)
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)


@pytest.mark.parametrize("column_major", [False, True])
def test_quant_into_given_buffers_writes_them_all_and_only_them(column_major, rng, device):
    """``out=``: the caller's (q, scales), poisoned first, hold exactly what new tensors would,
    in the scales' own layout; nothing new is returned."""
    M, K = 7, 300
    x = spread_randn(M, K, g=rng, dtype=torch.bfloat16).to(device)
    q_new, s_new = per_token_group_quant(x, 128)
    q = torch.full((M, K), float("nan"), device=device).to(q_new.dtype)
    s = torch.full((3, M) if column_major else (M, 3), float("nan"), device=device)
    s = s.t() if column_major else s
    got_q, got_s = per_token_group_quant(x, 128, out=(q, s))
    assert got_q is q and got_s is s
    assert torch.equal(q.float(), q_new.float()) and torch.equal(s, s_new)


def test_quant_refuses_a_buffer_that_cannot_hold_the_result(device):
    x = torch.ones(4, 256, device=device)
    q, s = per_token_group_quant(x, 128)
    with pytest.raises(ValueError, match=r"out\[1\]: shape \(4, 3\) != expected \(4, 2\)"):
        per_token_group_quant(x, 128, out=(q, torch.empty(4, 3, device=device)))
    with pytest.raises(ValueError, match=r"out\[0\]: dtype torch.int8"):
        per_token_group_quant(x, 128, out=(q.to(torch.int8), s))
    with pytest.raises(ValueError, match=r"out\[0\]: last dimension must be contiguous"):
        per_token_group_quant(x, 128, out=(torch.empty(256, 4, device=device).t().to(q.dtype), s))


def test_all_zero_group_has_finite_scale(device):
    x = torch.zeros(2, 256, device=device)
    x[1, :128] = torch.linspace(-1, 1, 128)
    q, s = per_token_group_quant(x, 128)
    assert torch.isfinite(s).all() and (s > 0).all()
    assert (q[0].float() == 0).all()


@pytest.mark.parametrize("qtype", ["fp8", "int8"])
@pytest.mark.parametrize(
    "shape, block", [((256, 384), (128, 128)), ((3, 200, 130), (128, 128)), ((96, 80), (64, 32))]
)
def test_weight_block_roundtrip(qtype, shape, block, rng):
    w = spread_randn(*shape, g=rng)
    q, s = quantize_weight_blockwise(w, block, QTYPES[qtype])
    *lead, N, K = shape
    assert q.shape == w.shape and q.dtype == QTYPES[qtype]
    assert s.shape == (*lead, -(-N // block[0]), -(-K // block[1]))
    wr = dequantize_weight_blocks(q, s, block)
    s_full = s.repeat_interleave(block[0], dim=-2)[..., :N, :]
    assert_within_rounding(w, wr, s_full.repeat_interleave(block[1], dim=-1)[..., :K], qtype)
    assert not torch.equal(wr, w), "quantization that changes nothing means the test is vacuous"


def test_rejects_bad_inputs(device):
    with pytest.raises(ValueError, match="x: dtype"):
        per_token_group_quant(torch.ones(2, 128, dtype=torch.int32, device=device))
    with pytest.raises(ValueError, match="dtype: quantized dtype"):
        per_token_group_quant(torch.ones(2, 128, device=device), dtype=torch.float16)
    with pytest.raises(ValueError, match="2-D"):
        per_token_group_quant(torch.ones(2, 2, 128, device=device))


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e4m3fnuz], ids=str)
def test_values_that_round_into_the_next_binade_keep_their_carry(dtype, device):
    """127 -> 128, 63 -> 64, 1.97 -> 2: the interpreters' fp32 -> e4m3 casts drop that carry
    (127 -> 64); the kernel rounds in fp32 first there, so it equals torch's cast."""
    from kernels.compat import interpreter_dtype_problem
    from kernels.validation import interpreting

    if interpreting() and interpreter_dtype_problem(dtype):
        pytest.skip(interpreter_dtype_problem(dtype))
    if device != "cpu" and dtype == torch.float8_e4m3fnuz:
        pytest.skip("e4m3fnuz is an AMD format")
    qmax = 448.0 if dtype == torch.float8_e4m3fn else 224.0
    carries = [127.0, 63.0, 1.97, -31.5, 0.98, 15.9, -7.9, 125.0]
    x = torch.tensor([[qmax, *carries] * 14 + [1.0] * 2], device=device)  # 128: one group
    q, s = per_token_group_quant(x, 128, dtype)
    assert s.item() == pytest.approx(1.0)  # amax is qmax: q is x, rounded
    q_ref, _ = per_token_group_quant_reference(x, 128, dtype)
    assert torch.equal(q.float(), q_ref.float()), (q.float()[0, :9], q_ref.float()[0, :9])
    assert q.float()[0, 1].item() == 128.0
