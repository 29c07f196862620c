"""Block-scaled W8A8 GEMM for large M (prefill): persistent grid with TMA tensor descriptors.

    C[m, n] = sum_k A[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

Same operands, scales and config keys as :mod:`kernels.w8a8_block`; built for M >= 1024,
correct for any M.

What changes against the drop-in kernel:

* **Persistent grid.** min(#SMs, #tiles) programs; program p computes the tiles p, p + NUM_SMS,
  p + 2 * NUM_SMS, ... of the grouped order (:func:`kernels.tiling.grouped_tile_ids`), so the
  resident programs always work on neighbouring tiles (L2 reuse, as GROUP_SIZE_M intends) and
  there is no launch/teardown per tile and no partial last wave of whole programs.
* **TMA loads.** The A (BLOCK_SIZE_M x BLOCK_SIZE_K) and B (BLOCK_SIZE_N x BLOCK_SIZE_K) tiles
  come through device-side tensor descriptors (``tl.make_tensor_descriptor``): one bulk copy per
  tile instead of per-thread address arithmetic, and out-of-bounds rows / K columns arrive as
  zeros (no masks). The descriptor needs a global scratch allocation at launch, so the wrapper
  installs a torch allocator with ``triton.set_allocator`` when none is set. TMA needs 16-byte
  aligned base pointers and row strides; when A or B is not (e.g. K % 16 != 0) the wrapper
  takes the pointer-load path (``USE_TMA=False``) instead, which is the same loop with masked
  ``tl.load``.
* **Pipelining** through ``num_stages`` (the inner K loop), optionally across tile boundaries
  (``FLATTEN``: ``tl.range(..., flatten=True)`` fuses the tile and K loops into one pipelined
  loop, so the next tile's loads overlap this tile's epilogue).

Warp specialization (``tl.range(..., warp_specialize=True)``) is not used. Triton 3.6 does
build it for sm_90 (an offline sm_90 build shows a TMA producer and two 64-row consumer
partitions with ``setmaxnreg``), but on an H100 and an H200 the results were wrong as soon as a
program computed more than one tile or programs ran in more than one wave (both in this
persistent loop and in a one-tile-per-program kernel; docs/kernel-notes.md, 2026-11-21).

Under TRITON_INTERPRET=1 (CPU tests) the tensor descriptors work too (triton 3.6 emulates them,
zero-filling out-of-bounds reads), so the tests exercise both the TMA and the pointer path, the
persistent tile loop, the scaling and the masking.

Config: the standard keys, plus optional ``FLATTEN`` (0/1, default 0) and ``USE_TMA`` (0 forces
the pointer path; default: TMA where the operands allow it).
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
    operand_strides,
    persistent_programs,
    shape_only_operands,
)
from kernels.compat import allocator_is_set
from kernels.tiling import grouped_tile_ids, split_config, validate_config
from kernels.validation import interpreting, multiprocessor_count, tma_aligned
from kernels.w8a8_block import w8a8_block_bytes, w8a8_block_flops

__all__ = [
    "compile_w8a8_block_persistent",
    "default_persistent_config",
    "tma_compatible",
    "w8a8_block_bytes",
    "w8a8_block_flops",
    "w8a8_block_persistent_matmul",
]

INTERPRETER_SMS = 4  # programs under the CPU interpreter: several tiles per program in tests
EXTRA_KEYS = ("FLATTEN", "USE_TMA")


def default_persistent_config() -> dict[str, int]:
    """128 x 128 x 128 tiles, 2 warpgroups, 4 stages (128 KB of pipeline buffers)."""
    return {
        "BLOCK_SIZE_M": 128,
        "BLOCK_SIZE_N": 128,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 8,
        "num_warps": 8,
        "num_stages": 4,
    }


@triton.jit
def _w8a8_block_persistent_kernel(
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
    stride_bn,
    stride_bk,
    stride_cm,
    stride_cn,
    stride_as_m,
    stride_as_k,
    stride_bs_n,
    stride_bs_k,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    NUM_SMS: tl.constexpr,
    USE_TMA: tl.constexpr,
    FLATTEN: tl.constexpr,
):
    start_pid = tl.program_id(0)
    num_tiles = tl.cdiv(M, BLOCK_SIZE_M) * tl.cdiv(N, BLOCK_SIZE_N)
    k_tiles = tl.cdiv(K, BLOCK_SIZE_K)
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    if USE_TMA:
        # K is the unit-stride dimension of both (checked by the wrapper).
        a_desc = tl.make_tensor_descriptor(
            a_ptr, shape=[M, K], strides=[stride_am, 1], block_shape=[BLOCK_SIZE_M, BLOCK_SIZE_K]
        )
        b_desc = tl.make_tensor_descriptor(
            b_ptr, shape=[N, K], strides=[stride_bn, 1], block_shape=[BLOCK_SIZE_N, BLOCK_SIZE_K]
        )

    # The epilogue recomputes its tile from its own counter (as Triton's persistent tutorial
    # does): a value used both before and after the K loop hinders the flattened pipeline.
    tile_id_c = start_pid - NUM_SMS
    for tile_id in tl.range(start_pid, num_tiles, NUM_SMS, flatten=FLATTEN):
        pid_m, pid_n = grouped_tile_ids(tile_id, M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M)
        # Rows / columns wrap (% M, % N) for the scale loads (and the pointer path's tiles).
        offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
        offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
        a_scale_ptrs = a_scale_ptr + offs_am * stride_as_m
        b_scale_ptrs = b_scale_ptr + (offs_bn // group_n) * stride_bs_n

        # acc[m, n] += (A_tile @ B_tile^T)[m, n] * As[m, kb] * Bs[n // bn, kb],
        # kb = ki * BK // bk: one scale per row of A and per column of B for each K tile
        # (BLOCK_SIZE_K divides bk), promoted in fp32 after every tile.
        acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
        for ki in range(k_tiles):
            if USE_TMA:
                a = a_desc.load([pid_m * BLOCK_SIZE_M, ki * BLOCK_SIZE_K])
                b = b_desc.load([pid_n * BLOCK_SIZE_N, ki * BLOCK_SIZE_K])
            else:
                k_mask = offs_k[None, :] < K - ki * BLOCK_SIZE_K
                k_offs = (ki * BLOCK_SIZE_K + offs_k)[None, :]
                a = tl.load(
                    a_ptr + offs_am[:, None] * stride_am + k_offs * stride_ak,
                    mask=k_mask,
                    other=0.0,
                )
                b = tl.load(
                    b_ptr + offs_bn[:, None] * stride_bn + k_offs * stride_bk,
                    mask=k_mask,
                    other=0.0,
                )
            scale_col = (ki * BLOCK_SIZE_K) // group_k
            a_s = tl.load(a_scale_ptrs + scale_col * stride_as_k)
            b_s = tl.load(b_scale_ptrs + scale_col * stride_bs_k)
            acc += tl.dot(a, tl.trans(b)).to(tl.float32) * a_s[:, None] * b_s[None, :]

        tile_id_c += NUM_SMS
        pid_cm, pid_cn = grouped_tile_ids(tile_id_c, M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M)
        offs_cm = pid_cm * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
        offs_cn = pid_cn * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
        c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
        tl.store(
            c_ptrs,
            acc.to(c_ptr.dtype.element_ty),
            mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N),
        )


def num_programs_limit(device: torch.device | None = None) -> int:
    """SM count of ``device`` (current CUDA device by default); INTERPRETER_SMS on the CPU."""
    return multiprocessor_count(device, INTERPRETER_SMS)


def tma_compatible(A, B) -> bool:
    """Whether A and B can be read through TMA descriptors (16-byte aligned base and rows)."""
    return tma_aligned(A) and tma_aligned(B)


def _use_tma(cfg: Mapping[str, int], A, B) -> bool:
    """TMA unless the config forces the pointer path (USE_TMA=0) or A or B is not aligned for
    it. Stand-ins (ShapeOnly) are aligned where contiguous operands of their shape would be:
    where a row of K elements is a multiple of 16 bytes."""
    return bool(cfg.get("USE_TMA", 1)) and tma_compatible(A, B)


def _torch_allocator(size: int, alignment: int, stream: int | None) -> torch.Tensor:
    device = "cpu" if interpreting() or not torch.cuda.is_available() else "cuda"
    return torch.empty(size, dtype=torch.int8, device=device)


def ensure_tma_allocator() -> None:
    """Install a torch-backed allocator for the descriptors' scratch unless one is set."""
    if allocator_is_set():  # None (unknown on this Triton): set ours
        return
    triton.set_allocator(_torch_allocator)


