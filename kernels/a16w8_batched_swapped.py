"""Batched A16W8 with the operands swapped: Y^T = widen(W) @ X^T, and several tiles per program.

Same contract as :mod:`kernels.a16w8_batched`:

    Y[b, m, n] = sum_k X[b, m, k] * W[b, n, k] * Ws[b, n // bn, k // bk]

Why a second kernel. The straightforward one computes ``X @ widen(W)^T``: the widened weight
tile is the MMA's B operand, which a Hopper WGMMA reads from shared memory, so every fp8 tile
goes HBM -> shared -> registers (widen) -> shared again -> tensor cores. Swapping the roles
makes the widened weight the MMA's *A* operand, which a WGMMA can take straight from registers,
and the bf16 activation (no conversion) the shared-memory operand:

    acc[n, m] = sum_k widen(W)[n, k] * X[m, k]        (acc is Y^T for one tile)

It also puts the tokens on the MMA's N side, where a tile may be as narrow as 16, so the small
M of decode (M = 1..32 tokens per head) does not fill a 64-row MMA with padding.

Several tiles per program (``TILES_PER_PROGRAM``): with K = 128 (the W_UK shape, (N, K) =
(512, 128)) a tile is one K step, so a program that computes one tile has nothing to overlap its
loads with. Here a program walks its tiles and their K steps as one flat loop, which Triton's
pipeliner prefetches across tile boundaries: the next tile's weights load while this tile's
product is scaled and stored. Program p takes tiles p, p + P, p + 2P, ... (P programs), so the
programs running together work on neighbouring tiles, which share one batch's X and W in L2.
``TILES_PER_PROGRAM = 1`` is one tile per program, as in the straightforward kernel.

What the H100 and H200 showed (docs/kernel-notes.md, fifth round): the swap pays only where the
output write dominates, the K = 128 shapes at B >= 64 and M = 128 (up to 9 % faster than the
straightforward kernel); elsewhere it is 2-42 % slower. Triton 3.6 feeds the register operand
through shared memory with 8-byte copies and 2-byte shared loads, which costs more than the
round trip it saves. Several tiles per program won only on those same shapes. The catalog
times both kernels and picks per shape.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels._host import launch, num_tiles, operand_strides
from kernels.a16w8_batched import check_a16w8_batched_args, shape_only_operands
from kernels.tiling import grouped_tile_ids, split_config, validate_config
from kernels.validation import interpreting

EXTRA_KEYS = ("TILES_PER_PROGRAM",)


def default_swapped_config(M: int = 1) -> dict[str, int]:
    """Used when no tuned table exists: 64 weight rows x up to 64 tokens, 2 tiles a program."""
    bm = min(64, max(16, triton.next_power_of_2(M)))
    return {
        "BLOCK_SIZE_M": bm,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 3,
        "TILES_PER_PROGRAM": 2,
    }


def validate_swapped_config(config: Mapping[str, int], block_k: int) -> dict[str, int]:
    """The standard checks plus an optional TILES_PER_PROGRAM >= 1 (absent means 1)."""
    cfg = validate_config(config, block_k, extra_keys=EXTRA_KEYS)
    if cfg.get("TILES_PER_PROGRAM", 1) < 1:
        raise ValueError(f"config: TILES_PER_PROGRAM={cfg['TILES_PER_PROGRAM']} must be >= 1")
    return cfg


@triton.jit
def _a16w8_batched_swapped_kernel(
    # Pointers
    x_ptr,
    w_ptr,
    y_ptr,
    w_scale_ptr,
    # Sizes
    B,
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
    # Tiles are numbered batch by batch, and within a batch in grouped order.
    tiles_per_batch = tl.cdiv(M, BLOCK_SIZE_M) * tl.cdiv(N, BLOCK_SIZE_N)
    num_tiles = B * tiles_per_batch
    k_tiles = tl.cdiv(K, BLOCK_SIZE_K)
    pid = tl.program_id(0)
    num_programs = tl.num_programs(0)
    my_tiles = tl.cdiv(num_tiles - pid, num_programs)  # tiles pid, pid + P, pid + 2P, ...

    offs_k = tl.arange(0, BLOCK_SIZE_K)
    acc = tl.zeros((BLOCK_SIZE_N, BLOCK_SIZE_M), dtype=tl.float32)
    # One flat loop over (tile, K step) pairs, so loads are prefetched across tiles:
    #   acc[n, m] += (widen(W_tile) @ X_tile^T)[n, m] * Ws[b, n // bn, k0 // bk]
    # and after a tile's last K step, Y[b, m, n] = acc[n, m] and acc restarts at zero.
    for step in range(0, my_tiles * k_tiles):
        tile = pid + (step // k_tiles) * num_programs
        ki = step % k_tiles
        batch = (tile // tiles_per_batch).to(tl.int64)
        pid_m, pid_n = grouped_tile_ids(
            tile % tiles_per_batch, M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M
        )
        # Rows past M or N wrap around (loads stay in bounds; the store masks them).
        offs_m = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
        offs_n = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
        k0 = ki * BLOCK_SIZE_K
        k_mask = (k0 + offs_k) < K

        w_ptrs = (
            w_ptr
            + batch * stride_wb
            + offs_n[:, None] * stride_wn
            + (k0 + offs_k)[None, :] * stride_wk
        )
        xt_ptrs = (
            x_ptr
            + batch * stride_xb
            + (k0 + offs_k)[:, None] * stride_xk
            + offs_m[None, :] * stride_xm
        )
        w = tl.load(w_ptrs, mask=k_mask[None, :], other=0.0)
        xt = tl.load(xt_ptrs, mask=k_mask[:, None], other=0.0)
        w_s = tl.load(
            w_scale_ptr
            + batch * stride_sb
            + (offs_n // group_n) * stride_sn
            + (k0 // group_k) * stride_sk
        )
        if WIDEN_DOT_TO_FP32:
            # CPU interpreter only (triton 3.6 computes bf16 dots wrongly there). Same result:
            # bf16 x e4m3 products are exact in fp32, and the GPU accumulates in fp32 too.
            part = tl.dot(w.to(tl.float32), xt.to(tl.float32))
        else:
            part = tl.dot(w.to(xt.dtype), xt)
        acc += part * w_s[:, None]

        if ki == k_tiles - 1:
            offs_ym = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
            offs_yn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
            y_ptrs = (
                y_ptr
                + batch * stride_yb
                + offs_yn[:, None] * stride_yn
                + offs_ym[None, :] * stride_ym
            )
            tl.store(
                y_ptrs,
                acc.to(y_ptr.dtype.element_ty),
                mask=(offs_yn[:, None] < N) & (offs_ym[None, :] < M),
            )
            acc = tl.zeros((BLOCK_SIZE_N, BLOCK_SIZE_M), dtype=tl.float32)


def a16w8_batched_swapped_matmul(
    X: torch.Tensor,
    W: torch.Tensor,
    Ws: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype | None = None,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Y = X @ (W * Ws)^T batched over the leading dimension; arguments, checks and result as
    :func:`kernels.a16w8_batched.a16w8_batched_matmul`. ``config`` takes the standard keys
    plus an optional ``TILES_PER_PROGRAM``; ``None`` uses :func:`default_swapped_config`."""
    out_dtype, (block_n, block_k) = check_a16w8_batched_args(X, W, Ws, block_size, out_dtype, out)
    Bt, M, _ = X.shape
    N = W.shape[1]
    cfg = validate_swapped_config(
        config if config is not None else default_swapped_config(M), block_k
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
    meta, options = split_config(cfg, drop=EXTRA_KEYS)
    Bt, M, K = X.shape
    N = W.shape[1]
    args = (X, W, Y, Ws, Bt, M, N, K, *block_size, *operand_strides(X, W, Y, Ws))
    grid = (triton.cdiv(Bt * num_tiles(M, N, meta), cfg.get("TILES_PER_PROGRAM", 1)),)
    flags = dict(WIDEN_DOT_TO_FP32=widen_dot)
    launch(_a16w8_batched_swapped_kernel, grid, args, warmup, **meta, **options, **flags)


def compile_a16w8_batched_swapped(
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
        validate_swapped_config(config, block_size[1]),
        widen_dot=interpreting() and x_dtype == torch.bfloat16,  # as the launch decides it
        warmup=True,
    )
