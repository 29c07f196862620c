"""The host skeleton every GEMM wrapper of this package shares: check, allocate, launch.

A wrapper's public function does three things, as in Triton's matmul tutorial: it *checks* its
operands and config (a Triton kernel handed a wrong shape or dtype reads past a buffer or
computes garbage, so misuse must be a one-line ``ValueError`` naming the argument), it
*allocates* the output unless the caller passed one, and it *launches*. Its ``compile_*`` twin
takes only a shape and builds the binary that launch will load, ahead of time (the tuner's
compile pool), by running the same launch code on :class:`ShapeOnly` stand-ins with
``warmup``. The pieces those steps have in common live here, so that each wrapper keeps only
what is its own: its config checks, its grid and its kernel's argument list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import triton

from kernels.platform import FP8_DTYPES
from kernels.validation import (
    check_devices,
    check_dtype,
    check_inner_contiguous,
    check_ndim,
    check_out,
    check_out_dtype,
    check_shape,
)

W8A8_DTYPES = (*FP8_DTYPES, torch.int8)  # e4m3fn, e4m3fnuz (kernels.platform), int8


# --- check ---------------------------------------------------------------------------------------


def weight_block(block_size: Sequence[int]) -> tuple[int, int]:
    """The weight quantization block [bn, bk] (a model's ``weight_block_size``) as ints."""
    if len(block_size) != 2 or min(block_size) < 16:
        raise ValueError(f"block_size: expected [block_n, block_k] >= 16, got {list(block_size)}")
    block_n, block_k = (int(v) for v in block_size)
    return block_n, block_k


def matmul_sizes(a_name: str, A: torch.Tensor, B: torch.Tensor) -> tuple[int, int, int]:
    """(M, N, K) of C = A @ B^T for A (M, K) and B (N, K): one K, and nothing empty."""
    M, K = A.shape
    N, K_b = B.shape
    if K_b != K:
        raise ValueError(f"B: shape {tuple(B.shape)} has K={K_b}, {a_name} has K={K}")
    if min(M, N, K) < 1:
        raise ValueError(f"{a_name}/B: empty problem M={M}, N={N}, K={K}")
    return M, N, K


def check_block_scaled_args(
    A: torch.Tensor,
    B: torch.Tensor,
    As: torch.Tensor | None,
    Bs: torch.Tensor,
    block_size: Sequence[int],
    out_dtype: torch.dtype,
    *,
    a_name: str = "A",
    a_dtypes: tuple[torch.dtype, ...] = W8A8_DTYPES,
    b_dtypes: tuple[torch.dtype, ...] | None = None,
) -> tuple[int, int, int, tuple[int, int]]:
    """Check the operands of C = (A * As) @ (B * Bs)^T; returns M, N, K and the block (bn, bk).

    A (M, K) is the activation, in one of ``a_dtypes``; B (N, K) the weight, of A's dtype unless
    ``b_dtypes`` says otherwise; As (M, ceil(K/bk)) and Bs (ceil(N/bn), ceil(K/bk)) are fp32
    scales. K is unit-stride in A and B (tiles load as wide vectors) and everything lies on one
    device. A kernel that quantizes the activation itself takes no ``As`` (None) and calls its
    activation X (``a_name``), so that the messages name its arguments.
    """
    block_n, block_k = weight_block(block_size)
    check_ndim(a_name, A, 2)
    check_ndim("B", B, 2)
    check_dtype(a_name, A, a_dtypes)
    if b_dtypes is not None:
        check_dtype("B", B, b_dtypes)
    elif B.dtype != A.dtype:
        raise ValueError(f"B: dtype {B.dtype} must match {a_name}'s {A.dtype}")
    scales = {"As": As, "Bs": Bs} if As is not None else {"Bs": Bs}
    for name, scale in scales.items():
        check_dtype(name, scale, (torch.float32,))
    check_out_dtype(out_dtype)
    M, N, K = matmul_sizes(a_name, A, B)
    k_blocks = triton.cdiv(K, block_k)
    if As is not None:
        check_shape("As", As, (M, k_blocks))
    check_shape("Bs", Bs, (triton.cdiv(N, block_n), k_blocks))
    check_inner_contiguous(a_name, A)
    check_inner_contiguous("B", B)
    check_devices(**{a_name: A, "B": B}, **scales)
    return M, N, K, (block_n, block_k)


# --- allocate ------------------------------------------------------------------------------------


def allocate_output(
    out: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The caller's ``out`` once checked against the result it will hold, else a new tensor."""
    check_out(out, shape, dtype, device)
    return out if out is not None else torch.empty(shape, dtype=dtype, device=device)


# --- grid and launch -----------------------------------------------------------------------------


def num_tiles(M: int, N: int, config: Mapping[str, int]) -> int:
    """Output tiles of an (M, N) result cut into BLOCK_SIZE_M x BLOCK_SIZE_N tiles."""
    return triton.cdiv(M, config["BLOCK_SIZE_M"]) * triton.cdiv(N, config["BLOCK_SIZE_N"])


def persistent_programs(M: int, N: int, config: Mapping[str, int], num_sms: int) -> int:
    """Programs of a persistent launch: one per SM, but never more than there are tiles."""
    return max(1, min(num_sms, num_tiles(M, N, config)))


def operand_strides(*operands: Any) -> tuple[int, ...]:
    """Every dimension's stride of each operand in turn (tensors or :class:`ShapeOnly`): the
    stride arguments of a kernel that takes them in the operands' own dimension order."""
    return tuple(t.stride(d) for t in operands for d in range(len(t.shape)))


def launch(
    kernel: Any, grid: tuple[int, ...], args: tuple[Any, ...], warmup: bool, /, **options: Any
) -> None:
    """Run ``kernel`` on ``grid``, or with ``warmup`` only compile the binary that run loads
    (then the tensors in ``args`` may be :class:`ShapeOnly` stand-ins). ``options`` are the
    kernel's constexprs and the launch options (num_warps, num_stages, ...)."""
    if warmup:
        kernel.warmup(*args, grid=grid, **options)
    else:
        kernel[grid](*args, **options)


# --- compile ahead -------------------------------------------------------------------------------


class ShapeOnly:
    """A tensor stand-in (dtype, shape, contiguous strides) for ahead-of-time compilation.

    Triton specializes a kernel on its integer arguments (== 1, divisible by 16) and pointer
    alignment, so compiling for a shape needs the right ints, not the data. Passing these to a
    kernel's ``warmup`` compiles exactly the binary a real launch at that shape will load from
    Triton's cache, without allocating the operands.
    """

    def __init__(self, dtype: Any, shape: tuple[int, ...]):
        self.dtype = dtype
        self.shape = tuple(shape)

    def stride(self, dim: int | None = None) -> Any:
        strides, acc = [], 1
        for size in reversed(self.shape):
            strides.append(acc)
            acc *= size
        strides.reverse()
        return tuple(strides) if dim is None else strides[dim]

    def element_size(self) -> int:
        return self.dtype.itemsize

    @staticmethod
    def data_ptr() -> int:
        return 0  # as aligned as any real allocation


def shape_only_operands(
    M: int,
    N: int,
    K: int,
    a_dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    b_dtype: torch.dtype | None = None,
) -> tuple[ShapeOnly, ...]:
    """(A, B, C, As, Bs) stand-ins for contiguous block-scaled operands of this shape (B of
    A's dtype unless ``b_dtype`` is given)."""
    bn, bk = block_size
    kb = triton.cdiv(K, bk)
    return (
        ShapeOnly(a_dtype, (M, K)),
        ShapeOnly(b_dtype if b_dtype is not None else a_dtype, (N, K)),
        ShapeOnly(out_dtype, (M, N)),
        ShapeOnly(torch.float32, (M, kb)),
        ShapeOnly(torch.float32, (triton.cdiv(N, bn), kb)),
    )
