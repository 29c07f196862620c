"""DeepGEMM's operand layout: TMA alignment, MN-major scales, UE8M0 rounding and packing, the
Triton quantization into that layout, and vLLM's UE8M0 re-quantization of the weights."""

from __future__ import annotations

import pytest
import torch

from kernels.quant import (
    dequantize_token_groups,
    dequantize_weight_blocks,
    per_token_group_quant_reference,
    quantize_weight_blockwise,
)
from kernels.quant_deepgemm import (
    ceil_to_ue8m0,
    mn_major_storage,
    mn_major_tma_aligned,
    mn_major_view,
    pack_ue8m0,
    per_token_group_quant_deepgemm,
    per_token_group_quant_deepgemm_reference,
    requantize_weight_ue8m0,
    tma_aligned_size,
    unpack_ue8m0,
)
from kernels.validation import FP8_DTYPE
from tests.kernels.cases import spread_randn


def test_tma_alignment_rounds_rows_up_to_16_bytes():
    assert [tma_aligned_size(n, 4) for n in (1, 4, 5, 8, 31, 32)] == [4, 4, 8, 8, 32, 32]
    assert tma_aligned_size(3, 1) == 16 and tma_aligned_size(17, 2) == 24
    with pytest.raises(ValueError, match="element_size: must divide 16"):
        tma_aligned_size(4, 3)


def test_ceil_to_ue8m0_is_the_smallest_power_of_two_not_below():
    x = torch.tensor([1.0, 1.5, 2.0, 0.75, 3e-13, 448.0, 1e-10 / 448, 2.0**-20 * 1.0000001])
    got = ceil_to_ue8m0(x)
    exponent = torch.ceil(torch.log2(x.double()))
    assert torch.equal(got.double(), torch.pow(2.0, exponent))
    assert torch.equal(ceil_to_ue8m0(torch.tensor([-3.0])), torch.tensor([4.0]))  # of |x|
    assert bool((got >= x).all()) and bool((got < 2 * x).all())


def test_mn_major_layout_has_token_stride_one_and_aligned_group_stride():
    s = torch.arange(5 * 3, dtype=torch.float32).view(5, 3)
    a = mn_major_tma_aligned(s)
    assert a.shape == (5, 3) and a.stride() == (1, 8) and torch.equal(a, s)
    storage = mn_major_storage(a)
    assert storage.shape == (3, 8) and storage.is_contiguous()
    copy = mn_major_view(storage.clone(), 5)  # how a rotated set is made
    assert copy.stride() == (1, 8) and torch.equal(copy, s)
    with pytest.raises(ValueError, match="not MN-major"):
        mn_major_storage(s)


def test_pack_ue8m0_puts_group_g_in_byte_g_mod_4_of_word_g_div_4():
    exps = torch.tensor([[127, 128, 126, 130, 120], [1, 2, 3, 4, 5]], dtype=torch.int32)
    scales = (exps << 23).view(torch.float32)  # (2 rows, 5 groups) of powers of two
    packed = pack_ue8m0(scales)
    assert packed.dtype == torch.int32 and packed.shape == (2, 2) and packed.stride() == (1, 4)
    # little-endian words, written out by hand: padding groups hold 1.0 (exponent 127)
    word = [[127 | 128 << 8 | 126 << 16 | 130 << 24, 120 | 127 << 8 | 127 << 16 | 127 << 24]]
    word.append([1 | 2 << 8 | 3 << 16 | 4 << 24, 5 | 127 << 8 | 127 << 16 | 127 << 24])
    expected = torch.tensor(word, dtype=torch.int64)
    assert torch.equal(packed.to(torch.int64) & 0xFFFFFFFF, expected)
    assert torch.equal(unpack_ue8m0(packed, 5), scales)
    with pytest.raises(ValueError, match="not all powers of two"):
        pack_ue8m0(torch.tensor([[1.5]]))


