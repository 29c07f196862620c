"""The warp-specialized Hopper kernel (kernels.w8a8_block_gluon).

Gluon kernels do not run in Triton's CPU interpreter, so the CPU part of this file builds the
kernel for sm_90 offline (kernels.sm90_build) and checks what can be checked without a GPU:
every config lowers with no register spills, the lagged promotion really sits between a WGMMA
and its wait in the SASS, and bad arguments fail with a message naming them. The numerics are
checked on a Hopper GPU (``gpu`` marker) against the fp32 reference, with fresh random data and
NaN-poisoned outputs, at ragged sizes, several tiles per program and real DeepSeek-V3 shapes.
"""

from __future__ import annotations

import pytest
import torch

from kernels.reference import relative_error, tolerance, w8a8_block_reference
from kernels.sm90_build import disassemble, resource_usage
from kernels.w8a8_block_gluon import (
    build_w8a8_block_gluon_sm90,
    default_gluon_config,
    w8a8_block_gluon_matmul,
)
from tests.kernel_cases import OUT_DTYPES, make_w8a8_operands, poisoned

DEFAULT = default_gluon_config()
CONFIGS = {
    "default": DEFAULT,
    "lag": {**DEFAULT, "LAG": 1},
    "one-warpgroup": {**DEFAULT, "BLOCK_SIZE_M": 64, "num_warps": 4},
    "bn64-3stages": {**DEFAULT, "BLOCK_SIZE_N": 64, "num_stages": 3},
}
HAS_HOPPER = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9


def _main_loop(sass: list[str]) -> list[str]:
    """The instructions from the consumers' first WGMMA fence to the first wait for it."""
    start = next(i for i, op in enumerate(sass) if op.startswith("WARPGROUP.ARRIVE"))
    end = next(i for i in range(start, len(sass)) if sass[i].startswith("WARPGROUP.DEPBAR"))
    return sass[start:end]


# --- CPU: offline sm_90 builds -----------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_builds_for_sm90_without_spills(config):
    kernel = build_w8a8_block_gluon_sm90(config)
    usage = resource_usage(kernel.asm["cubin"])
    assert usage["LOCAL"] == 0, f"register spills: {usage}"
    ttgir = kernel.asm["ttgir"]
    assert "ttg.warp_specialize" in ttgir  # a producer partition next to the consumers
    assert "async_tma_copy_global_to_local" in ttgir
    sass = disassemble(kernel.asm["cubin"])
    assert any(op.startswith("USETMAXREG") for op in sass)  # registers moved to the consumers
    assert any(op.startswith("QGMMA.64x") and "E4M3.E4M3" in op for op in sass)


@pytest.mark.parametrize("lag", [0, 1])
def test_lagged_promotion_overlaps_the_mma(lag):
    """LAG=1 scales the previous K tile (FFMA) while the current WGMMA runs; LAG=0 waits first."""
    sass = disassemble(build_w8a8_block_gluon_sm90({**DEFAULT, "LAG": lag}).asm["cubin"])
    loop = _main_loop(sass)
    ffma = sum(op.startswith("FFMA") for op in loop)
    assert any("GMMA" in op for op in loop)
    if lag:  # 64 accumulator elements per thread (64 x 128 rows of a warpgroup, 128 threads)
        assert ffma >= 64, f"only {ffma} FFMA between the WGMMA and its wait"
    else:
        assert ffma == 0


@pytest.mark.parametrize(
    "update, match",
    [
        ({"LAG": 2}, "LAG=2"),
        ({"BLOCK_SIZE_K": 64}, "BLOCK_SIZE_K=64 must equal"),
        ({"BLOCK_SIZE_M": 64}, "BLOCK_SIZE_M=64 with num_warps=8"),
        ({"BLOCK_SIZE_N": 256}, "BLOCK_SIZE_N=256 must divide"),
        ({"num_stages": 1}, "num_stages=1"),
        ({"BOGUS": 1}, "unknown key"),
    ],
)
def test_bad_configs_name_the_key(update, match):
    with pytest.raises(ValueError, match=match):
        build_w8a8_block_gluon_sm90({**DEFAULT, **update})


@pytest.mark.skipif(HAS_HOPPER, reason="checks the refusal off Hopper")
def test_refuses_without_hopper(rng, device):
    A, B, As, Bs = make_w8a8_operands(8, 64, 256, "fp8", rng, device)
    with pytest.raises(ValueError, match="needs a Hopper"):
        w8a8_block_gluon_matmul(A, B, As, Bs)


def test_shape_errors_come_before_the_device_check(rng, device):
    A, B, As, Bs = make_w8a8_operands(8, 64, 256, "fp8", rng, device)
    with pytest.raises(ValueError, match="As: shape"):
        w8a8_block_gluon_matmul(A, B, As[:, :1], Bs)


# --- GPU: numerics ------------------------------------------------------------------------------

needs_hopper = pytest.mark.skipif(not HAS_HOPPER, reason="needs a Hopper GPU")


def _check(M, N, K, config, out_dtype, rng, num_sms=None):
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", rng, "cuda")
    out = poisoned((M, N), out_dtype, "cuda")
    C = w8a8_block_gluon_matmul(A, B, As, Bs, out_dtype=out_dtype, config=config, out=out,
                                num_sms=num_sms)
    assert C.data_ptr() == out.data_ptr()
    assert torch.isfinite(C).all(), "some outputs were never written"
    err = relative_error(C, w8a8_block_reference(A, B, As, Bs))
    assert err <= tolerance(out_dtype), f"rel error {err:.2e} > {tolerance(out_dtype):.2e}"


@pytest.mark.parametrize("M, N, K", [(1, 128, 256), (37, 200, 384), (300, 520, 1024)])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("num_sms", [1, 3, None], ids=["1prog", "3progs", "allsms"])
@pytest.mark.gpu
@needs_hopper
def test_gpu_ragged_sizes(M, N, K, config, out_dtype, num_sms, rng):
    """Ragged M / N (TMA zero-fill and clipped stores), several tiles per program."""
    _check(M, N, K, config, out_dtype, rng, num_sms)


@pytest.mark.gpu
@needs_hopper
@pytest.mark.parametrize("N, K", [(4608, 7168), (7168, 2304), (3072, 1536), (24576, 7168),
                                  (7168, 256)])
@pytest.mark.parametrize("M", [1000, 4096])
@pytest.mark.parametrize("lag", [0, 1])
def test_gpu_real_sizes(N, K, M, lag, rng):
    _check(M, N, K, {**DEFAULT, "LAG": lag}, torch.bfloat16, rng)


@pytest.mark.gpu
@needs_hopper
def test_gpu_refuses_unaligned_rows(rng):
    A, B, As, Bs = make_w8a8_operands(16, 64, 300, "fp8", rng, "cuda")
    with pytest.raises(ValueError, match="16-byte rows"):
        w8a8_block_gluon_matmul(A, B, As, Bs)
