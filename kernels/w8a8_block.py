"""W8A8 block-scaled GEMM (FP8 e4m3 or INT8), drop-in compatible with vLLM's / SGLang's kernel.

    C[m, n] = sum_k A[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

A (M, K) holds activations quantized per token and per group of ``bk`` columns (scale ``As``,
shape (M, ceil(K/bk))); B (N, K) holds weights quantized per ``bn x bk`` block (scale ``Bs``,
shape (ceil(N/bn), ceil(K/bk))). Scales are fp32; C is fp16, bf16 or fp32.

The config keys (BLOCK_SIZE_M/N/K, GROUP_SIZE_M, num_warps, num_stages), the 1-D grouped grid and
the per-K-tile scale promotion are those of vLLM's ``_w8a8_block_fp8_matmul``, so a config tuned
here is a drop-in entry of a vLLM / SGLang config file. BLOCK_SIZE_K must divide ``bk``: a K tile
then lies inside one scale block and needs one scale per row of A and per column of B.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels._host import (
    allocate_output,
    check_block_scaled_args,
    launch,
    num_tiles,
    shape_only_operands,
)
from kernels.tiling import default_w8a8_config, grouped_tile_ids, split_config, validate_config


@triton.jit
def _w8a8_block_gemm_kernel(
    # Pointers
    a_ptr,
    b_ptr,
    c_ptr,
    a_scale_ptr,
    b_scale_ptr,
    # Sizes
    M,
    N,
    K,
    # Quantization block of the weight scales (activations use groups of group_k)
    group_n,
    group_k,
    # Strides
    stride_am,
    stride_ak,
    stride_bk,
    stride_bn,
    stride_cm,
    stride_cn,
    stride_as_m,
    stride_as_k,
    stride_bs_k,
    stride_bs_n,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
):
    pid_m, pid_n = grouped_tile_ids(
        tl.program_id(0), M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M
    )

    # Rows / columns of this tile. Out-of-range rows wrap (% M) so loads stay in bounds without
    # a mask; their results are discarded by the store mask.
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn
    a_scale_ptrs = a_scale_ptr + offs_am * stride_as_m
    b_scale_ptrs = b_scale_ptr + (offs_bn // group_n) * stride_bs_n

    # acc[m, n] += (A_tile @ B_tile)[m, n] * As[m, kb] * Bs[n // bn, kb]   for kb = k0 // group_k
    # The dot of a K tile is exact (int32) or fp32-accumulated (fp8); scales are applied per tile
    # in fp32, which is what "block-scale promotion" means.
    acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        k_remaining = K - k * BLOCK_SIZE_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_remaining, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_remaining, other=0.0)
        scale_col = (k * BLOCK_SIZE_K) // group_k
        a_s = tl.load(a_scale_ptrs + scale_col * stride_as_k)
        b_s = tl.load(b_scale_ptrs + scale_col * stride_bs_k)
        acc += tl.dot(a, b).to(tl.float32) * a_s[:, None] * b_s[None, :]
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk

    c = acc.to(c_ptr.dtype.element_ty)
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
    tl.store(c_ptrs, c, mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


def w8a8_block_matmul(
    A: torch.Tensor,
    B: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype = torch.bfloat16,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """C = (A * As) @ (B * Bs)^T with per-(1 x bk) activation and per-(bn x bk) weight scales.

    Args:
        A: (M, K) float8_e4m3fn or int8 activations, K unit-stride.
        B: (N, K) weights of the same dtype, K unit-stride.
        As: (M, ceil(K / bk)) float32 activation scales (any strides).
        Bs: (ceil(N / bn), ceil(K / bk)) float32 weight scales (any strides).
        block_size: [bn, bk] of the weight quantization, as in the model's ``weight_block_size``.
        out_dtype: float16, bfloat16 or float32.
        config: vLLM-style config dict; ``None`` uses vLLM's default.
        out: optional preallocated (M, N) output (tests poison it to catch unwritten elements).
    """
    M, N, K, block = check_block_scaled_args(A, B, As, Bs, block_size, out_dtype)
    cfg = validate_config(config if config is not None else default_w8a8_config(*block), block[1])
    C = allocate_output(out, (M, N), out_dtype, A.device)
    _launch(A, B, C, As, Bs, block, cfg)
    return C


def _launch(
    A, B, C, As, Bs, block_size: tuple[int, int], cfg: Mapping[str, int], warmup: bool = False
) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel; operands may be ShapeOnly."""
    meta, options = split_config(cfg)
    M, K = A.shape
    N = B.shape[0]
    args = (
        A,
        B,
        C,
        As,
        Bs,
        M,
        N,
        K,
        block_size[0],
        block_size[1],
        A.stride(0),
        A.stride(1),
        B.stride(1),
        B.stride(0),
        C.stride(0),
        C.stride(1),
        As.stride(0),
        As.stride(1),
        Bs.stride(1),
        Bs.stride(0),
    )
    launch(_w8a8_block_gemm_kernel, (num_tiles(M, N, meta),), args, warmup, **meta, **options)


def compile_w8a8_block(
    M: int,
    N: int,
    K: int,
    dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
) -> None:
    """Compile (without running) the binary a launch on contiguous operands of this shape uses."""
    _launch(
        *shape_only_operands(M, N, K, dtype, out_dtype, block_size),
        block_size,
        validate_config(config, block_size[1]),
        warmup=True,
    )


def w8a8_block_flops(M: int, N: int, K: int) -> int:
    """Multiply-adds counted as two operations each."""
    return 2 * M * N * K


def w8a8_block_bytes(
    M: int, N: int, K: int, out_dtype: torch.dtype, block_size: tuple[int, int] = (128, 128)
) -> int:
    """Fewest bytes a launch must move: each operand and scale read once, C written once."""
    bn, bk = block_size
    kb = -(-K // bk)
    scales = 4 * (M * kb + (-(-N // bn)) * kb)
    return M * K + N * K + scales + M * N * torch.empty(0, dtype=out_dtype).element_size()