def _validate(config: Mapping[str, int], block_k: int) -> dict[str, int]:
    cfg = validate_config(config, block_k, extra_keys=EXTRA_KEYS)
    for key in EXTRA_KEYS:
        if cfg.get(key, 0) not in (0, 1):
            raise ValueError(f"config: {key}={cfg[key]} must be 0 or 1")
    return cfg


def w8a8_block_persistent_matmul(
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

    ``config`` takes the standard keys plus optional ``FLATTEN`` / ``USE_TMA`` (0 or 1);
    ``None`` uses :func:`default_persistent_config`. ``num_sms`` overrides the number of
    persistent programs (default: the device's SM count).
    """
    M, N, K, block = check_block_scaled_args(A, B, As, Bs, block_size, out_dtype)
    cfg = _validate(config if config is not None else default_persistent_config(), block[1])
    C = allocate_output(out, (M, N), out_dtype, A.device)
    sms = num_sms if num_sms is not None else num_programs_limit(A.device)
    _launch(A, B, C, As, Bs, block, cfg, sms, _use_tma(cfg, A, B))
    return C


def _launch(
    A,
    B,
    C,
    As,
    Bs,
    block_size: tuple[int, int],
    cfg: Mapping[str, int],
    sms: int,
    use_tma: bool,
    warmup: bool = False,
) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel; operands may be ShapeOnly."""
    meta, options = split_config(cfg, drop=EXTRA_KEYS)
    M, K = A.shape
    N = B.shape[0]
    grid = (persistent_programs(M, N, meta, sms),)
    args = (A, B, C, As, Bs, M, N, K, *block_size, *operand_strides(A, B, C, As, Bs))
    flags = dict(NUM_SMS=sms, USE_TMA=use_tma, FLATTEN=bool(cfg.get("FLATTEN", 0)))
    if use_tma and not warmup:
        ensure_tma_allocator()
    launch(_w8a8_block_persistent_kernel, grid, args, warmup, **meta, **options, **flags)


def compile_w8a8_block_persistent(
    M: int,
    N: int,
    K: int,
    dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
    num_sms: int | None = None,
) -> None:
    """Compile (without running) the binary a launch on contiguous operands of this shape uses
    on the current device."""
    cfg = _validate(config, block_size[1])
    sms = num_sms if num_sms is not None else num_programs_limit()
    A, B, C, As, Bs = shape_only_operands(M, N, K, dtype, out_dtype, block_size)
    _launch(A, B, C, As, Bs, block_size, cfg, sms, _use_tma(cfg, A, B), warmup=True)
