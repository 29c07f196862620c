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

from kernels.compat import gluon_problem, offline_build_problem

if gluon_problem():  # this Triton cannot express the kernel: skip, saying why
    pytest.skip(gluon_problem(), allow_module_level=True)

from generator.configs.spaces.gluon import gluon_space  # noqa: E402
from kernels.reference import relative_error, tolerance, w8a8_block_reference  # noqa: E402
from kernels.sm90_build import disassemble, resource_usage  # noqa: E402
from kernels.w8a8_block_gluon import (  # noqa: E402
    _validate,
    build_w8a8_block_gluon_sm90,
    default_gluon_config,
    w8a8_block_gluon_matmul,
)
from tests.kernels.cases import OUT_DTYPES, make_w8a8_operands, poisoned  # noqa: E402

needs_offline_build = pytest.mark.skipif(
    offline_build_problem() is not None, reason=str(offline_build_problem())
)

DEFAULT = default_gluon_config()
CONFIGS = {
    "default": DEFAULT,  # lagged promotion
    "no-lag": {**DEFAULT, "LAG": 0},
    "one-warpgroup": {**DEFAULT, "BLOCK_SIZE_M": 64, "num_warps": 4},
    "three-warpgroups": {
        **DEFAULT,
        "BLOCK_SIZE_M": 192,
        "num_warps": 12,
        "num_stages": 3,
        "LAG": 0,
        "ORDERED": 1,
    },
    "ordered": {**DEFAULT, "ORDERED": 1},
    "ordered-split": {**DEFAULT, "ORDERED": 2},
    "no-lag-ordered-split": {**DEFAULT, "ORDERED": 2, "LAG": 0},
    "bn64-3stages": {**DEFAULT, "BLOCK_SIZE_N": 64, "num_stages": 3},
}
HAS_HOPPER = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9


def _mma_windows(sass: list[str]) -> list[list[str]]:
    """Each stretch of instructions from a WGMMA fence (issue) to the next WGMMA wait."""
    windows, start = [], None
    for i, op in enumerate(sass):
        if op.startswith("WARPGROUP.ARRIVE") and start is None:
            start = i
        elif op.startswith("WARPGROUP.DEPBAR") and start is not None:
            windows.append(sass[start:i])
            start = None
    return windows


# --- CPU: offline sm_90 builds -----------------------------------------------------------------


@needs_offline_build
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


@needs_offline_build
@pytest.mark.parametrize("lag", [0, 1])
def test_lagged_promotion_overlaps_the_mma(lag):
    """LAG=1 scales the previous K tile (FFMA) while a WGMMA runs; LAG=0 waits first.

    ptxas keeps the FFMA between issue and wait in one of the two K steps of the unrolled
    pair and moves the other step's after its wait, so at least one window must hold the 64
    FFMA (64 x 128 accumulators of a warpgroup over 128 threads)."""
    sass = disassemble(build_w8a8_block_gluon_sm90({**DEFAULT, "LAG": lag}).asm["cubin"])
    windows = _mma_windows(sass)
    assert windows and all(any("GMMA" in op for op in w) for w in windows)
    most = max(sum(op.startswith("FFMA") for op in w) for w in windows)
    if lag:
        assert most >= 64, f"at most {most} FFMA between a WGMMA and its wait"
    else:
        assert most == 0


@pytest.mark.parametrize(
    "update, match",
    [
        ({"LAG": 2}, "LAG=2"),
        ({"BLOCK_SIZE_K": 64}, "BLOCK_SIZE_K=64 must equal"),
        ({"BLOCK_SIZE_M": 64}, "BLOCK_SIZE_M=64 with num_warps=8"),
        ({"BLOCK_SIZE_N": 256}, "BLOCK_SIZE_N=256 must divide"),
        ({"num_stages": 1}, "num_stages=1"),
        ({"BLOCK_SIZE_M": 192, "num_warps": 12}, "LAG=1 needs at most two"),
        ({"ORDERED": 3}, "ORDERED=3"),
        ({"BOGUS": 1}, "unknown key"),
    ],
)
def test_bad_configs_name_the_key(update, match):
    with pytest.raises(ValueError, match=match):
        build_w8a8_block_gluon_sm90({**DEFAULT, **update})


def test_search_space_is_valid_and_distinct():
    """Every config of the tuner's space passes the kernel's own validation, once."""
    space = gluon_space()
    assert len({tuple(sorted(c.items())) for c in space}) == len(space) > 20
    for cfg in space:
        _validate(cfg, (128, 128))
    assert {c["LAG"] for c in space} == {0, 1} and {c["ORDERED"] for c in space} == {0, 1, 2}


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
    C = w8a8_block_gluon_matmul(
        A, B, As, Bs, out_dtype=out_dtype, config=config, out=out, num_sms=num_sms
    )
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
@pytest.mark.parametrize(
    "N, K", [(4608, 7168), (7168, 2304), (3072, 1536), (24576, 7168), (7168, 256)]
)
@pytest.mark.parametrize("M", [1000, 4096])
@pytest.mark.parametrize("lag", [0, 1])
def test_gpu_real_sizes(N, K, M, lag, rng):
    _check(M, N, K, {**DEFAULT, "LAG": lag}, torch.bfloat16, rng)


@pytest.mark.gpu
@needs_hopper
def test_gpu_odd_k_tiles_with_lag(rng):
    """LAG takes K tiles in pairs; an odd count pads with a zero-filled tile (K = 384: 3)."""
    _check(300, 256, 384, DEFAULT, torch.float32, rng, num_sms=2)


@pytest.mark.gpu
@needs_hopper
def test_gpu_refuses_unaligned_rows(rng):
    A, B, As, Bs = make_w8a8_operands(16, 64, 300, "fp8", rng, "cuda")
    with pytest.raises(ValueError, match="16-byte rows"):
        w8a8_block_gluon_matmul(A, B, As, Bs)
