"""GPU checks at real sizes: DeepSeek-V3 TP 8 weight shapes, M from 1 to 4096, and the R1 MLA
batched shapes. Same bounds as the CPU tests (kernels.reference.tolerance). Set
BLOCKGEMM_ERROR_LOG=path to append each measured error as a JSON line (for the closing note)."""

from __future__ import annotations

import json
import os

import pytest
import torch

from kernels import a16w8_batched_matmul, w8a8_block_matmul
from kernels.a16w8_batched_swapped import a16w8_batched_swapped_matmul, default_swapped_config
from kernels.quant import per_token_group_quant, per_token_group_quant_reference
from kernels.reference import (
    a16w8_batched_reference,
    relative_error,
    tolerance,
    w8a8_block_reference,
)
from tests.kernels.cases import make_a16w8_operands, make_w8a8_operands, poisoned, spread_randn

pytestmark = pytest.mark.gpu

DSV3_TP8 = [
    (576, 7168),
    (2112, 7168),
    (24576, 7168),
    (32768, 512),
    (7168, 16384),
    (7168, 18432),
    (4608, 7168),
    (3072, 7168),
    (4096, 512),
    (3072, 1536),
    (1536, 7168),
    (512, 7168),
    (7168, 2304),
    (7168, 2048),
    (7168, 256),
]
M_VALUES = [1, 16, 128, 1024, 4096]
CONFIG_LARGE = dict(
    BLOCK_SIZE_M=128, BLOCK_SIZE_N=128, BLOCK_SIZE_K=128, GROUP_SIZE_M=16, num_warps=8, num_stages=4
)


def _log(kind: str, **fields) -> None:
    path = os.environ.get("BLOCKGEMM_ERROR_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"kind": kind, **fields}) + "\n")


@pytest.mark.parametrize("N, K", DSV3_TP8)
@pytest.mark.parametrize("qtype", ["fp8", "int8"])
def test_w8a8_block_deepseek_shapes(N, K, qtype, rng):
    for M in M_VALUES:
        A, B, As, Bs = make_w8a8_operands(M, N, K, qtype, rng, "cuda")
        ref = w8a8_block_reference(A, B, As, Bs)
        for name, cfg in (("default", None), ("large", CONFIG_LARGE)):
            C = w8a8_block_matmul(
                A, B, As, Bs, out=poisoned((M, N), torch.bfloat16, "cuda"), config=cfg
            )
            err = relative_error(C, ref)
            _log("w8a8_block", qtype=qtype, M=M, N=N, K=K, config=name, rel_error=err)
            assert err <= tolerance(torch.bfloat16), f"M={M} {name}: rel error {err:.2e}"


def _swapped_configs(M: int) -> dict[str, dict[str, int]]:
    """The default, one tile a program with 128 weight rows and 8 warps, and 8 tiles a program
    with 128 tokens (where M allows) and 4 buffers."""
    base = default_swapped_config(M)
    return {
        "default": base,
        "t1-bn128-w8": {**base, "BLOCK_SIZE_N": 128, "num_warps": 8, "TILES_PER_PROGRAM": 1},
        "t8-s4": {
            **base,
            "BLOCK_SIZE_M": 128 if M > 64 else base["BLOCK_SIZE_M"],
            "num_stages": 4,
            "TILES_PER_PROGRAM": 8,
        },
    }


@pytest.mark.parametrize("Bt", [16, 32, 64, 128])
@pytest.mark.parametrize("N, K", [(512, 128), (128, 512)])
def test_a16w8_mla_shapes(Bt, N, K, rng):
    for M in (1, 32, 128):
        X, W, Ws = make_a16w8_operands(Bt, M, N, K, torch.bfloat16, rng, "cuda")
        ref = a16w8_batched_reference(X, W, Ws)
        runs = {"plain": (a16w8_batched_matmul, None)}
        runs |= {
            f"swapped-{name}": (a16w8_batched_swapped_matmul, cfg)
            for name, cfg in _swapped_configs(M).items()
        }
        for name, (matmul, cfg) in runs.items():
            Y = matmul(X, W, Ws, config=cfg, out=poisoned((Bt, M, N), torch.bfloat16, "cuda"))
            err = relative_error(Y, ref)
            _log("a16w8_batched", kernel=name, B=Bt, M=M, N=N, K=K, rel_error=err)
            assert err <= tolerance(torch.bfloat16), f"{name} M={M}: rel error {err:.2e}"


@pytest.mark.parametrize("qtype", ["fp8", "int8"])
def test_quant_kernel_bitexact_on_gpu(qtype, rng):
    dtype = torch.float8_e4m3fn if qtype == "fp8" else torch.int8
    x = spread_randn(4096, 7168, g=rng, dtype=torch.bfloat16).cuda()
    q, s = per_token_group_quant(x, 128, dtype)
    q_ref, s_ref = per_token_group_quant_reference(x, 128, dtype)
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    mismatch = (q.float() != q_ref.float()).float().mean().item()
    _log("quant", qtype=qtype, mismatch=mismatch)
    assert mismatch == 0.0
