"""Block-scaled W8A8 GEMM for small M (decode): swap-AB tiles and deterministic split-K.

    C[m, n] = sum_k A[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

Same operands, scales and config keys as :mod:`kernels.w8a8_block`; built for M <= 64, correct
for any M.

Why the drop-in kernel is slow at M = 1: the time is the weight read (N * K bytes, 33 MB for
4608 x 7168), and a 1-D grid of cdiv(N, BLOCK_SIZE_N) programs is 36 programs on 132 SMs: a
quarter of the chip has loads in flight, so ~30% of HBM bandwidth. Two changes:

* **Split-K.** Program (tile, s) reduces only the K tiles [s * KT, (s + 1) * KT) and writes an
  fp32 partial tile to a workspace P (SPLIT_K, M, N); a second small kernel sums the SPLIT_K
  partials of every output in the fixed order s = 0, 1, ... and casts. No atomics: two runs on
  the same inputs are bitwise equal. SPLIT_K is derived in the host wrapper from the shape and
  the SM count (:func:`choose_split_k`: enough programs for ``TARGET_WAVES`` x SMs), so the
  standard config space (BLOCK_SIZE_M/N/K, GROUP_SIZE_M, num_warps, num_stages) tunes it; a
  config may pin it with the extra key ``SPLIT_K``. With SPLIT_K = 1 the kernel stores C
  directly and the second launch is skipped.
* **Swap-AB.** Each program computes the transposed tile C^T[n, m] = B_tile @ A_tile^T, so the
  wide weight tile (BLOCK_SIZE_N rows) is the MMA's M side (Hopper's wgmma is 64 rows per
  warpgroup) and the few tokens are its N side (>= 16). Both operands stay K-major, as FP8
  wgmma requires. BLOCK_SIZE_M still tiles M (the tokens) and BLOCK_SIZE_N tiles N, so a config
  reads the same as the drop-in kernel's.

Bytes in flight per SM decide the bandwidth at small M: a program holds num_stages weight tiles
of BLOCK_SIZE_N x BLOCK_SIZE_K bytes in its pipeline (e.g. 4 x 16 KB), and there are
~TARGET_WAVES programs per SM.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels._host import (
    ShapeOnly,
    allocate_output,
    check_block_scaled_args,
    launch,
    num_tiles,
    operand_strides,
    shape_only_operands,
)
from kernels.tiling import grouped_tile_ids, split_config, validate_config
from kernels.validation import interpreting, multiprocessor_count
from kernels.w8a8_block import w8a8_block_bytes, w8a8_block_flops

__all__ = [
    "choose_split_k",
    "compile_w8a8_block_splitk",
    "default_splitk_config",
    "w8a8_block_bytes",
    "w8a8_block_flops",
    "w8a8_block_splitk_matmul",
]

# Programs to aim for, in multiples of the SM count, when the output tiles alone are fewer.
TARGET_WAVES = 2
# Each split reduces at least this many K tiles (shorter splits are all prologue).
MIN_K_TILES_PER_SPLIT = 2
# SM count assumed under the CPU interpreter (small, so tests exercise several splits).
INTERPRETER_SMS = 8
# Extra config keys this kernel accepts on top of the standard ones.
EXTRA_KEYS = ("SPLIT_K",)
REDUCE_BLOCK = 1024


def default_splitk_config(M: int = 1) -> dict[str, int]:
    """A sensible small-M config: 16..64 tokens x 128 weight rows x 128 K, 4 stages."""
    bm = min(64, max(16, triton.next_power_of_2(M)))
    return {
        "BLOCK_SIZE_M": bm,
        "BLOCK_SIZE_N": 128,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 4,
    }


@triton.jit
def _w8a8_block_splitk_kernel(
    # Pointers (ws_ptr: fp32 partials (SPLIT_K, M, N), contiguous; unused when direct)
    a_ptr,
    b_ptr,
    c_ptr,
    ws_ptr,
    a_scale_ptr,
    b_scale_ptr,
    # Sizes; each split reduces k_tiles_per_split K tiles
    M,
    N,
    K,
    k_tiles_per_split,
    # Quantization block of the weight scales (activations use groups of group_k)
    group_n,
    group_k,
    # Strides
    stride_am,
    stride_ak,
    stride_bn,
    stride_bk,
    stride_cm,
    stride_cn,
    stride_ws_s,
    stride_ws_m,
    stride_as_m,
    stride_as_k,
    stride_bs_n,
    stride_bs_k,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    WRITE_PARTIALS: tl.constexpr,
):
    pid_m, pid_n = grouped_tile_ids(
        tl.program_id(0), M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M
    )
    split = tl.program_id(1)
    k_first = split * k_tiles_per_split
    k_last = tl.minimum(k_first + k_tiles_per_split, tl.cdiv(K, BLOCK_SIZE_K))

    # Out-of-range rows / columns wrap (% M, % N) so loads need no row mask; the store drops them.
    offs_m = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_n = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    k_offs = (k_first * BLOCK_SIZE_K + offs_k)[None, :]
    b_ptrs = b_ptr + offs_n[:, None] * stride_bn + k_offs * stride_bk
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + k_offs * stride_ak
    a_scale_ptrs = a_scale_ptr + offs_m * stride_as_m
    b_scale_ptrs = b_scale_ptr + (offs_n // group_n) * stride_bs_n

    # Swap-AB: the accumulator is the transposed tile, acc[n, m] = C^T[n, m]. Per K tile kt,
    #   acc[n, m] += (B_tile @ A_tile^T)[n, m] * Bs[n // bn, kb] * As[m, kb],  kb = kt*BK // bk
    # (block-scale promotion in fp32 after every K tile, as in the drop-in kernel).
    acc = tl.zeros((BLOCK_SIZE_N, BLOCK_SIZE_M), dtype=tl.float32)
    for kt in range(k_first, k_last):
        k_remaining = K - kt * BLOCK_SIZE_K
        b = tl.load(b_ptrs, mask=offs_k[None, :] < k_remaining, other=0.0)
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_remaining, other=0.0)
        scale_col = (kt * BLOCK_SIZE_K) // group_k
        a_s = tl.load(a_scale_ptrs + scale_col * stride_as_k)
        b_s = tl.load(b_scale_ptrs + scale_col * stride_bs_k)
        acc += tl.dot(b, tl.trans(a)).to(tl.float32) * b_s[:, None] * a_s[None, :]
        b_ptrs += BLOCK_SIZE_K * stride_bk
        a_ptrs += BLOCK_SIZE_K * stride_ak

    tile = tl.trans(acc)  # (BLOCK_SIZE_M, BLOCK_SIZE_N), rows = tokens
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    if WRITE_PARTIALS:
        ws_ptrs = ws_ptr + split * stride_ws_s + offs_cm[:, None] * stride_ws_m + offs_cn[None, :]
        tl.store(ws_ptrs, tile, mask=mask)
    else:
        c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
        tl.store(c_ptrs, tile.to(c_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _splitk_reduce_kernel(
    ws_ptr,
    c_ptr,
    M,
    N,
    SPLIT_K,
    stride_ws_s,
    stride_cm,
    stride_cn,
    BLOCK: tl.constexpr,
):
    # C[m, n] = cast(sum_{s = 0 .. SPLIT_K-1} P[s, m, n]), always summed in this order.
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # flat index m * N + n into P[s]
    mask = offs < M * N
    total = tl.zeros((BLOCK,), dtype=tl.float32)
    for s in range(0, SPLIT_K):
        total += tl.load(ws_ptr + s * stride_ws_s + offs, mask=mask, other=0.0)
    m = offs // N
    n = offs % N
    tl.store(c_ptr + m * stride_cm + n * stride_cn, total.to(c_ptr.dtype.element_ty), mask=mask)


def sm_count(device: torch.device | str | None = None) -> int:
    """Multiprocessors of ``device`` (the current CUDA device by default); INTERPRETER_SMS when
    interpreting on the CPU."""
    return multiprocessor_count(device, INTERPRETER_SMS)


def choose_split_k(M: int, N: int, K: int, config: Mapping[str, int], num_sms: int) -> int:
    """SPLIT_K for a launch: 1 when the output tiles already give one program per SM, else the
    smallest count reaching TARGET_WAVES x SMs programs, with >= MIN_K_TILES_PER_SPLIT K tiles
    per split. A config's ``SPLIT_K`` key overrides (still clamped to the K tiles)."""
    k_tiles = triton.cdiv(K, config["BLOCK_SIZE_K"])
    if "SPLIT_K" in config:
        want = int(config["SPLIT_K"])
    else:
        tiles = num_tiles(M, N, config)
        if tiles >= num_sms:
            return 1
        want = triton.cdiv(TARGET_WAVES * num_sms, tiles)
        want = min(want, max(1, k_tiles // MIN_K_TILES_PER_SPLIT))
    want = max(1, min(want, k_tiles))
    # Equalise: every split gets cdiv(k_tiles, want) K tiles, and none is empty.
    return triton.cdiv(k_tiles, triton.cdiv(k_tiles, want))


def launch_split_k(
    M: int,
    N: int,
    K: int,
    config: Mapping[str, int],
    num_sms: int | None,
    device: torch.device | None,
) -> int:
    """SPLIT_K of a launch on ``device`` for ``num_sms`` SMs (default: the device's count).
    ``device`` None is the compile-ahead path: the device a launch would run on, the CPU under
    the interpreter, else the current GPU."""
    if num_sms is None:
        num_sms = INTERPRETER_SMS if device is None and interpreting() else sm_count(device)
    return choose_split_k(M, N, K, config, num_sms)


def split_workspace(split: int, C: torch.Tensor | ShapeOnly) -> torch.Tensor | ShapeOnly:
    """The fp32 partials P (split, M, N) of a launch writing C (M, N), on C's device, or a
    stand-in where C is one; C itself where split == 1 (the kernel then stores C directly)."""
    if split == 1:
        return C
    M, N = C.shape
    if isinstance(C, ShapeOnly):
        return ShapeOnly(torch.float32, (split, M, N))
    return torch.empty((split, M, N), dtype=torch.float32, device=C.device)


def workspace_strides(ws: torch.Tensor | ShapeOnly, split: int) -> tuple[int, int]:
    """The (split, row) strides of the partials P (0, 0 where split == 1: no workspace). The
    kernels index P with int32 offsets, so a P of 2**31 elements or more is refused."""
    if split == 1:
        return 0, 0
    _, M, N = ws.shape
    if split * M * N >= 2**31:
        raise ValueError(
            f"split-K workspace of {split} x {M} x {N} exceeds int32 indexing; "
            "use a smaller SPLIT_K"
        )
    return ws.stride(0), ws.stride(1)


def validate_splitk_config(config: Mapping[str, int], block_k: int) -> dict[str, int]:
    """The standard checks plus an optional SPLIT_K >= 1 (also the decode kernel's base)."""
    cfg = validate_config(config, block_k, extra_keys=EXTRA_KEYS)
    if cfg.get("SPLIT_K", 1) < 1:
        raise ValueError(f"config: SPLIT_K={cfg['SPLIT_K']} must be >= 1")
    return cfg


def w8a8_block_splitk_matmul(
    A: torch.Tensor,
    B: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype = torch.bfloat16,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
    num_sms: int | None = None,
) -> torch.Tensor:
    """C = (A * As) @ (B * Bs)^T, like :func:`kernels.w8a8_block.w8a8_block_matmul`.

    ``config`` takes the standard keys plus an optional ``SPLIT_K``; ``None`` uses
    :func:`default_splitk_config`. ``num_sms`` overrides the SM count used to choose SPLIT_K.
    Deterministic: the split partials are summed in a fixed order by a second kernel.
    """
    M, N, K, block = check_block_scaled_args(A, B, As, Bs, block_size, out_dtype)
    cfg = validate_splitk_config(
        config if config is not None else default_splitk_config(M), block[1]
    )
    C = allocate_output(out, (M, N), out_dtype, A.device)
    split = launch_split_k(M, N, K, cfg, num_sms, A.device)
    _launch(A, B, C, split_workspace(split, C), As, Bs, block, cfg, split)
    return C


def _launch(
    A,
    B,
    C,
    ws,
    As,
    Bs,
    block_size: tuple[int, int],
    cfg: Mapping[str, int],
    split: int,
    warmup: bool = False,
) -> None:
    """Launch (or, with ``warmup``, only compile) both kernels; operands may be ShapeOnly."""
    meta, options = split_config(cfg, drop=EXTRA_KEYS)
    M, K = A.shape
    N = B.shape[0]
    per_split = triton.cdiv(triton.cdiv(K, meta["BLOCK_SIZE_K"]), split)
    strides = (*operand_strides(A, B, C), *workspace_strides(ws, split), *operand_strides(As, Bs))
    args = (A, B, C, ws, As, Bs, M, N, K, per_split, *block_size, *strides)
    grid = (num_tiles(M, N, meta), split)
    launch(
        _w8a8_block_splitk_kernel, grid, args, warmup, **meta, **options, WRITE_PARTIALS=split > 1
    )
    if split > 1:
        reduce_args = (ws, C, M, N, split, ws.stride(0), C.stride(0), C.stride(1))
        reduce_grid = (triton.cdiv(M * N, REDUCE_BLOCK),)
        launch(
            _splitk_reduce_kernel, reduce_grid, reduce_args, warmup, BLOCK=REDUCE_BLOCK, num_warps=4
        )


def compile_w8a8_block_splitk(
    M: int,
    N: int,
    K: int,
    dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
    num_sms: int | None = None,
) -> None:
    """Compile (without running) the binaries a launch on contiguous operands of this shape
    uses (SPLIT_K as the launch would choose it on the current device)."""
    cfg = validate_splitk_config(config, block_size[1])
    split = launch_split_k(M, N, K, cfg, num_sms, None)
    A, B, C, As, Bs = shape_only_operands(M, N, K, dtype, out_dtype, block_size)
    _launch(A, B, C, split_workspace(split, C), As, Bs, block_size, cfg, split, warmup=True)
