"""Batched A16W8 blockscale GEMM against the fp32 reference. Bounds as in test_w8a8_block."""

from __future__ import annotations

import pytest
import torch

from kernels import a16w8_batched_matmul
from kernels.reference import a16w8_batched_reference, relative_error, tolerance
from tests.kernel_cases import make_a16w8_operands, poisoned

CONFIGS = [
    dict(BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=1, num_warps=4,
         num_stages=2),
    dict(BLOCK_SIZE_M=32, BLOCK_SIZE_N=64, BLOCK_SIZE_K=128, GROUP_SIZE_M=8, num_warps=4,
         num_stages=3),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("Bt, M, N, K", [(1, 1, 64, 128), (3, 5, 130, 300), (2, 33, 128, 256)])
@pytest.mark.parametrize("config", CONFIGS + [None], ids=["bk64-g1", "bk128-g8", "default"])
def test_matches_reference(dtype, Bt, M, N, K, config, rng, device):
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, dtype, rng, device)
    W_before = W.clone()
    out = poisoned((Bt, M, N), dtype, device)
    Y = a16w8_batched_matmul(X, W, Ws, config=config, out=out)
    assert torch.isfinite(Y).all(), "some outputs were never written"
    err = relative_error(Y, a16w8_batched_reference(X, W, Ws))
    assert err <= tolerance(dtype), f"rel error {err:.2e}"
    assert torch.equal(W.view(torch.uint8), W_before.view(torch.uint8))


def test_fp32_output_and_strided_activations(rng, device):
    # X as a (M, B, K) buffer viewed (B, M, K): how MLA lays out q_nope per head.
    Bt, M, N, K = 4, 3, 128, 256
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, torch.bfloat16, rng, device)
    X_strided = X.transpose(0, 1).contiguous().transpose(0, 1)
    assert not X_strided.is_contiguous()
    Y = a16w8_batched_matmul(X_strided, W, Ws, out_dtype=torch.float32, config=CONFIGS[1])
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
def test_invalid_arguments(kwargs, match, device):
    g = torch.Generator().manual_seed(0)
    X, W, Ws = make_a16w8_operands(2, 4, 64, 128, torch.bfloat16, g, device)
    args = dict(X=X, W=W, Ws=Ws)
    for name, fn in kwargs.items():
        args[name] = fn(args[name])
    with pytest.raises(ValueError, match=match):
        a16w8_batched_matmul(**args)