@pytest.mark.parametrize("M, K", [(1, 128), (5, 384), (33, 512), (3, 300)])
@pytest.mark.parametrize("ue8m0", [True, False])
def test_quant_into_deepgemm_layout_equals_its_torch_twin(M, K, ue8m0, rng, device):
    x = spread_randn(M, K, g=rng, dtype=torch.bfloat16).to(device)
    q, s = per_token_group_quant_deepgemm(x, 128, ue8m0=ue8m0)
    groups = -(-K // 128)
    assert q.dtype == FP8_DTYPE and s.dtype == torch.float32
    assert s.shape == (M, groups) and s.stride() == (1, tma_aligned_size(M, 4))
    q_ref, s_ref = per_token_group_quant_deepgemm_reference(x.cpu(), 128, ue8m0=ue8m0)
    assert torch.equal(s.cpu(), s_ref)
    assert torch.equal(q.cpu().float(), q_ref.float())
    if ue8m0:
        assert torch.equal(ceil_to_ue8m0(s.cpu()), s.cpu())
    else:  # without rounding: the project's own per-token-group quantization, bit for bit
        q_own, s_own = per_token_group_quant_reference(x.cpu(), 128)
        assert torch.equal(s.cpu(), s_own) and torch.equal(q.cpu().float(), q_own.float())


def test_ue8m0_scales_lose_at_most_one_bit_of_range_and_stay_within_rounding(rng, device):
    x = spread_randn(8, 512, g=rng, dtype=torch.bfloat16).to(device)
    q, s = per_token_group_quant_deepgemm(x, 128, ue8m0=True)
    _, s_plain = per_token_group_quant_reference(x.cpu(), 128)
    ratio = s.cpu() / s_plain
    assert bool((ratio >= 1).all()) and bool((ratio < 2).all())
    xr = dequantize_token_groups(q.cpu(), s.cpu(), 128)
    rel = ((xr - x.cpu().float()).norm() / x.cpu().float().norm()).item()
    assert rel < 2.0**-4


@pytest.mark.parametrize("M, K", [(1, 128), (6, 640), (9, 1024)])
def test_packed_scales_for_blackwell_hold_the_same_values(M, K, rng, device):
    x = spread_randn(M, K, g=rng, dtype=torch.bfloat16).to(device)
    q, packed = per_token_group_quant_deepgemm(x, 128, ue8m0=True, packed=True)
    groups = K // 128
    words = -(-groups // 4)
    assert packed.dtype == torch.int32 and packed.shape == (M, words)
    assert packed.stride() == (1, tma_aligned_size(M, 4))
    q32, s32 = per_token_group_quant_deepgemm(x, 128, ue8m0=True)
    assert torch.equal(q.cpu().float(), q32.cpu().float())
    assert torch.equal(unpack_ue8m0(packed.cpu(), groups), s32.cpu())
    assert torch.equal(packed.cpu(), pack_ue8m0(s32.cpu()))  # padding groups hold 1.0 too
    with pytest.raises(ValueError, match="ue8m0 must be True"):
        per_token_group_quant_deepgemm(x, 128, ue8m0=False, packed=True)


@pytest.mark.parametrize("packed", [False, True])
def test_quant_into_a_given_scale_buffer_equals_new_tensors(packed, rng, device):
    """``out=(q, the scales' dense buffer)``: written in place, poisoned first, and the
    scales returned are the view of that buffer DeepGEMM reads."""
    M, K = 6, 640
    x = spread_randn(M, K, g=rng, dtype=torch.bfloat16).to(device)
    q_new, s_new = per_token_group_quant_deepgemm(x, 128, packed=packed)
    storage = mn_major_storage(s_new).clone()
    storage.fill_(-1)
    q = torch.full((M, K), float("nan"), device=device).to(FP8_DTYPE)
    got_q, got_s = per_token_group_quant_deepgemm(x, 128, packed=packed, out=(q, storage))
    assert got_q is q and got_s.data_ptr() == storage.data_ptr()
    assert got_s.stride() == s_new.stride()
    assert torch.equal(q.float(), q_new.float()) and torch.equal(got_s, s_new)
    with pytest.raises(ValueError, match=r"out\[1\]: the scales' buffer must be dense"):
        wide = torch.empty(storage.shape[0], storage.shape[1] * 2, dtype=storage.dtype)
        per_token_group_quant_deepgemm(
            x, 128, packed=packed, out=(q, wide.to(device)[:, : storage.shape[1]])
        )


def test_quant_refuses_bad_input_naming_the_argument(device):
    with pytest.raises(ValueError, match="x: expected a 2-D tensor"):
        per_token_group_quant_deepgemm(torch.zeros(2, 2, 128, device=device))
    with pytest.raises(ValueError, match="group_size: must be >= 1"):
        per_token_group_quant_deepgemm(torch.zeros(2, 128, device=device), 0)


def test_weight_requantization_follows_vllm_ue8m0(rng):
    w = spread_randn(300, 400, g=rng) * 0.05
    B, Bs = quantize_weight_blockwise(w, (128, 128))
    B2, Bs2 = requantize_weight_ue8m0(B, Bs, (128, 128))
    assert B2.shape == B.shape and B2.dtype == FP8_DTYPE and Bs2.shape == Bs.shape == (3, 4)
    assert torch.equal(ceil_to_ue8m0(Bs2), Bs2)
    w1 = dequantize_weight_blocks(B, Bs)
    amax = torch.nn.functional.pad(w1, (0, 112, 0, 84)).view(3, 128, 4, 128).abs().amax((1, 3))
    assert torch.equal(Bs2, ceil_to_ue8m0(amax.clamp(min=1e-4) / 448.0))  # per block, rounded up
    w2 = dequantize_weight_blocks(B2, Bs2)
    rel = ((w2 - w1).norm() / w1.norm()).item()
    assert 0 < rel < 2.0**-4  # one more rounding of the already-fp8 values
    zero = torch.zeros(128, 128, dtype=FP8_DTYPE)
    _, s0 = requantize_weight_ue8m0(zero, torch.ones(1, 1))
    assert s0.item() == ceil_to_ue8m0(torch.tensor(1e-4 / 448.0)).item()  # the amax floor
