"""fp32 references and the error metric every check in the project uses.

Tests, the tuner's verification of winners, and the benchmark's accuracy column all call these,
so "correct" means one thing everywhere: the relative Frobenius error of the output against the
fp32 product of the *dequantized* operands, under a bound that depends on the output dtype.
"""

from __future__ import annotations

import torch

from kernels.quant import dequantize_token_groups, dequantize_weight_blocks

# Unit roundoff of the output dtype: rounding a correct fp32 result to it changes the
# Frobenius norm of the error by at most this fraction of ||ref||.
_UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}

# Allowance for accumulation: the fp32 accumulator itself contributes ~sqrt(K) * 2^-24, far below
# this, but Hopper's FP8 tensor cores accumulate inside one K tile with a narrower mantissa
# (about 14 bits, the reason DeepGEMM and these kernels promote to fp32 after every tile), which
# is ~1e-4 relative. 1e-3 leaves a 10x margin over that while still catching any real bug: a
# wrong scale, a skipped tile or a misplaced row gives errors of order 1e-2 to 1.
ACCUMULATION_ALLOWANCE = 1e-3


def tolerance(out_dtype: torch.dtype) -> float:
    """Largest relative error accepted for an output of ``out_dtype``."""
    return _UNIT_ROUNDOFF[out_dtype] + ACCUMULATION_ALLOWANCE


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref||_F / ||ref||_F in float64; inf if any output is NaN/inf (unwritten poison)."""
    o = out.double()
    r = ref.double()
    if not bool(torch.isfinite(o).all()):
        return float("inf")
    denom = torch.linalg.vector_norm(r).item()
    num = torch.linalg.vector_norm(o - r).item()
    return num / denom if denom > 0 else num


def _matmul_fp32(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """a @ b_t in true fp32 (TF32 off), so the reference is not itself rounded to 10 bits."""
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        return a @ b_t
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev


def w8a8_block_reference(
    A: torch.Tensor,
    B: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
) -> torch.Tensor:
    """fp32 (M, N) = dequant(A, As) @ dequant(B, Bs)^T."""
    a = dequantize_token_groups(A, As, block_size[1])
    b = dequantize_weight_blocks(B, Bs, block_size)
    return _matmul_fp32(a, b.t())


def a16w8_batched_reference(
    X: torch.Tensor, W: torch.Tensor, Ws: torch.Tensor, block_size: tuple[int, int] = (128, 128)
) -> torch.Tensor:
    """fp32 (B, M, N) = X @ dequant(W, Ws)^T, batched over the leading dim."""
    w = dequantize_weight_blocks(W, Ws, block_size)
    return _matmul_fp32(X.float(), w.transpose(-1, -2))


def dense_reference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp32 (M, N) = a @ b^T for unquantized (or already dequantized) operands."""
    return _matmul_fp32(a.float(), b.float().t())
