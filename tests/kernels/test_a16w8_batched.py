"""Batched A16W8 blockscale GEMM against the fp32 reference, for both kernels: the
straightforward one and the swapped-operand one. Bounds as in test_w8a8_block."""

from __future__ import annotations

import pytest
import torch

from generator.configs.spaces.a16w8_batched_swapped import swapped_space
from kernels import a16w8_batched_matmul
from kernels.a16w8_batched_swapped import a16w8_batched_swapped_matmul, validate_swapped_config
from kernels.reference import a16w8_batched_reference, relative_error, tolerance
from tests.kernels.cases import make_a16w8_operands, poisoned

CONFIGS = [
    dict(
        BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=1, num_warps=4, num_stages=2
    ),
    dict(
        BLOCK_SIZE_M=32,
        BLOCK_SIZE_N=64,
        BLOCK_SIZE_K=128,
        GROUP_SIZE_M=8,
        num_warps=4,
        num_stages=3,
    ),
]
# Swapped kernel: 3 tiles a program (the tile count is rarely a multiple: the last program has
# fewer), and 4 tiles with K tiles of 64, so tile boundaries fall inside the flat loop.
SWAPPED_CONFIGS = [
    {**CONFIGS[0], "TILES_PER_PROGRAM": 3},
    {**CONFIGS[1], "BLOCK_SIZE_K": 64, "GROUP_SIZE_M": 2, "TILES_PER_PROGRAM": 4},
]
KERNELS = {
    "plain": (a16w8_batched_matmul, CONFIGS),
    "swapped": (a16w8_batched_swapped_matmul, SWAPPED_CONFIGS),
}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("Bt, M, N, K", [(1, 1, 64, 128), (3, 5, 130, 300), (2, 33, 128, 256)])
@pytest.mark.parametrize("config_index", [0, 1, None], ids=["cfg0", "cfg1", "default"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_matches_reference(kernel, dtype, Bt, M, N, K, config_index, rng, device):
    matmul, configs = KERNELS[kernel]
    config = None if config_index is None else configs[config_index]
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, dtype, rng, device)
    W_before = W.clone()
    out = poisoned((Bt, M, N), dtype, device)
    Y = matmul(X, W, Ws, config=config, out=out)
    assert torch.isfinite(Y).all(), "some outputs were never written"
    err = relative_error(Y, a16w8_batched_reference(X, W, Ws))
    assert err <= tolerance(dtype), f"rel error {err:.2e}"
    assert torch.equal(W.view(torch.uint8), W_before.view(torch.uint8))


@pytest.mark.parametrize("kernel", KERNELS)
def test_fp32_output_and_strided_activations(kernel, rng, device):
    # X as a (M, B, K) buffer viewed (B, M, K): how MLA lays out q_nope per head.
    matmul, configs = KERNELS[kernel]
    Bt, M, N, K = 4, 3, 128, 256
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, torch.bfloat16, rng, device)
    X_strided = X.transpose(0, 1).contiguous().transpose(0, 1)
    assert not X_strided.is_contiguous()
    Y = matmul(X_strided, W, Ws, out_dtype=torch.float32, config=configs[1])
    assert relative_error(Y, a16w8_batched_reference(X, W, Ws)) <= tolerance(torch.float32)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=lambda X: X.float()), "X: dtype"),
        (dict(W=lambda W: W.view(torch.int8)), "W: dtype"),
        (dict(W=lambda W: W[:1]), "W: batch"),
        (dict(Ws=lambda Ws: Ws.repeat(1, 2, 1)), "Ws: shape"),
        (dict(X=lambda X: X[0]), "X: expected a 3-D"),
    ],
    ids=["X-dtype", "W-dtype", "batch", "Ws-shape", "X-ndim"],
)
@pytest.mark.parametrize("kernel", KERNELS)
def test_invalid_arguments(kernel, kwargs, match, device):
    g = torch.Generator().manual_seed(0)
    X, W, Ws = make_a16w8_operands(2, 4, 64, 128, torch.bfloat16, g, device)
    args = dict(X=X, W=W, Ws=Ws)
    for name, fn in kwargs.items():
        args[name] = fn(args[name])
    with pytest.raises(ValueError, match=match):
        KERNELS[kernel][0](**args)


def test_more_tiles_per_program_than_tiles(rng, device):
    """One program, every tile: the flat loop walks all tiles and K steps of all batches."""
    Bt, M, N, K = 2, 17, 96, 256
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, torch.bfloat16, rng, device)
    cfg = {**SWAPPED_CONFIGS[1], "TILES_PER_PROGRAM": 64}
    Y = a16w8_batched_swapped_matmul(
        X, W, Ws, config=cfg, out=poisoned((Bt, M, N), torch.bfloat16, device)
    )
    assert relative_error(Y, a16w8_batched_reference(X, W, Ws)) <= tolerance(torch.bfloat16)


def test_swapped_config_checks(device):
    g = torch.Generator().manual_seed(0)
    X, W, Ws = make_a16w8_operands(2, 4, 64, 128, torch.bfloat16, g, device)
    with pytest.raises(ValueError, match="TILES_PER_PROGRAM=0"):
        a16w8_batched_swapped_matmul(X, W, Ws, config={**CONFIGS[0], "TILES_PER_PROGRAM": 0})
    with pytest.raises(ValueError, match="unknown key"):
        a16w8_batched_swapped_matmul(X, W, Ws, config={**CONFIGS[0], "SPLIT_K": 2})
    # The plain kernel keeps exactly the drop-in keys: the swapped kernel's knob is refused.
    with pytest.raises(ValueError, match="unknown key"):
        a16w8_batched_matmul(X, W, Ws, config=SWAPPED_CONFIGS[0])


def test_swapped_space_is_valid_and_spans_its_knob():
    space = swapped_space()
    assert len({tuple(sorted(c.items())) for c in space}) == len(space)  # no duplicates
    for cfg in space:
        validate_swapped_config(cfg, 128)
        assert cfg["BLOCK_SIZE_N"] >= 64  # the weight rows fill one warpgroup's WGMMA
    assert {c["TILES_PER_PROGRAM"] for c in space} == {1, 2, 4, 8}
