"""Batched A16W8 block-scaled GEMM: bf16/fp16 activations x FP8 block-scaled weights.

    Y[b, m, n] = sum_k X[b, m, k] * W[b, n, k] * Ws[b, n // bn, k // bk]

X (B, M, K) bf16/fp16, W (B, N, K) float8_e4m3fn, Ws (B, ceil(N/bn), ceil(K/bk)) fp32, Y (B, M, N).
This is DeepSeek-R1's absorbed MLA attention (B = heads / TP; (N, K) = (512, 128) for
q_nope x W_UK and (128, 512) for attn_out x W_UV). Every e4m3 value is exact in bf16 and fp16,
so the weights are widened in registers and the dot runs on 16-bit tensor cores with fp32
accumulation; the weight scale is applied per K tile, as in the W8A8 kernel.

The weights are read in their stored (B, N, K) layout through strides: no per-call copy or
transpose (the AITER reference wrapper copied them on every call, which at M = 1 costs more
than the GEMM itself).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels._host import ShapeOnly, launch, num_tiles, operand_strides, weight_block
from kernels.platform import FP8_DTYPES
from kernels.tiling import default_w8a8_config, grouped_tile_ids, split_config, validate_config
from kernels.validation import (
    FP8_DTYPE,
    check_devices,
    check_dtype,
    check_inner_contiguous,
    check_ndim,
    check_out,
    check_out_dtype,
    check_shape,
    interpreting,
)


def default_a16w8_config(block_n: int = 128, block_k: int = 128) -> dict[str, int]:
    """Fallback when no tuned table exists: vLLM's W8A8 default, which is valid here too."""
    return default_w8a8_config(block_n, block_k)


