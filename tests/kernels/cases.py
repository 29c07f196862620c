"""Data builders shared by the CPU and GPU kernel tests (cases are enumerated in the tests).

Inputs are random normals with per-row and per-column magnitudes spread over one decade, so
the per-group and per-block scales really differ and a misplaced scale shows up as error. The
magnitudes stay at most ~1 so that products summed over K stay far inside fp16's range (65504):
an overflow would be a test-data artefact, not a kernel bug.
"""

from __future__ import annotations

import torch

from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.validation import FP8_DTYPE

QTYPES = {"fp8": FP8_DTYPE, "int8": torch.int8}
OUT_DTYPES = [torch.float16, torch.bfloat16, torch.float32]


def spread_randn(
    *shape: int, g: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Normal data scaled by a log-uniform factor per row and per column (10^-0.5 .. 10^0)."""
    x = torch.randn(*shape, generator=g)
    rows = 10 ** (-0.5 * torch.rand(*shape[:-1], 1, generator=g))
    cols = 10 ** (-0.5 * torch.rand(*([1] * (len(shape) - 1)), shape[-1], generator=g))
    return (x * rows * cols).to(dtype)


def make_w8a8_operands(
    M: int,
    N: int,
    K: int,
    qtype: str,
    g: torch.Generator,
    device: str,
    block_size: tuple[int, int] = (128, 128),
):
    """(A, B, As, Bs) for the block W8A8 kernel: activations quantized by the kernel under test's
    own helper (itself checked against the torch reference), weights blockwise."""
    dtype = QTYPES[qtype]
    x = spread_randn(M, K, g=g).to(device)
    w = spread_randn(N, K, g=g).to(device)
    A, As = per_token_group_quant(x, block_size[1], dtype)
    B, Bs = quantize_weight_blockwise(w, block_size, dtype)
    return A, B, As, Bs


def make_a16w8_operands(
    Bt: int,
    M: int,
    N: int,
    K: int,
    dtype: torch.dtype,
    g: torch.Generator,
    device: str,
    block_size: tuple[int, int] = (128, 128),
):
    X = spread_randn(Bt, M, K, g=g).to(device=device, dtype=dtype)
    W, Ws = quantize_weight_blockwise(spread_randn(Bt, N, K, g=g).to(device), block_size)
    return X, W, Ws


def poisoned(shape: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """An output buffer full of NaN: any element the kernel fails to write fails the check."""
    return torch.full(shape, float("nan"), dtype=dtype, device=device)
