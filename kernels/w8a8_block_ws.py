"""Block-scaled W8A8 GEMM for large M (prefill): warp-specialized, TMA-fed, FP8 only.

    C[m, n] = sum_k A[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

Same operands, scales and standard config keys as :mod:`kernels.w8a8_block`; built for
M >= 512, correct for any M.

Why the drop-in kernel stalls at large M: block-scale promotion,
``acc += dot(a, b) * As * Bs`` after every 128-wide K tile, needs each tile's wgmma result in
registers before its FMAs, so triton waits for the matrix units (``wgmma.wait_group 0``) once per
K tile, and in a single instruction stream the tensor cores idle while the FMAs, the scale loads
and the next tile's issue run. cuBLAS and DeepGEMM hide that with warp specialization: a
producer warp group only issues TMA copies, and two consumer warp groups each own half of the
output tile, so while one promotes, the other's wgmma runs.

Triton 3.6 builds exactly that on Hopper for a loop written ``tl.range(..., warp_specialize=True)``
when both operands come through tensor descriptors: with ``num_warps=4`` and BLOCK_SIZE_M = 128
it emits a 4-warp TMA producer plus two 4-warp consumer partitions of 64 x BLOCK_SIZE_N each,
their register budgets raised with ``setmaxnreg`` (verified in the TTGIR/PTX of an sm_90 build:
``ttg.warp_specialize`` with two partitions, ``requestedRegisters = [232, 232]``). Its tutorial
shows the flag on Blackwell only; ``docs/kernel-notes.md`` has the measurements on H100/H200.

Rules this kernel relies on:

* A and B are read through device-side tensor descriptors (``tl.make_tensor_descriptor``):
  16-byte aligned base and row stride (K % 16 == 0 for contiguous FP8 operands); out-of-bounds
  rows and K columns arrive as zeros, so ragged M, N and K need no masks. The wrapper refuses
  operands TMA cannot read (use the drop-in or persistent kernel for those).
* The scales are read with ordinary loads inside the consumer partitions (issued before the
  wgmma they scale, so their latency overlaps it). Carrying prefetched scales across
  iterations makes triton 3.6's warp-specialization pass fail, so the loop stays this simple.
* ``num_warps`` counts the warps of one partition (4: one warp group each).

Under TRITON_INTERPRET=1 the loop runs as a plain loop (the flag is a compiler hint), so the CPU
tests check the indexing, scaling and ragged edges of the same source.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels.tiling import grouped_tile_ids, split_config, validate_config
from kernels.validation import FP8_DTYPE, check_out
from kernels.w8a8_block import (
    check_w8a8_block_args,
    shape_only_operands,
    w8a8_block_bytes,
    w8a8_block_flops,
)
from kernels.w8a8_block_persistent import TMA_ALIGN, ensure_tma_allocator, tma_compatible

__all__ = [
    "compile_w8a8_block_ws",
    "default_ws_config",
    "w8a8_block_bytes",
    "w8a8_block_flops",
    "w8a8_block_ws_matmul",
]

def default_ws_config() -> dict[str, int]:
    """128 x 128 x 128 tiles: two 64-row consumer warp groups, 4 pipeline stages (~144 KB)."""
    return {"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 128, "BLOCK_SIZE_K": 128, "GROUP_SIZE_M": 8,
            "num_warps": 4, "num_stages": 4}


@triton.jit
def _w8a8_block_ws_kernel(
    # Pointers
    a_ptr, b_ptr, c_ptr, a_scale_ptr, b_scale_ptr,
    # Sizes
    M, N, K,
    # Quantization block of the weight scales (activations use groups of group_k)
    group_n, group_k,
    # Strides (K is unit-stride in A and B)
    stride_am, stride_bn,
    stride_cm, stride_cn,
    stride_as_m, stride_as_k,
    stride_bs_n, stride_bs_k,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
):
    pid_m, pid_n = grouped_tile_ids(tl.program_id(0), M, N,
                                    BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M)
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[stride_am, 1],
                                       block_shape=[BLOCK_SIZE_M, BLOCK_SIZE_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[N, K], strides=[stride_bn, 1],
                                       block_shape=[BLOCK_SIZE_N, BLOCK_SIZE_K])
    # Scale rows / columns wrap (% M, % N) so their loads need no mask; the store drops them.
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    a_scale_ptrs = a_scale_ptr + offs_am * stride_as_m
    b_scale_ptrs = b_scale_ptr + (offs_bn // group_n) * stride_bs_n
    k_tiles = tl.cdiv(K, BLOCK_SIZE_K)

    # acc[m, n] += (A_tile @ B_tile^T)[m, n] * As[m, kb] * Bs[n // bn, kb],  kb = ki*BK // bk
    # (BLOCK_SIZE_K divides bk: one scale per row of A and per column of B for each K tile).
    acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for ki in tl.range(0, k_tiles, warp_specialize=True):
        a = a_desc.load([pid_m * BLOCK_SIZE_M, ki * BLOCK_SIZE_K])
        b = b_desc.load([pid_n * BLOCK_SIZE_N, ki * BLOCK_SIZE_K])
        col = (ki * BLOCK_SIZE_K) // group_k
        a_s = tl.load(a_scale_ptrs + col * stride_as_k)
        b_s = tl.load(b_scale_ptrs + col * stride_bs_k)
        acc += tl.dot(a, b.T) * a_s[:, None] * b_s[None, :]

    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty),
             mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


def w8a8_block_ws_matmul(
    A: torch.Tensor,
    B: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype = torch.bfloat16,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """C = (A * As) @ (B * Bs)^T for FP8 operands, like :func:`kernels.w8a8_block.w8a8_block_matmul`.

    ``config`` takes the standard keys; ``None`` uses :func:`default_ws_config`. A and B must be FP8 and TMA-readable (16-byte aligned base
    pointers and row strides).
    """
    M, N, K = check_w8a8_block_args(A, B, As, Bs, block_size, out_dtype)
    if A.dtype != FP8_DTYPE:
        raise ValueError(f"A: the warp-specialized kernel takes float8_e4m3fn, got {A.dtype}")
    if not tma_compatible(A, B):
        raise ValueError(f"A/B: TMA needs {TMA_ALIGN}-byte aligned base pointers and row "
                         f"strides (K={K}); use w8a8_block_matmul for these operands")
    block_n, block_k = (int(v) for v in block_size)
    cfg = validate_config(config if config is not None else default_ws_config(), block_k)
    check_out(out, (M, N), out_dtype, A.device)
    C = out if out is not None else torch.empty((M, N), dtype=out_dtype, device=A.device)
    _launch(A, B, C, As, Bs, (block_n, block_k), cfg)
    return C


def _launch(A, B, C, As, Bs, block_size: tuple[int, int], cfg: Mapping[str, int],
            warmup: bool = False) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel; operands may be ShapeOnly."""
    meta, launch = split_config(cfg)
    M, K = A.shape
    N = B.shape[0]
    grid = (triton.cdiv(M, meta["BLOCK_SIZE_M"]) * triton.cdiv(N, meta["BLOCK_SIZE_N"]),)
    args = (
        A, B, C, As, Bs,
        M, N, K,
        block_size[0], block_size[1],
        A.stride(0), B.stride(0),
        C.stride(0), C.stride(1),
        As.stride(0), As.stride(1),
        Bs.stride(0), Bs.stride(1),
    )
    if warmup:
        _w8a8_block_ws_kernel.warmup(*args, grid=grid, **meta, **launch)
        return
    ensure_tma_allocator()
    _w8a8_block_ws_kernel[grid](*args, **meta, **launch)


def compile_w8a8_block_ws(M: int, N: int, K: int, dtype: torch.dtype, out_dtype: torch.dtype,
                          block_size: tuple[int, int], config: Mapping[str, int]) -> None:
    """Compile (without running) the binary a launch on contiguous operands of this shape uses."""
    cfg = validate_config(config, block_size[1])
    if dtype != FP8_DTYPE:
        raise ValueError(f"dtype: the warp-specialized kernel takes float8_e4m3fn, got {dtype}")
    if K % TMA_ALIGN:
        raise ValueError(f"K={K}: TMA needs rows of a multiple of {TMA_ALIGN} bytes")
    _launch(*shape_only_operands(M, N, K, dtype, out_dtype, block_size), block_size, cfg,
            warmup=True)