@triton.jit
def _a16w8_batched_kernel(
    # Pointers
    x_ptr,
    w_ptr,
    y_ptr,
    w_scale_ptr,
    # Sizes
    M,
    N,
    K,
    # Quantization block of the weight scales
    group_n,
    group_k,
    # Strides
    stride_xb,
    stride_xm,
    stride_xk,
    stride_wb,
    stride_wn,
    stride_wk,
    stride_yb,
    stride_ym,
    stride_yn,
    stride_sb,
    stride_sn,
    stride_sk,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    WIDEN_DOT_TO_FP32: tl.constexpr,
):
    # Axis 0 walks the output tiles of one batch in grouped order; axis 1 is the batch.
    pid_m, pid_n = grouped_tile_ids(
        tl.program_id(0), M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M
    )
    batch = tl.program_id(1).to(tl.int64)
    x_ptr += batch * stride_xb
    w_ptr += batch * stride_wb
    y_ptr += batch * stride_yb
    w_scale_ptr += batch * stride_sb

    offs_m = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_n = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk
    w_ptrs = w_ptr + offs_k[:, None] * stride_wk + offs_n[None, :] * stride_wn
    w_scale_ptrs = w_scale_ptr + (offs_n // group_n) * stride_sn

    # acc[m, n] += (X_tile @ widen(W_tile))[m, n] * Ws[b, n // bn, k0 // bk]
    acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        k_remaining = K - k * BLOCK_SIZE_K
        x = tl.load(x_ptrs, mask=offs_k[None, :] < k_remaining, other=0.0)
        w = tl.load(w_ptrs, mask=offs_k[:, None] < k_remaining, other=0.0)
        w_s = tl.load(w_scale_ptrs + ((k * BLOCK_SIZE_K) // group_k) * stride_sk)
        if WIDEN_DOT_TO_FP32:
            # CPU interpreter only (triton 3.6 computes bf16 dots wrongly there). Same result:
            # bf16 x e4m3 products are exact in fp32, and the GPU accumulates in fp32 too.
            part = tl.dot(x.to(tl.float32), w.to(tl.float32))
        else:
            part = tl.dot(x, w.to(x.dtype))
        acc += part * w_s[None, :]
        x_ptrs += BLOCK_SIZE_K * stride_xk
        w_ptrs += BLOCK_SIZE_K * stride_wk

    y = acc.to(y_ptr.dtype.element_ty)
    offs_ym = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_yn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    y_ptrs = y_ptr + offs_ym[:, None] * stride_ym + offs_yn[None, :] * stride_yn
    tl.store(y_ptrs, y, mask=(offs_ym[:, None] < M) & (offs_yn[None, :] < N))


def check_a16w8_batched_args(
    X: torch.Tensor,
    W: torch.Tensor,
    Ws: torch.Tensor,
    block_size: tuple[int, int],
    out_dtype: torch.dtype | None,
    out: torch.Tensor | None,
) -> tuple[torch.dtype, tuple[int, int]]:
    """The argument checks every batched A16W8 wrapper shares (one-line ValueErrors naming the
    argument); returns the output dtype (X's unless given) and the weight block (bn, bk)."""
    check_ndim("X", X, 3)
    check_ndim("W", W, 3)
    check_dtype("X", X, (torch.bfloat16, torch.float16))
    check_dtype("W", W, FP8_DTYPES)
    check_dtype("Ws", Ws, (torch.float32,))
    out_dtype = X.dtype if out_dtype is None else out_dtype
    check_out_dtype(out_dtype)
    block_n, block_k = weight_block(block_size)
    Bt, M, K = X.shape
    Bw, N, K_w = W.shape
    if Bw != Bt:
        raise ValueError(f"W: batch {Bw} != X's batch {Bt}")
    if K_w != K:
        raise ValueError(f"W: shape {tuple(W.shape)} has K={K_w}, X has K={K}")
    if min(Bt, M, N, K) < 1:
        raise ValueError(f"X/W: empty problem B={Bt}, M={M}, N={N}, K={K}")
    check_shape("Ws", Ws, (Bt, triton.cdiv(N, block_n), triton.cdiv(K, block_k)))
    check_inner_contiguous("X", X)
    check_inner_contiguous("W", W)
    check_devices(X=X, W=W, Ws=Ws)
    check_out(out, (Bt, M, N), out_dtype, X.device)
    return out_dtype, (block_n, block_k)


def a16w8_batched_matmul(
    X: torch.Tensor,
    W: torch.Tensor,
    Ws: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype | None = None,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Y = X @ (W * Ws)^T batched over the leading dimension.

    Args:
        X: (B, M, K) bfloat16 or float16, K unit-stride (any batch / row strides).
        W: (B, N, K) float8_e4m3fn, K unit-stride, used in place.
        Ws: (B, ceil(N / bn), ceil(K / bk)) float32 weight scales.
        block_size: [bn, bk] of the weight quantization.
        out_dtype: defaults to X's dtype.
        config: vLLM-style config dict (same keys as the W8A8 kernel); ``None`` = default.
        out: optional preallocated (B, M, N) output.
    """
    out_dtype, (block_n, block_k) = check_a16w8_batched_args(X, W, Ws, block_size, out_dtype, out)
    Bt, M, _ = X.shape
    N = W.shape[1]
    if Bt > 65535:
        raise ValueError(f"X: batch {Bt} exceeds the grid limit 65535")
    cfg = validate_config(
        config if config is not None else default_a16w8_config(block_n, block_k), block_k
    )
    Y = out if out is not None else torch.empty((Bt, M, N), dtype=out_dtype, device=X.device)

    _launch(
        X, W, Y, Ws, (block_n, block_k), cfg, widen_dot=interpreting() and X.dtype == torch.bfloat16
    )
    return Y


def _launch(
    X,
    W,
    Y,
    Ws,
    block_size: tuple[int, int],
    cfg: Mapping[str, int],
    widen_dot: bool = False,
    warmup: bool = False,
) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel; operands may be ShapeOnly."""
    meta, options = split_config(cfg)
    Bt, M, K = X.shape
    N = W.shape[1]
    grid = (num_tiles(M, N, meta), Bt)
    args = (X, W, Y, Ws, M, N, K, *block_size, *operand_strides(X, W, Y, Ws))
    flags = dict(WIDEN_DOT_TO_FP32=widen_dot)
    launch(_a16w8_batched_kernel, grid, args, warmup, **meta, **options, **flags)


def compile_a16w8_batched(
    Bt: int,
    M: int,
    N: int,
    K: int,
    x_dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
) -> None:
    """Compile (without running) the binary a launch on contiguous operands of this shape uses."""
    _launch(
        *shape_only_operands(Bt, M, N, K, x_dtype, out_dtype, block_size),
        block_size,
        validate_config(config, block_size[1]),
        widen_dot=interpreting() and x_dtype == torch.bfloat16,  # as the launch decides it
        warmup=True,
    )


def shape_only_operands(
    Bt: int,
    M: int,
    N: int,
    K: int,
    x_dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
) -> tuple[ShapeOnly, ...]:
    """Stand-ins for contiguous X, W, Y and Ws of one shape, for compiling ahead of time."""
    bn, bk = block_size
    return (
        ShapeOnly(x_dtype, (Bt, M, K)),
        ShapeOnly(FP8_DTYPE, (Bt, N, K)),
        ShapeOnly(out_dtype, (Bt, M, N)),
        ShapeOnly(torch.float32, (Bt, triton.cdiv(N, bn), triton.cdiv(K, bk))),
    )


def a16w8_batched_flops(B: int, M: int, N: int, K: int) -> int:
    return 2 * B * M * N * K


def a16w8_batched_bytes(
    B: int, M: int, N: int, K: int, act_bytes: int = 2, block_size: tuple[int, int] = (128, 128)
) -> int:
    """Fewest bytes: X and Y in 16 bits, W in 8 bits, scales in fp32, each touched once."""
    bn, bk = block_size
    scales = 4 * B * (-(-N // bn)) * (-(-K // bk))
    return B * (M * K * act_bytes + N * K + M * N * act_bytes) + scales
