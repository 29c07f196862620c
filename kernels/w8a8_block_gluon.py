"""Block-scaled FP8 GEMM for large M on Hopper (sm_90): warp-specialized, written in Gluon.

    C[m, n] = sum_k A[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

Same operands and scales as :mod:`kernels.w8a8_block` (FP8 e4m3 only), built for prefill
(M >= 1024) and correct for any M.

Why Gluon and not ``tl.dot``
----------------------------
The scales change every 128 columns of K, so each K tile's product has to be scaled in fp32
registers before it joins the accumulator ("promotion"). With ``tl.dot`` Triton waits for the
tensor cores to drain (``wgmma.wait_group 0``) before every promotion and the matrix units idle
while the scaling runs; its automatic warp specialization, which would hide that, computes wrong
results on sm_90 in triton 3.6 (docs/kernel-notes.md). Gluon, Triton's lower-level language,
lets the kernel place every asynchronous operation and barrier itself:

* **a producer warp** (a worker partition of one warp and 24 registers) walks the same tile
  sequence as the consumers and issues the TMA loads of A and B tiles into a ring of
  ``num_stages`` shared-memory buffers, waiting only for a buffer to be released;
* **one partition per consumer warpgroup** (4 warps, 64 rows of the tile each; both read the
  same B tile): each issues one asynchronous WGMMA per K tile, waits for it and promotes. As
  separate partitions the two warpgroups never synchronize with each other, so one's promotion
  runs while the tensor cores work on the other's WGMMA. (With both in one 8-warp partition
  Triton puts a barrier across them before every buffer release, and the promotion idled the
  tensor cores: 0.61-0.73x of cuBLAS on the H100 against 0.6x for the drop-in kernel.)
  ``LAG=1`` additionally scales the *previous* K tile's product while this warpgroup's own
  WGMMA runs, at the price of 64 more registers and a register copy per K tile;
* **persistent grid**: min(#SMs, #tiles) programs walk the grouped tile order
  (:func:`kernels.tiling.grouped_tile_ids` arithmetic); the producer runs ahead into the next
  tile while the consumers store this one through TMA.

Limits (the wrapper raises ``ValueError`` naming them): a Hopper GPU (compute capability 9.x);
FP8 e4m3 operands; BLOCK_SIZE_K == the scale block's K (one A-scale column per K tile) and
BLOCK_SIZE_N dividing its N (one B scale per tile); TMA alignment (K % 16 == 0, N * out bytes %
16 == 0, 16-byte aligned base pointers). Gluon kernels do not run under the CPU interpreter:
CPU tests build the kernel for sm_90 offline and check the wrapper; the numerics are checked
on the GPU against the fp32 reference.

Config: the standard keys plus optional ``LAG`` (0/1, default 0). ``num_stages`` is the number
of shared-memory buffers; ``num_warps`` counts the consumer warps (4 per warpgroup, so
BLOCK_SIZE_M = 16 * num_warps: 128 for two consumer warpgroups, 64 for one); the kernel itself
launches 4 warps and adds the second consumer and the producer as warp-specialized partitions.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from kernels.sm90_build import GL_DTYPES, build_sm90, descriptor_type
from kernels.tiling import split_config, validate_config
from kernels.validation import FP8_DTYPE, check_out, multiprocessor_count
from kernels.w8a8_block import check_w8a8_block_args, w8a8_block_bytes, w8a8_block_flops

__all__ = [
    "build_w8a8_block_gluon_sm90",
    "default_gluon_config",
    "gluon_supported",
    "w8a8_block_bytes",
    "w8a8_block_flops",
    "w8a8_block_gluon_matmul",
]

EXTRA_KEYS = ("LAG",)
WG_ROWS = 64  # rows of a tile per consumer warpgroup (the M of one WGMMA instruction)
TMA_ALIGN = 16  # bytes: base address and every non-unit stride of a TMA descriptor
PRODUCER_REGS = gl.constexpr(24)  # per thread of the producer warp: setmaxnreg's minimum
CONSUMER_REGS = gl.constexpr(240)  # per thread of the second consumer warpgroup
# Registers per thread the kernel is compiled for: with the producer warp rounded up to a
# warpgroup, 2 consumer warpgroups + 1 = 12 warps share 64K registers, 168 each at most; the
# producer gives its share to the consumers (setmaxnreg), which then get 240 each.
MAX_REGS = 168


def default_gluon_config() -> dict[str, int]:
    """128 x 128 x 128 tiles over two consumer warpgroups, 4 buffers (128 KB)."""
    return {"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 128, "BLOCK_SIZE_K": 128, "GROUP_SIZE_M": 8,
            "num_warps": 8, "num_stages": 4, "LAG": 0}


@gluon.jit
def _tile_coords(tile_id, M, N, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr,
                 GROUP_M: gl.constexpr):
    """Grouped tile order, the same arithmetic as kernels.tiling.grouped_tile_ids."""
    num_pid_m = gl.cdiv(M, BLOCK_M)
    num_pid_n = gl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = tile_id // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = gl.minimum(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((tile_id % num_pid_in_group) % group_size_m)
    pid_n = (tile_id % num_pid_in_group) // group_size_m
    return pid_m, pid_n


@gluon.jit
def _producer(a_desc, b_desc, a_bufs, b_bufs, ready_bars, empty_bars, M, N, K,
              GROUP_M: gl.constexpr, STAGES: gl.constexpr):
    """One warp: TMA-load the A and B tiles of every K step of every tile into the ring."""
    BLOCK_M: gl.constexpr = a_desc.block_type.shape[0]
    BLOCK_K: gl.constexpr = a_desc.block_type.shape[1]
    BLOCK_N: gl.constexpr = b_desc.block_type.shape[0]
    num_tiles = gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N)
    k_tiles = gl.cdiv(K, BLOCK_K)
    step = 0  # K steps issued so far: buffer step % STAGES, its use number step // STAGES
    for tile_id in range(gl.program_id(0), num_tiles, gl.num_programs(0)):
        pid_m, pid_n = _tile_coords(tile_id, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        for ki in range(k_tiles):
            slot = step % STAGES
            # A buffer is free once the consumers released its previous use; barriers start
            # "phase 1 complete", so the first pass over the ring does not wait.
            mbarrier.wait(empty_bars.index(slot), ((step // STAGES) & 1) ^ 1)
            ready = ready_bars.index(slot)
            # Out-of-bounds rows / K columns arrive as zeros and still count as full boxes.
            mbarrier.expect(ready, a_desc.block_type.nbytes + b_desc.block_type.nbytes)
            tma.async_copy_global_to_shared(a_desc, [pid_m * BLOCK_M, ki * BLOCK_K], ready,
                                            a_bufs.index(slot))
            tma.async_copy_global_to_shared(b_desc, [pid_n * BLOCK_N, ki * BLOCK_K], ready,
                                            b_bufs.index(slot))
            step += 1


@gluon.jit
def _consumer(a_bufs, b_bufs, ready_bars, empty_bars, c_desc, c_bufs,
              a_scale_ptr, b_scale_ptr, M, N, K, group_n, group_k,
              stride_as_m, stride_as_k, stride_bs_n, stride_bs_k,
              GROUP_M: gl.constexpr, STAGES: gl.constexpr, LAG: gl.constexpr,
              HALF: gl.constexpr):
    """One warpgroup: rows [64 * HALF, 64 * HALF + 64) of every tile. WGMMA, promotion, store.

    Each consumer warpgroup is its own partition, so the two never wait for each other: while
    one scales its product, the tensor cores run the other's WGMMA.
    """
    WG_M: gl.constexpr = c_desc.block_type.shape[0]  # 64: the rows of one warpgroup
    BLOCK_N: gl.constexpr = c_desc.block_type.shape[1]
    BLOCK_M: gl.constexpr = a_bufs.type.shape[1]
    BLOCK_K: gl.constexpr = a_bufs.type.shape[2]
    # WGMMA instruction m64nNk32 (k = 256 bits / 8-bit operands) over the 4 warps.
    mma_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_N, 32])
    rows_layout: gl.constexpr = gl.SliceLayout(1, mma_layout)
    num_tiles = gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N)
    k_tiles = gl.cdiv(K, BLOCK_K)
    zeros = gl.zeros([WG_M, BLOCK_N], gl.float32, mma_layout)
    c_smem = c_bufs.index(HALF)
    step = 0
    for tile_id in range(gl.program_id(0), num_tiles, gl.num_programs(0)):
        pid_m, pid_n = _tile_coords(tile_id, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        row0 = pid_m * BLOCK_M + HALF * WG_M
        offs_m = row0 + gl.arange(0, WG_M, layout=rows_layout)
        a_scale_ptrs = a_scale_ptr + offs_m * stride_as_m
        b_scale_row = b_scale_ptr + (pid_n * BLOCK_N // group_n) * stride_bs_n

        # acc[m, n] = sum_kb P_kb[m, n] * As[m, kb] * Bs[n // bn, kb],  P_kb = A_kb @ B_kb^T
        # (one FP8 WGMMA per K tile). With LAG, P_{kb-1} is scaled and added while the
        # tensor cores compute P_kb: promotion overlaps this warpgroup's own MMA too.
        acc = gl.zeros([WG_M, BLOCK_N], gl.float32, mma_layout)
        prev = gl.zeros([WG_M, BLOCK_N], gl.float32, mma_layout)
        prev_scale = gl.zeros([WG_M], gl.float32, rows_layout)
        for ki in range(k_tiles):
            slot = step % STAGES
            # The scales' loads go out before the wait for the tiles, hiding their latency.
            kb = ki * BLOCK_K // group_k
            a_s = gl.load(a_scale_ptrs + kb * stride_as_k, mask=offs_m < M, other=0.0)
            b_s = gl.load(b_scale_row + kb * stride_bs_k)
            mbarrier.wait(ready_bars.index(slot), (step // STAGES) & 1)
            a_tile = a_bufs.index(slot).slice(HALF * WG_M, WG_M)  # this warpgroup's rows
            b_tile = b_bufs.index(slot).permute((1, 0))  # [BLOCK_K, BLOCK_N] view, K-major
            part = warpgroup_mma(a_tile, b_tile, zeros, use_acc=False, is_async=True)
            if LAG:
                acc += prev * prev_scale[:, None]
            part, _, _ = warpgroup_mma_wait(num_outstanding=0, deps=(part, a_tile, b_tile))
            mbarrier.arrive(empty_bars.index(slot), count=1)
            if LAG:
                prev = part
                prev_scale = a_s * b_s
            else:
                acc += part * (a_s * b_s)[:, None]
            step += 1
        if LAG:
            acc += prev * prev_scale[:, None]

        tma.store_wait(pendings=0)  # the previous tile's store has finished reading c_smem
        c_smem.store(acc.to(c_desc.dtype))
        fence_async_shared()
        tma.async_copy_shared_to_global(c_desc, [row0, pid_n * BLOCK_N], c_smem)
    tma.store_wait(pendings=0)


@gluon.jit
def _w8a8_block_gluon_kernel(a_desc, b_desc, c_desc, a_scale_ptr, b_scale_ptr,
                             M, N, K, group_n, group_k,
                             stride_as_m, stride_as_k, stride_bs_n, stride_bs_k,
                             GROUP_M: gl.constexpr, STAGES: gl.constexpr,
                             LAG: gl.constexpr, CONSUMERS: gl.constexpr):
    a_bufs = gl.allocate_shared_memory(a_desc.dtype, [STAGES] + a_desc.block_type.shape,
                                       a_desc.layout)
    b_bufs = gl.allocate_shared_memory(b_desc.dtype, [STAGES] + b_desc.block_type.shape,
                                       b_desc.layout)
    c_bufs = gl.allocate_shared_memory(c_desc.dtype, [CONSUMERS] + c_desc.block_type.shape,
                                       c_desc.layout)
    ready_bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty_bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(ready_bars.index(i), count=1)
        mbarrier.init(empty_bars.index(i), count=CONSUMERS)  # each warpgroup releases a slot

    # Partitions: consumer warpgroup 0 (the default, 4 warps), [consumer warpgroup 1,] producer.
    if CONSUMERS == 2:
        gl.warp_specialize([
            (_consumer, (a_bufs, b_bufs, ready_bars, empty_bars, c_desc, c_bufs,
                         a_scale_ptr, b_scale_ptr, M, N, K, group_n, group_k, stride_as_m,
                         stride_as_k, stride_bs_n, stride_bs_k, GROUP_M, STAGES, LAG, 0)),
            (_consumer, (a_bufs, b_bufs, ready_bars, empty_bars, c_desc, c_bufs,
                         a_scale_ptr, b_scale_ptr, M, N, K, group_n, group_k, stride_as_m,
                         stride_as_k, stride_bs_n, stride_bs_k, GROUP_M, STAGES, LAG, 1)),
            (_producer, (a_desc, b_desc, a_bufs, b_bufs, ready_bars, empty_bars, M, N, K,
                         GROUP_M, STAGES)),
        ], [4, 1], [CONSUMER_REGS, PRODUCER_REGS])
    else:
        gl.warp_specialize([
            (_consumer, (a_bufs, b_bufs, ready_bars, empty_bars, c_desc, c_bufs,
                         a_scale_ptr, b_scale_ptr, M, N, K, group_n, group_k, stride_as_m,
                         stride_as_k, stride_bs_n, stride_bs_k, GROUP_M, STAGES, LAG, 0)),
            (_producer, (a_desc, b_desc, a_bufs, b_bufs, ready_bars, empty_bars, M, N, K,
                         GROUP_M, STAGES)),
        ], [1], [PRODUCER_REGS])


def _validate(config: Mapping[str, int], block_size: tuple[int, int]) -> dict[str, int]:
    block_n, block_k = block_size
    cfg = validate_config(config, block_k, extra_keys=EXTRA_KEYS)
    if cfg.get("LAG", 0) not in (0, 1):
        raise ValueError(f"config: LAG={cfg['LAG']} must be 0 or 1")
    if cfg["BLOCK_SIZE_K"] != block_k:
        raise ValueError(f"config: BLOCK_SIZE_K={cfg['BLOCK_SIZE_K']} must equal the scale "
                         f"block's K ({block_k}): one activation-scale column per K tile")
    if block_n % cfg["BLOCK_SIZE_N"] or cfg["BLOCK_SIZE_N"] > 256:
        raise ValueError(f"config: BLOCK_SIZE_N={cfg['BLOCK_SIZE_N']} must divide the scale "
                         f"block's N ({block_n}) and be <= 256 (one WGMMA wide)")
    if cfg["num_warps"] not in (4, 8) or cfg["BLOCK_SIZE_M"] != 16 * cfg["num_warps"]:
        raise ValueError(f"config: BLOCK_SIZE_M={cfg['BLOCK_SIZE_M']} with num_warps="
                         f"{cfg['num_warps']}: needs num_warps in (4, 8) and BLOCK_SIZE_M = "
                         "16 * num_warps (one warpgroup per 64 rows)")
    if cfg["num_stages"] < 2:
        raise ValueError(f"config: num_stages={cfg['num_stages']} must be >= 2")
    return cfg


def gluon_supported(A: torch.Tensor, B: torch.Tensor, out_dtype: torch.dtype) -> str | None:
    """Why this kernel cannot take these operands, or None when it can."""
    if A.device.type != "cuda" or torch.cuda.get_device_capability(A.device)[0] != 9:
        return "needs a Hopper (sm_90) GPU"
    if A.dtype != FP8_DTYPE:
        return f"takes FP8 e4m3 operands, not {A.dtype}"
    out_bytes = torch.empty(0, dtype=out_dtype).element_size()
    K, N = A.shape[1], B.shape[0]
    if (K * A.element_size()) % TMA_ALIGN or (N * out_bytes) % TMA_ALIGN:
        return f"TMA needs 16-byte rows: K={K}, N={N} with {out_dtype} output"
    for name, t in (("A", A), ("B", B)):
        if t.data_ptr() % TMA_ALIGN or (t.stride(0) * t.element_size()) % TMA_ALIGN:
            return f"TMA needs a 16-byte aligned {name}"
    return None


def _descriptor(t: torch.Tensor, block_shape: list[int]) -> TensorDescriptor:
    """A host-side TMA descriptor (passed by value as a kernel parameter: no device scratch)."""
    layout = gl.NVMMASharedLayout.get_default_for(block_shape, GL_DTYPES[t.dtype])
    return TensorDescriptor.from_tensor(t, block_shape, layout)


def w8a8_block_gluon_matmul(
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

    ``config`` takes the standard keys plus optional ``LAG``; ``None`` uses
    :func:`default_gluon_config`. ``num_sms`` overrides the number of persistent programs.
    """
    M, N, K = check_w8a8_block_args(A, B, As, Bs, block_size, out_dtype)
    block_n, block_k = (int(v) for v in block_size)
    cfg = _validate(config if config is not None else default_gluon_config(), (block_n, block_k))
    problem = gluon_supported(A, B, out_dtype)
    if problem:
        raise ValueError(f"w8a8_block_gluon_matmul: {problem}")
    check_out(out, (M, N), out_dtype, A.device)
    C = out if out is not None else torch.empty((M, N), dtype=out_dtype, device=A.device)
    if C.stride(1) != 1 or C.data_ptr() % TMA_ALIGN or (C.stride(0) * C.element_size()) % TMA_ALIGN:
        raise ValueError("w8a8_block_gluon_matmul: out must be row-major with 16-byte aligned rows")
    meta, launch = split_config(cfg, drop=EXTRA_KEYS)
    bm, bn, bk = meta["BLOCK_SIZE_M"], meta["BLOCK_SIZE_N"], meta["BLOCK_SIZE_K"]
    sms = num_sms if num_sms is not None else multiprocessor_count(A.device, 1)
    tiles = triton.cdiv(M, bm) * triton.cdiv(N, bn)
    programs = max(1, min(sms, tiles))
    _w8a8_block_gluon_kernel[(programs,)](
        _descriptor(A, [bm, bk]), _descriptor(B, [bn, bk]), _descriptor(C, [WG_ROWS, bn]), As, Bs,
        M, N, K, block_n, block_k,
        As.stride(0), As.stride(1), Bs.stride(0), Bs.stride(1),
        GROUP_M=meta["GROUP_SIZE_M"], STAGES=launch["num_stages"],
        LAG=cfg.get("LAG", 0), CONSUMERS=bm // WG_ROWS, num_warps=4, maxnreg=MAX_REGS,
    )
    return C


