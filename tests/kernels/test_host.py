"""The shared host skeleton (kernels._host): compiling ahead builds what a launch loads.

A kernel's ``compile_*`` function runs the same launch code as its wrapper, on ShapeOnly
stand-ins and with ``warmup``; Triton keys a binary on the pointer dtypes, the integer arguments
(== 1, divisible by 16) and the constexprs. Each kernel is replaced by a recorder here, so that
without a GPU the tests compare, call by call, what a wrapper launches with what its
``compile_*`` warms up: the same kernels, grids, argument dtypes, integers and options.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import kernels.a16w8_batched as a16w8
import kernels.a16w8_batched_swapped as a16w8_swapped
import kernels.w8a8_block as w8a8
import kernels.w8a8_block_decode as decode
import kernels.w8a8_block_persistent as persistent
import kernels.w8a8_block_splitk as splitk
from kernels._host import ShapeOnly, operand_strides
from tests.kernels.cases import make_a16w8_operands, make_w8a8_operands

CFG = dict(
    BLOCK_SIZE_M=32, BLOCK_SIZE_N=64, BLOCK_SIZE_K=128, GROUP_SIZE_M=2, num_warps=4, num_stages=2
)
SHAPES = [(1, 64, 256), (37, 200, 300), (65, 130, 384)]  # (M, N, K): M = 1, ragged, 3 K tiles


class Recorder:
    """Stands in for a ``@triton.jit`` kernel: records ``kernel[grid](...)`` and ``warmup``."""

    def __init__(self, name: str, calls: list[tuple[Any, ...]]):
        self.name, self.calls = name, calls

    def __getitem__(self, grid: tuple[int, ...]):
        return lambda *args, **options: self.calls.append((self.name, grid, args, options))

    def warmup(self, *args: Any, grid: tuple[int, ...], **options: Any) -> None:
        self.calls.append((self.name, grid, args, options))


def _signature(value: Any) -> Any:
    """What a binary depends on of an argument: a tensor's dtype (its sizes and strides reach
    the kernel as integer arguments; every allocation and stand-in is 16-byte aligned)."""
    return value.dtype if isinstance(value, torch.Tensor | ShapeOnly) else value


def _recorded(monkeypatch, module, names: list[str], fn, *args: Any, **kwargs: Any) -> list:
    """The kernel calls ``fn(*args, **kwargs)`` makes, with ``module``'s kernels recorded."""
    calls: list[tuple[Any, ...]] = []
    for name in names:
        monkeypatch.setattr(module, name, Recorder(name, calls))
    fn(*args, **kwargs)
    return [
        (name, grid, [_signature(a) for a in args], options) for name, grid, args, options in calls
    ]


W8A8 = {  # module: (its kernels, wrapper, compile_*)
    w8a8: (["_w8a8_block_gemm_kernel"], w8a8.w8a8_block_matmul, w8a8.compile_w8a8_block),
    splitk: (
        ["_w8a8_block_splitk_kernel", "_splitk_reduce_kernel"],
        splitk.w8a8_block_splitk_matmul,
        splitk.compile_w8a8_block_splitk,
    ),
    persistent: (
        ["_w8a8_block_persistent_kernel"],
        persistent.w8a8_block_persistent_matmul,
        persistent.compile_w8a8_block_persistent,
    ),
}
A16W8 = {
    a16w8: (["_a16w8_batched_kernel"], a16w8.a16w8_batched_matmul, a16w8.compile_a16w8_batched),
    a16w8_swapped: (
        ["_a16w8_batched_swapped_kernel"],
        a16w8_swapped.a16w8_batched_swapped_matmul,
        a16w8_swapped.compile_a16w8_batched_swapped,
    ),
}


@pytest.mark.parametrize(
    "module, extra",
    [
        (w8a8, {}),
        (splitk, {}),  # SPLIT_K from the SM count
        (splitk, {"SPLIT_K": 1}),
        (splitk, {"SPLIT_K": 3}),
        (persistent, {}),
        (persistent, {"USE_TMA": 0}),
    ],
    ids=["w8a8_block", "splitk", "splitk-1", "splitk-3", "persistent", "persistent-pointers"],
)
@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("block_k", [128, 64])
def test_w8a8_compile_ahead_matches_launch(module, extra, M, N, K, block_k, monkeypatch, device):
    names, run, compile_ahead = W8A8[module]
    cfg = {**CFG, "BLOCK_SIZE_K": block_k, **extra}
    A, B, As, Bs = make_w8a8_operands(M, N, K, "fp8", torch.Generator().manual_seed(0), device)
    block, out_dtype = (128, 128), torch.bfloat16
    launched = _recorded(monkeypatch, module, names, run, A, B, As, Bs, block, out_dtype, cfg)
    compiled = _recorded(
        monkeypatch, module, names, compile_ahead, *(M, N, K, A.dtype, out_dtype, block, cfg)
    )
    assert launched and compiled == launched


@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("split_k", [None, 1, 2], ids=["auto", "split1", "split2"])
def test_decode_compile_ahead_matches_launch(M, N, K, split_k, monkeypatch, device):
    g = torch.Generator().manual_seed(0)
    _, B, _, Bs = make_w8a8_operands(M, N, K, "fp8", g, device)
    X = torch.randn(M, K, generator=g).to(device=device, dtype=torch.bfloat16)
    cfg = CFG if split_k is None else {**CFG, "SPLIT_K": split_k}
    block, out_dtype = (128, 128), torch.bfloat16
    names = ["_w8a8_block_decode_kernel"]
    launched = _recorded(
        monkeypatch, decode, names, decode.w8a8_block_decode_matmul, X, B, Bs, block, out_dtype, cfg
    )
    compiled = _recorded(
        monkeypatch,
        decode,
        names,
        decode.compile_w8a8_block_decode,
        *(M, N, K, X.dtype, out_dtype, block, cfg),
    )
    assert launched and compiled == launched


@pytest.mark.parametrize("module", A16W8, ids=["a16w8", "swapped"])
@pytest.mark.parametrize("Bt, M, N, K", [(2, 1, 64, 128), (3, 17, 96, 256)])
def test_a16w8_compile_ahead_matches_launch(module, Bt, M, N, K, monkeypatch, device):
    # bf16: under the interpreter its launch takes a CPU-only workaround (WIDEN_DOT_TO_FP32),
    # which the compile path must decide the same way.
    names, run, compile_ahead = A16W8[module]
    g = torch.Generator().manual_seed(0)
    X, W, Ws = make_a16w8_operands(Bt, M, N, K, torch.bfloat16, g, device)
    block, out_dtype = (128, 128), torch.bfloat16
    launched = _recorded(monkeypatch, module, names, run, X, W, Ws, block, out_dtype, CFG)
    compiled = _recorded(
        monkeypatch, module, names, compile_ahead, *(Bt, M, N, K, X.dtype, out_dtype, block, CFG)
    )
    assert launched and compiled == launched


def test_shape_only_matches_a_contiguous_tensor():
    t = torch.empty(3, 5, 7, dtype=torch.float8_e4m3fn)
    s = ShapeOnly(t.dtype, tuple(t.shape))
    assert s.stride() == t.stride() and s.element_size() == t.element_size()
    assert operand_strides(s, ShapeOnly(torch.float32, (4, 2))) == (*t.stride(), 2, 1)
