"""The platform's FP8 format: e4m3fnuz quantized to 224 on gfx94x (MI300-class), e4m3fn to 448
elsewhere; quantization, its torch twins and the GEMM references follow the dtype they are given.

The Triton kernels on e4m3fnuz run only where Triton's CPU interpreter can hold that dtype
(``kernels.compat.interpreter_dtype_problem`` probes it; triton 3.6's cannot): there the tests
check that the wrappers refuse in one line, and the plain-torch twins carry the fnuz checks.
"""

from __future__ import annotations

import types

import pytest
import torch

from kernels import platform
from kernels.compat import interpreter_dtype_problem
from kernels.platform import E4M3FN, E4M3FNUZ, fp8_format, fp8_format_for_arch
from kernels.quant import (
    dequantize_token_groups,
    dequantize_weight_blocks,
    per_token_group_quant,
    per_token_group_quant_reference,
    quantize_weight_blockwise,
)
from kernels.reference import relative_error, tolerance, w8a8_block_reference
from kernels.validation import interpreting
from kernels.w8a8_block import w8a8_block_matmul
from tests.kernels.cases import spread_randn
from tests.kernels.test_quant import assert_within_rounding

FNUZ = torch.float8_e4m3fnuz


@pytest.mark.parametrize(
    "arch, expected",
    [
        ("gfx942", E4M3FNUZ),  # MI300X / MI300A / MI308X / MI325X
        ("gfx940", E4M3FNUZ),
        ("gfx950", E4M3FN),  # MI350X / MI355X: OCP e4m3
        ("gfx1201", E4M3FN),  # RDNA4
        (None, E4M3FN),  # NVIDIA, or no GPU
    ],
)
def test_format_by_architecture(arch, expected):
    assert fp8_format_for_arch(arch) is expected


def test_formats_are_the_dtypes_with_the_engines_max():
    """The dtype's own largest value (torch) and what vLLM quantizes to: 224 on fnuz, not 240."""
    assert E4M3FN.finite_max == torch.finfo(torch.float8_e4m3fn).max == E4M3FN.qmax == 448.0
    assert E4M3FNUZ.finite_max == torch.finfo(FNUZ).max == 240.0
    assert E4M3FNUZ.qmax == 224.0
    assert fp8_format(FNUZ) is E4M3FNUZ
    with pytest.raises(ValueError, match="not an FP8 format"):
        fp8_format(torch.int8)


def test_arch_is_read_from_a_rocm_device_without_feature_suffix(monkeypatch):
    """On a ROCm build the GCN arch comes from the device properties ("gfx942:sramecc+:xnack-");
    on a CUDA build there is none (capability (9, 4) of a ROCm build is not Hopper)."""
    props = types.SimpleNamespace(gcnArchName="gfx942:sramecc+:xnack-")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.version, "hip", "6.3.42131", raising=False)
    assert platform.is_rocm() and platform.gcn_arch(0) == "gfx942"
    assert fp8_format_for_arch(platform.gcn_arch(0)) is E4M3FNUZ
    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    assert not platform.is_rocm() and platform.gcn_arch(0) is None


def test_fnuz_token_groups_quantize_to_224(rng):
    """The torch twin on fnuz: scale = amax / 224, the group maximum lands on 224, every value
    within half an e4m3 step of the input (fnuz has e4m3fn's 3 mantissa bits)."""
    x = spread_randn(5, 384, g=rng)
    q, s = per_token_group_quant_reference(x, 128, FNUZ)
    assert q.dtype == FNUZ
    amax = x.view(5, 3, 128).abs().amax(-1)
    torch.testing.assert_close(s, amax / 224.0)
    assert q.float().abs().amax().item() == 224.0
    xr = dequantize_token_groups(q, s, 128)
    assert_within_rounding(x, xr, s.repeat_interleave(128, dim=-1), "fp8")


def test_fnuz_weight_blocks_quantize_to_224(rng):
    w = spread_randn(256, 384, g=rng) * 0.05
    q, s = quantize_weight_blockwise(w, (128, 128), FNUZ)
    assert q.dtype == FNUZ and s.shape == (2, 3)
    assert q.float().abs().amax().item() == 224.0
    wr = dequantize_weight_blocks(q, s, (128, 128))
    full = s.repeat_interleave(128, 0).repeat_interleave(128, 1)
    assert_within_rounding(w, wr, full, "fp8")


def test_fnuz_reference_is_the_product_of_the_dequantized_operands(rng):
    """The fp32 reference follows whatever format the operands were quantized to."""
    x = spread_randn(3, 256, g=rng)
    w = spread_randn(128, 256, g=rng) * 0.05
    A, As = per_token_group_quant_reference(x, 128, FNUZ)
    B, Bs = quantize_weight_blockwise(w, (128, 128), FNUZ)
    ref = w8a8_block_reference(A, B, As, Bs, (128, 128))
    expected = dequantize_token_groups(A, As) @ dequantize_weight_blocks(B, Bs).t()
    torch.testing.assert_close(ref, expected, rtol=1e-6, atol=1e-6)
    # and it is the real product up to the quantization (3 mantissa bits per operand)
    assert relative_error(ref, x @ w.t()) < 0.1


@pytest.mark.skipif(not interpreting(), reason="the probe is for the CPU interpreter")
def test_interpreter_probe_tells_the_truth_about_fnuz(rng):
    """Where the interpreter cannot hold fnuz, the quantization kernel says so in one line; where
    it can (a later Triton), the kernel equals its twin and the GEMM is within tolerance."""
    x = spread_randn(4, 256, g=rng)
    problem = interpreter_dtype_problem(FNUZ)
    if problem:
        with pytest.raises(ValueError, match="cannot run kernels on float8_e4m3fnuz"):
            per_token_group_quant(x, 128, FNUZ)
        return
    q, s = per_token_group_quant(x, 128, FNUZ)
    q_ref, s_ref = per_token_group_quant_reference(x, 128, FNUZ)
    assert torch.equal(s, s_ref) and torch.equal(q.float(), q_ref.float())
    B, Bs = quantize_weight_blockwise(spread_randn(128, 256, g=rng) * 0.05, (128, 128), FNUZ)
    out = w8a8_block_matmul(q, B, s, Bs, (128, 128), torch.bfloat16)
    ref = w8a8_block_reference(q, B, s, Bs, (128, 128))
    assert relative_error(out, ref) <= tolerance(torch.bfloat16)


def test_interpreter_holds_e4m3fn_and_int8():
    """The probe is not a blanket refusal: the formats every CPU test runs on pass it."""
    if not interpreting():
        pytest.skip("the probe is for the CPU interpreter")
    assert interpreter_dtype_problem(torch.float8_e4m3fn) is None
    assert interpreter_dtype_problem(torch.int8) is None


def test_a_cast_that_changes_a_value_is_reported_with_it():
    """A run without an error is not enough: a format read with the wrong exponent bias (64
    cast to 32) is a problem, named by the first value it got wrong."""
    from kernels.compat import cast_mismatch

    src = torch.tensor([1.0, 64.0, 3.0])
    assert cast_mismatch(src, src.clone(), src.clone(), "x") is None
    got = torch.tensor([1.0, 32.0, 3.0])
    assert cast_mismatch(src, got, src, "probe") == "probe (its cast of 64.0 gives 32.0, not 64.0)"