def build_w8a8_block_gluon_sm90(config: Mapping[str, int] | None = None,
                                out_dtype: torch.dtype = torch.bfloat16,
                                block_size: tuple[int, int] = (128, 128)) -> object:
    """Compile the kernel for sm_90 without a GPU (see :mod:`kernels.sm90_build`); returns
    Triton's compiled kernel, whose ``asm`` holds the ttgir, ptx and cubin."""
    cfg = _validate(config if config is not None else default_gluon_config(), block_size)
    meta, launch = split_config(cfg, drop=EXTRA_KEYS)
    bm, bn, bk = meta["BLOCK_SIZE_M"], meta["BLOCK_SIZE_N"], meta["BLOCK_SIZE_K"]
    signature = {
        "a_desc": descriptor_type([bm, bk], FP8_DTYPE),
        "b_desc": descriptor_type([bn, bk], FP8_DTYPE),
        "c_desc": descriptor_type([WG_ROWS, bn], out_dtype),
        "a_scale_ptr": "*fp32", "b_scale_ptr": "*fp32",
        **{name: "i32" for name in ("M", "N", "K", "group_n", "group_k", "stride_as_m",
                                    "stride_as_k", "stride_bs_n", "stride_bs_k")},
    }
    constexprs = dict(GROUP_M=meta["GROUP_SIZE_M"], STAGES=launch["num_stages"],
                      LAG=cfg.get("LAG", 0), CONSUMERS=bm // WG_ROWS)
    return build_sm90(_w8a8_block_gluon_kernel, signature, constexprs, 4, MAX_REGS)
