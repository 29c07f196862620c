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
* **one partition per consumer warpgroup** (4 warps, 64 rows of the tile each, two or three
  per tile; all read the same B tile): each issues one asynchronous WGMMA per K tile, waits
  for it and promotes. As separate partitions the warpgroups never synchronize with each
  other, so one's promotion can run while the tensor cores work on another's WGMMA. (With both
  in one 8-warp partition Triton puts a barrier across them before every buffer release: 0.61-
  0.73x of cuBLAS on the H100; this layout, the scale prefetch and LAG took it to 0.80-1.14x.)
* **the scales of K tile k + 1 are loaded while tile k is computed**: a column of As is 64
  scattered rows, a load longer than one WGMMA;
* ``LAG=1`` (two warpgroups only: 192 registers a thread) scales the *previous* K tile's
  product while this warpgroup's own WGMMA runs; the loop takes K tiles in pairs so the two
  products stay in fixed registers, and an odd tile count is padded with a zero-filled tile;
* ``ORDERED`` = 1 makes the warpgroups take turns issuing their WGMMAs, 2 passes the turn when
  the first half (K 0-63) of a warpgroup's WGMMA is done;
* **persistent grid**: min(#SMs, #tiles) programs walk the grouped tile order
  (:func:`kernels.tiling.grouped_tile_ids`, called from Gluon); the producer runs ahead into
  the next tile while the consumers store this one through TMA.

Limits (the wrapper raises ``ValueError`` naming them): a Hopper GPU (compute capability 9.x);
FP8 e4m3 operands; BLOCK_SIZE_K == the scale block's K (one A-scale column per K tile) and
BLOCK_SIZE_N dividing its N (one B scale per tile); TMA alignment (K % 16 == 0, N * out bytes %
16 == 0, 16-byte aligned base pointers). Gluon kernels do not run under the CPU interpreter:
CPU tests build the kernel for sm_90 offline and check the wrapper; the numerics are checked
on the GPU against the fp32 reference.

Config: the standard keys plus optional ``LAG`` (0/1, default 1) and ``ORDERED`` (0/1/2,
default 0); the tuner's space is ``generator.configs.spaces.gluon``. ``num_stages`` is the number of
shared-memory buffers; ``num_warps`` counts the consumer warps (4 per warpgroup, so
BLOCK_SIZE_M = 16 * num_warps: 64, 128 or 192); the kernel itself launches 4 warps and adds the
other consumers and the producer as warp-specialized partitions.
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

from kernels._host import (
    allocate_output,
    check_block_scaled_args,
    launch,
    operand_strides,
    persistent_programs,
)
from kernels.compat import gpu_info, hopper_problem, tma_async_load, tma_async_store
from kernels.sm90_build import build_sm90, descriptor_type, host_descriptor
from kernels.tiling import grouped_tile_ids, split_config, validate_config
from kernels.validation import FP8_DTYPE, TMA_ALIGN, multiprocessor_count, tma_aligned
from kernels.w8a8_block import w8a8_block_bytes, w8a8_block_flops

__all__ = [
    "build_w8a8_block_gluon_sm90",
    "compile_w8a8_block_gluon",
    "default_gluon_config",
    "gluon_supported",
    "w8a8_block_bytes",
    "w8a8_block_flops",
    "w8a8_block_gluon_matmul",
]

EXTRA_KEYS = ("LAG", "ORDERED")
WG_ROWS = 64  # rows of a tile per consumer warpgroup (the M of one WGMMA instruction)
PRODUCER_REGS = gl.constexpr(24)  # per thread of the producer warp: setmaxnreg's minimum
CONSUMER_REGS = gl.constexpr(240)  # per thread of the second consumer warpgroup
# Registers per thread the kernel is compiled for, by consumer warpgroups: with the producer
# warp rounded up to a warpgroup, e.g. 2 consumers + 1 = 12 warps share 64K registers, 168 each
# at most; the producer gives its share to the consumers (setmaxnreg), which then get 240 each.
MAX_REGS = {1: 168, 2: 168, 3: 128}
CONSUMER3_REGS = gl.constexpr(160)  # three consumer warpgroups: 160, 160 and 168 (default)


def default_gluon_config() -> dict[str, int]:
    """128 x 128 x 128 tiles over two consumer warpgroups, 4 buffers (128 KB), lagged
    promotion: the fastest on every DeepSeek-V3 shape measured on the H100."""
    return {
        "BLOCK_SIZE_M": 128,
        "BLOCK_SIZE_N": 128,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 8,
        "num_warps": 8,
        "num_stages": 4,
        "LAG": 1,
    }


@gluon.jit
def _producer(
    a_desc,
    b_desc,
    a_bufs,
    b_bufs,
    ready_bars,
    empty_bars,
    M,
    N,
    K,
    GROUP_M: gl.constexpr,
    STAGES: gl.constexpr,
    LAG: gl.constexpr,
):
    """One warp: TMA-load the A and B tiles of every K step of every tile into the ring.

    A comes in boxes of one warpgroup's 64 rows (TMA boxes are powers of two; a tile may have
    three warpgroups' rows)."""
    WG_M: gl.constexpr = a_desc.block_type.shape[0]
    CONSUMERS: gl.constexpr = a_bufs.type.shape[0] // STAGES
    BLOCK_M: gl.constexpr = CONSUMERS * WG_M
    BLOCK_K: gl.constexpr = a_desc.block_type.shape[1]
    BLOCK_N: gl.constexpr = b_desc.block_type.shape[0]
    num_tiles = gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N)
    k_tiles = gl.cdiv(K, BLOCK_K)
    if LAG:  # the consumers take K steps in pairs
        k_tiles = gl.cdiv(k_tiles, 2) * 2
    step = 0  # K steps issued so far: buffer step % STAGES, its use number step // STAGES
    for tile_id in range(gl.program_id(0), num_tiles, gl.num_programs(0)):
        pid_m, pid_n = grouped_tile_ids(tile_id, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        for ki in range(k_tiles):
            slot = step % STAGES
            # A buffer is free once the consumers released its previous use; barriers start
            # "phase 1 complete", so the first pass over the ring does not wait.
            mbarrier.wait(empty_bars.index(slot), ((step // STAGES) & 1) ^ 1)
            ready = ready_bars.index(slot)
            # Out-of-bounds rows / K columns arrive as zeros and still count as full boxes.
            mbarrier.expect(ready, CONSUMERS * a_desc.block_type.nbytes + b_desc.block_type.nbytes)
            for h in gl.static_range(CONSUMERS):
                tma_async_load(
                    a_desc,
                    [pid_m * BLOCK_M + h * WG_M, ki * BLOCK_K],
                    ready,
                    a_bufs.index(slot * CONSUMERS + h),
                )
            tma_async_load(b_desc, [pid_n * BLOCK_N, ki * BLOCK_K], ready, b_bufs.index(slot))
            step += 1


@gluon.jit
def _load_scales(a_scale_ptrs, b_scale_row, kb, row_ok, stride_as_k, stride_bs_k):
    """As[rows, kb] (one per row of this warpgroup) times Bs[tile column block, kb]."""
    a_s = gl.load(a_scale_ptrs + kb * stride_as_k, mask=row_ok, other=0.0)
    return a_s * gl.load(b_scale_row + kb * stride_bs_k)


@gluon.jit
def _mma_step(
    a_bufs,
    b_bufs,
    ready_bars,
    empty_bars,
    turn_bars,
    step,
    acc,
    pending,
    pending_scale,
    zeros,
    STAGES: gl.constexpr,
    CONSUMERS: gl.constexpr,
    ORDERED: gl.constexpr,
    HALF: gl.constexpr,
    FOLD: gl.constexpr,
):
    """K step ``step`` of this warpgroup: issue its WGMMA, (with FOLD) add ``pending *
    pending_scale`` (the previous step's product) to ``acc`` while the tensor cores run it,
    wait for it and release its buffer. Returns (acc, this step's unscaled product)."""
    slot = step % STAGES
    mbarrier.wait(ready_bars.index(slot), (step // STAGES) & 1)
    a_tile = a_bufs.index(slot * CONSUMERS + HALF)  # this warpgroup's 64 rows
    b_tile = b_bufs.index(slot).permute((1, 0))  # [BLOCK_K, BLOCK_N] view, K-major
    if ORDERED:  # take turns with the other warpgroups: wait until the previous one issued
        if HALF == 0:
            mbarrier.wait(turn_bars.index(HALF), (step & 1) ^ 1)
        else:
            mbarrier.wait(turn_bars.index(HALF), step & 1)
    if ORDERED == 2:
        # Two commit groups (K halves); the next warpgroup's turn starts when the first half
        # is done, so its WGMMA overlaps our second half and then our promotion.
        HALF_K: gl.constexpr = a_tile.type.shape[1] // 2
        part = warpgroup_mma(
            a_tile.slice(0, HALF_K, dim=1),
            b_tile.slice(0, HALF_K, dim=0),
            zeros,
            use_acc=False,
            is_async=True,
        )
        part = warpgroup_mma(
            a_tile.slice(HALF_K, HALF_K, dim=1),
            b_tile.slice(HALF_K, HALF_K, dim=0),
            part,
            is_async=True,
        )
        part = warpgroup_mma_wait(num_outstanding=1, deps=(part,))
        mbarrier.arrive(turn_bars.index((HALF + 1) % CONSUMERS), count=1)
    else:
        part = warpgroup_mma(a_tile, b_tile, zeros, use_acc=False, is_async=True)
        if ORDERED:
            mbarrier.arrive(turn_bars.index((HALF + 1) % CONSUMERS), count=1)
    if FOLD:
        acc += pending * pending_scale[:, None]
    part, _, _ = warpgroup_mma_wait(num_outstanding=0, deps=(part, a_tile, b_tile))
    mbarrier.arrive(empty_bars.index(slot), count=1)
    return acc, part


@gluon.jit
def _consumer(
    a_bufs,
    b_bufs,
    ready_bars,
    empty_bars,
    turn_bars,
    c_desc,
    c_bufs,
    a_scale_ptr,
    b_scale_ptr,
    M,
    N,
    K,
    group_n,
    stride_as_m,
    stride_as_k,
    stride_bs_n,
    stride_bs_k,
    GROUP_M: gl.constexpr,
    STAGES: gl.constexpr,
    LAG: gl.constexpr,
    ORDERED: gl.constexpr,
    HALF: gl.constexpr,
):
    """One warpgroup: rows [64 * HALF, 64 * HALF + 64) of every tile. WGMMA, promotion, store."""
    WG_M: gl.constexpr = c_desc.block_type.shape[0]  # 64: the rows of one warpgroup
    BLOCK_N: gl.constexpr = c_desc.block_type.shape[1]
    CONSUMERS: gl.constexpr = a_bufs.type.shape[0] // STAGES
    BLOCK_M: gl.constexpr = CONSUMERS * WG_M
    BLOCK_K: gl.constexpr = a_bufs.type.shape[2]
    # WGMMA instruction m64nNk32 (k = 256 bits / 8-bit operands) over the 4 warps.
    mma_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_N, 32]
    )
    rows_layout: gl.constexpr = gl.SliceLayout(1, mma_layout)
    num_tiles = gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N)
    k_tiles = gl.cdiv(K, BLOCK_K)
    zeros = gl.zeros([WG_M, BLOCK_N], gl.float32, mma_layout)
    no_scale = gl.zeros([WG_M], gl.float32, rows_layout)
    c_smem = c_bufs.index(HALF)
    step = 0
    for tile_id in range(gl.program_id(0), num_tiles, gl.num_programs(0)):
        pid_m, pid_n = grouped_tile_ids(tile_id, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        row0 = pid_m * BLOCK_M + HALF * WG_M
        offs_m = row0 + gl.arange(0, WG_M, layout=rows_layout)
        row_ok = offs_m < M
        a_scale_ptrs = a_scale_ptr + offs_m * stride_as_m
        b_scale_row = b_scale_ptr + (pid_n * BLOCK_N // group_n) * stride_bs_n

        # acc[m, n] = sum_kb P_kb[m, n] * s_kb[m],  P_kb = A_kb @ B_kb^T (one FP8 WGMMA per K
        # tile), s_kb[m] = As[m, kb] * Bs[n // bn, kb] (BLOCK_K is the scale block, so K tile
        # kb uses scale column kb). The scales of tile kb + 1 are loaded while tile kb is
        # computed: a column of As is 64 scattered rows, a load slower than one WGMMA.
        acc = gl.zeros([WG_M, BLOCK_N], gl.float32, mma_layout)
        scale = _load_scales(a_scale_ptrs, b_scale_row, 0, row_ok, stride_as_k, stride_bs_k)
        if LAG:
            # P_kb is scaled and added while the tensor cores compute P_kb+1 (ptxas keeps this
            # in one step of each pair and moves the other's FFMAs after the wait: see
            # docs/kernel-notes.md). Two K steps per iteration keep the two products
            # in fixed registers (pa, pb: no copies). An odd last step reads zeros (TMA
            # fills out-of-bounds K with zeros; the producer issues the same padded count).
            pb = zeros
            sb = no_scale
            for kp in range(gl.cdiv(k_tiles, 2)):
                kb = 2 * kp
                sa = scale
                scale = _load_scales(
                    a_scale_ptrs,
                    b_scale_row,
                    gl.minimum(kb + 1, k_tiles - 1),
                    row_ok,
                    stride_as_k,
                    stride_bs_k,
                )
                acc, pa = _mma_step(
                    a_bufs,
                    b_bufs,
                    ready_bars,
                    empty_bars,
                    turn_bars,
                    step,
                    acc,
                    pb,
                    sb,
                    zeros,
                    STAGES,
                    CONSUMERS,
                    ORDERED,
                    HALF,
                    True,
                )
                sb = scale
                scale = _load_scales(
                    a_scale_ptrs,
                    b_scale_row,
                    gl.minimum(kb + 2, k_tiles - 1),
                    row_ok,
                    stride_as_k,
                    stride_bs_k,
                )
                acc, pb = _mma_step(
                    a_bufs,
                    b_bufs,
                    ready_bars,
                    empty_bars,
                    turn_bars,
                    step + 1,
                    acc,
                    pa,
                    sa,
                    zeros,
                    STAGES,
                    CONSUMERS,
                    ORDERED,
                    HALF,
                    True,
                )
                step += 2
            acc += pb * sb[:, None]
        else:
            # Wait for P_kb, then scale it: the tensor cores idle during the promotion unless
            # another warpgroup's WGMMA is running.
            for kb in range(k_tiles):
                s = scale
                scale = _load_scales(
                    a_scale_ptrs,
                    b_scale_row,
                    gl.minimum(kb + 1, k_tiles - 1),
                    row_ok,
                    stride_as_k,
                    stride_bs_k,
                )
                acc, part = _mma_step(
                    a_bufs,
                    b_bufs,
                    ready_bars,
                    empty_bars,
                    turn_bars,
                    step,
                    acc,
                    zeros,
                    no_scale,
                    zeros,
                    STAGES,
                    CONSUMERS,
                    ORDERED,
                    HALF,
                    False,
                )
                acc += part * s[:, None]
                step += 1

        tma.store_wait(pendings=0)  # the previous tile's store has finished reading c_smem
        c_smem.store(acc.to(c_desc.dtype))
        fence_async_shared()
        tma_async_store(c_desc, [row0, pid_n * BLOCK_N], c_smem)
    tma.store_wait(pendings=0)


@gluon.jit
def _w8a8_block_gluon_kernel(
    a_desc,
    b_desc,
    c_desc,
    a_scale_ptr,
    b_scale_ptr,
    M,
    N,
    K,
    group_n,
    stride_as_m,
    stride_as_k,
    stride_bs_n,
    stride_bs_k,
    GROUP_M: gl.constexpr,
    STAGES: gl.constexpr,
    LAG: gl.constexpr,
    CONSUMERS: gl.constexpr,
    ORDERED: gl.constexpr,
):
    # A's buffer of stage s, warpgroup h is a_bufs[s * CONSUMERS + h] (64 x BLOCK_K each).
    a_bufs = gl.allocate_shared_memory(
        a_desc.dtype, [STAGES * CONSUMERS] + a_desc.block_type.shape, a_desc.layout
    )
    b_bufs = gl.allocate_shared_memory(
        b_desc.dtype, [STAGES] + b_desc.block_type.shape, b_desc.layout
    )
    c_bufs = gl.allocate_shared_memory(
        c_desc.dtype, [CONSUMERS] + c_desc.block_type.shape, c_desc.layout
    )
    ready_bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty_bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(ready_bars.index(i), count=1)
        mbarrier.init(empty_bars.index(i), count=CONSUMERS)  # each warpgroup releases a slot
    turn_bars = gl.allocate_shared_memory(gl.int64, [CONSUMERS, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(CONSUMERS):
        mbarrier.init(turn_bars.index(i), count=1)

    # Partitions h = 0 .. CONSUMERS: consumer warpgroup h while h < CONSUMERS (h = 0 is the
    # default partition, the kernel's own 4 warps; each other one is a worker of 4 warps), then
    # the producer (a worker of 1 warp). The list is one comprehension, written inline in the
    # call: Triton's front end keeps the constexprs of the argument tuples (HALF = h, STAGES,
    # ...) as constexprs only within one expression. Assigned to a name, a tuple's constexprs
    # become tensors, and `+` of two lists turns those of its right operand into plain ints
    # (triton 3.6 and 3.9); hence the producer comes from the conditional expression.
    gl.warp_specialize(
        [
            (
                _consumer,
                (
                    a_bufs,
                    b_bufs,
                    ready_bars,
                    empty_bars,
                    turn_bars,
                    c_desc,
                    c_bufs,
                    a_scale_ptr,
                    b_scale_ptr,
                    M,
                    N,
                    K,
                    group_n,
                    stride_as_m,
                    stride_as_k,
                    stride_bs_n,
                    stride_bs_k,
                    GROUP_M,
                    STAGES,
                    LAG,
                    ORDERED,
                    h,
                ),
            )
            if h < CONSUMERS
            else (
                _producer,
                (
                    a_desc,
                    b_desc,
                    a_bufs,
                    b_bufs,
                    ready_bars,
                    empty_bars,
                    M,
                    N,
                    K,
                    GROUP_M,
                    STAGES,
                    LAG,
                ),
            )
            for h in (0, 1, 2, 3)[: CONSUMERS + 1]
        ],
        [4] * (CONSUMERS - 1) + [1],
        [CONSUMER_REGS if CONSUMERS == 2 else CONSUMER3_REGS] * (CONSUMERS - 1) + [PRODUCER_REGS],
    )


def _validate(config: Mapping[str, int], block_size: tuple[int, int]) -> dict[str, int]:
    block_n, block_k = block_size
    # BLOCK_SIZE_M is 64 per consumer warpgroup (checked below): 192 is allowed.
    cfg = validate_config(
        config, block_k, extra_keys=EXTRA_KEYS, pow2_keys=("BLOCK_SIZE_N", "BLOCK_SIZE_K")
    )
    if cfg.get("LAG", 0) not in (0, 1):
        raise ValueError(f"config: LAG={cfg['LAG']} must be 0 or 1")
    if cfg.get("ORDERED", 0) not in (0, 1, 2):
        raise ValueError(f"config: ORDERED={cfg['ORDERED']} must be 0, 1 or 2")
    if cfg["BLOCK_SIZE_K"] != block_k:
        raise ValueError(
            f"config: BLOCK_SIZE_K={cfg['BLOCK_SIZE_K']} must equal the scale "
            f"block's K ({block_k}): one activation-scale column per K tile"
        )
    if block_n % cfg["BLOCK_SIZE_N"] or cfg["BLOCK_SIZE_N"] > 256:
        raise ValueError(
            f"config: BLOCK_SIZE_N={cfg['BLOCK_SIZE_N']} must divide the scale "
            f"block's N ({block_n}) and be <= 256 (one WGMMA wide)"
        )
    if cfg["num_warps"] not in (4, 8, 12) or cfg["BLOCK_SIZE_M"] != 16 * cfg["num_warps"]:
        raise ValueError(
            f"config: BLOCK_SIZE_M={cfg['BLOCK_SIZE_M']} with num_warps="
            f"{cfg['num_warps']}: needs num_warps in (4, 8, 12) and BLOCK_SIZE_M"
            " = 16 * num_warps (one consumer warpgroup per 64 rows)"
        )
    if cfg["num_stages"] < 2:
        raise ValueError(f"config: num_stages={cfg['num_stages']} must be >= 2")
    if cfg.get("LAG", 0) and cfg["BLOCK_SIZE_M"] > 2 * WG_ROWS:
        raise ValueError(
            "config: LAG=1 needs at most two consumer warpgroups (BLOCK_SIZE_M <= "
            "128): three leave 160 registers a thread, lagged promotion uses 192"
        )
    return cfg


def gluon_supported(device: torch.device, N: int, K: int, out_dtype: torch.dtype) -> str | None:
    """Why this kernel cannot compute an (N, K) weight's GEMM on ``device``, or None."""
    problem = hopper_problem(gpu_info(device))  # not an AMD GPU's capability "9.4"
    if problem:
        return problem
    out_bytes = out_dtype.itemsize
    if K % TMA_ALIGN or (N * out_bytes) % TMA_ALIGN:
        return f"TMA needs 16-byte rows: K={K}, N={N} with {out_dtype} output"
    return None


def _kernel_params(cfg: Mapping[str, int]) -> tuple[int, int, dict[str, int]]:
    """(BLOCK_SIZE_N, BLOCK_SIZE_K, the kernel's constexprs and launch options) of a config."""
    meta, options = split_config(cfg, drop=EXTRA_KEYS)
    consumers = meta["BLOCK_SIZE_M"] // WG_ROWS
    params = dict(
        GROUP_M=meta["GROUP_SIZE_M"],
        STAGES=options["num_stages"],
        LAG=cfg.get("LAG", 0),
        CONSUMERS=consumers,
        ORDERED=cfg.get("ORDERED", 0) if consumers > 1 else 0,
        num_warps=4,
        maxnreg=MAX_REGS[consumers],
    )
    return meta["BLOCK_SIZE_N"], meta["BLOCK_SIZE_K"], params


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

    ``config`` takes the standard keys plus optional ``LAG`` / ``ORDERED``; ``None`` uses
    :func:`default_gluon_config`. ``num_sms`` overrides the number of persistent programs.
    """
    M, N, K, block = check_block_scaled_args(A, B, As, Bs, block_size, out_dtype)
    cfg = _validate(config if config is not None else default_gluon_config(), block)
    if A.dtype != FP8_DTYPE:  # Hopper's FP8: e4m3fn (kernels.platform), never fnuz
        raise ValueError(f"w8a8_block_gluon_matmul: takes FP8 e4m3 operands, not {A.dtype}")
    problem = gluon_supported(A.device, N, K, out_dtype)
    if problem:
        raise ValueError(f"w8a8_block_gluon_matmul: {problem}")
    C = allocate_output(out, (M, N), out_dtype, A.device)
    for name, t in (("A", A), ("B", B), ("out", C)):
        if t.stride(-1) != 1 or not tma_aligned(t):
            raise ValueError(
                f"w8a8_block_gluon_matmul: {name} must be row-major with 16-byte "
                "aligned base and rows (TMA)"
            )
    sms = num_sms if num_sms is not None else multiprocessor_count(A.device, 1)
    _launch(A, B, C, As, Bs, (M, N, K), block[0], cfg, persistent_programs(M, N, cfg, sms))
    return C


def _launch(
    A,
    B,
    C,
    As,
    Bs,
    shape: tuple[int, int, int],
    block_n: int,
    cfg: Mapping[str, int],
    programs: int,
    warmup: bool = False,
) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel on ``programs`` programs."""
    bn, bk, params = _kernel_params(cfg)
    args = (
        host_descriptor(A, [WG_ROWS, bk]),
        host_descriptor(B, [bn, bk]),
        host_descriptor(C, [WG_ROWS, bn]),
        As,
        Bs,
        *shape,
        block_n,
        *operand_strides(As, Bs),
    )
    launch(_w8a8_block_gluon_kernel, (programs,), args, warmup, **params)


def compile_w8a8_block_gluon(
    M: int,
    N: int,
    K: int,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
) -> None:
    """Compile (without running) the binary a launch at this shape uses on the current
    device, so the tuner's compile pool can build configs ahead of timing. The descriptors
    are built over small placeholder tensors: only their dtype, box and layout reach the
    compiler; the integer arguments carry the shape's specialization (== 1, % 16)."""
    cfg = _validate(config, tuple(block_size))
    # Without CUDA there is no current device to ask (and asking raises): the CPU it would run
    # on gets the kernel's one-line reason, as a launch there does.
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    problem = gluon_supported(device, N, K, out_dtype)
    if problem:
        raise ValueError(f"compile_w8a8_block_gluon: {problem}")
    bn, bk = cfg["BLOCK_SIZE_N"], cfg["BLOCK_SIZE_K"]
    # As is (M, kb) and Bs (N / block_n, kb), row-major: one row of each gives their strides.
    kb = triton.cdiv(K, block_size[1])
    scales = torch.empty((1, kb), dtype=torch.float32, device="cuda")
    _launch(
        torch.empty((WG_ROWS, bk), dtype=FP8_DTYPE, device="cuda"),
        torch.empty((bn, bk), dtype=FP8_DTYPE, device="cuda"),
        torch.empty((WG_ROWS, bn), dtype=out_dtype, device="cuda"),
        scales,
        scales,
        (M, N, K),
        block_size[0],
        cfg,
        1,
        warmup=True,
    )


def build_w8a8_block_gluon_sm90(
    config: Mapping[str, int] | None = None,
    out_dtype: torch.dtype = torch.bfloat16,
    block_size: tuple[int, int] = (128, 128),
) -> object:
    """Compile the kernel for sm_90 without a GPU (see :mod:`kernels.sm90_build`); returns
    Triton's compiled kernel, whose ``asm`` holds the ttgir, ptx and cubin."""
    cfg = _validate(config if config is not None else default_gluon_config(), block_size)
    bn, bk, params = _kernel_params(cfg)
    signature = {
        "a_desc": descriptor_type([WG_ROWS, bk], FP8_DTYPE),
        "b_desc": descriptor_type([bn, bk], FP8_DTYPE),
        "c_desc": descriptor_type([WG_ROWS, bn], out_dtype),
        "a_scale_ptr": "*fp32",
        "b_scale_ptr": "*fp32",
        **{
            name: "i32"
            for name in (
                "M",
                "N",
                "K",
                "group_n",
                "stride_as_m",
                "stride_as_k",
                "stride_bs_n",
                "stride_bs_k",
            )
        },
    }
    maxnreg = params.pop("maxnreg")
    num_warps = params.pop("num_warps")
    return build_sm90(_w8a8_block_gluon_kernel, signature, params, num_warps, maxnreg)
