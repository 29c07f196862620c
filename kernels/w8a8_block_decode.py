"""Block-scaled W8A8 GEMM for decode (small M) in one launch: fused activation quantization,
swap-AB tiles and a deterministic in-kernel split-K reduction. FP8 only.

    q[m, k], As[m, g] = per_token_group_quant(X)[m, k]         (groups of bk = 128 columns)
    C[m, n]           = sum_k q[m, k] * B[n, k] * As[m, k // bk] * Bs[n // bn, k // bk]

Takes the bf16/fp16 activation X itself, not its quantized form: the result is bitwise the
quantize-then-GEMM of :mod:`kernels.quant` + :mod:`kernels.w8a8_block_splitk` (same formula,
same fp32 ops), in one launch instead of three.

Why: at M <= 16 the GEMM is a read of the weight (N * K bytes, 1-33 MB on DeepSeek-V3 TP 8
shapes), 0.6-11 us at HBM speed, while the separate path costs three dependent launches
(quantize, split-K GEMM, reduce) of ~2-5 us each even inside a CUDA graph. So:

* **Fused quantization.** Each program quantizes the (BLOCK_SIZE_M x bk) activation tiles its K
  range needs, in registers: amax per row, scale, divide, clamp, cast. With M <= 64 the
  activation is a few KB per K tile, read from L2 by every program that needs it; recomputing
  the scale per program costs nothing next to the weight tile it multiplies. BLOCK_SIZE_K must
  equal bk so a tile holds whole quantization groups.
* **Split-K reduced by the last program to arrive.** Program (tile, s) stores its fp32 partial
  tile in a workspace P (SPLIT_K, M, N), then increments the tile's arrival counter (an
  acquire-release atomic, after a CTA barrier so every thread's stores are ordered before it).
  The program that sees SPLIT_K - 1 sums P[0], P[1], ... in that fixed order and stores C, then
  resets the counter to 0 for the next launch. The sum order never depends on arrival order, so
  two runs are bitwise equal, as with the two-kernel reduction it replaces.
* **Swap-AB**, as in :mod:`kernels.w8a8_block_splitk`: the weight tile is the MMA's 64-row side,
  the tokens its N side.

Counters: one int32 per output tile, zero between launches, kept per device by the wrapper and
grown on demand (a growth allocates, so warm up a shape before capturing it in a CUDA graph).
Two launches running at the same time on different streams of one device would share
counters: do not do that (inference engines run a layer's GEMMs on one stream).
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
from kernels.platform import FP8_DTYPES, fp8_format
from kernels.quant import SCALE_EPS, _round_to_e4m3_grid, min_normal
from kernels.tiling import grouped_tile_ids, split_config
from kernels.validation import FP8_DTYPE, interpreting
from kernels.w8a8_block_splitk import (
    EXTRA_KEYS,
    launch_split_k,
    split_workspace,
    validate_splitk_config,
    workspace_strides,
)

__all__ = [
    "compile_w8a8_block_decode",
    "default_decode_config",
    "w8a8_block_decode_matmul",
]


# The activation X comes unquantized; the kernel quantizes it to FP8 itself.
X_DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def default_decode_config(M: int = 1) -> dict[str, int]:
    """16..64 tokens x 64 weight rows x 128 K, 4 stages: many programs, short K ranges."""
    bm = min(64, max(16, triton.next_power_of_2(M)))
    return {
        "BLOCK_SIZE_M": bm,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 4,
    }


@triton.jit
def _w8a8_block_decode_kernel(
    # Pointers (ws_ptr: fp32 partials (SPLIT_K, M, N); counter_ptr: int32 per output tile)
    x_ptr,
    b_ptr,
    c_ptr,
    ws_ptr,
    counter_ptr,
    b_scale_ptr,
    # Sizes; each split reduces k_tiles_per_split K tiles; split_k programs share a tile
    M,
    N,
    K,
    k_tiles_per_split,
    split_k,
    # Quantization block of the weight scales (activations use groups of BLOCK_SIZE_K)
    group_n,
    # Strides
    stride_xm,
    stride_xk,
    stride_bn,
    stride_bk,
    stride_cm,
    stride_cn,
    stride_ws_s,
    stride_ws_m,
    stride_bs_n,
    stride_bs_k,
    # Activation quantization constants
    eps,
    qmax,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    WRITE_PARTIALS: tl.constexpr,
    ROUND_IN_FP32: tl.constexpr,
    MIN_NORMAL: tl.constexpr,
):
    tile = tl.program_id(0)
    pid_m, pid_n = grouped_tile_ids(tile, M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M)
    split = tl.program_id(1)
    k_first = split * k_tiles_per_split
    k_last = tl.minimum(k_first + k_tiles_per_split, tl.cdiv(K, BLOCK_SIZE_K))

    # Out-of-range rows / columns wrap (% M, % N) so loads need no row mask; the store drops them.
    offs_m = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_n = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    k_offs = (k_first * BLOCK_SIZE_K + offs_k)[None, :]
    b_ptrs = b_ptr + offs_n[:, None] * stride_bn + k_offs * stride_bk
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + k_offs * stride_xk
    b_scale_ptrs = b_scale_ptr + (offs_n // group_n) * stride_bs_n

    # Per K tile kt (one quantization group of every token row):
    #   As[m]     = max(amax_k |X[m, k]|, eps) / qmax
    #   q[m, k]   = e4m3(clamp(X[m, k] / As[m], -qmax, qmax))
    #   acc[n, m] += (B_tile @ q^T)[n, m] * Bs[n // bn, kt] * As[m]      (swap-AB: acc = C^T)
    acc = tl.zeros((BLOCK_SIZE_N, BLOCK_SIZE_M), dtype=tl.float32)
    for kt in range(k_first, k_last):
        k_mask = offs_k[None, :] < K - kt * BLOCK_SIZE_K
        x = tl.load(x_ptrs, mask=k_mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptrs, mask=k_mask, other=0.0)
        b_s = tl.load(b_scale_ptrs + kt * stride_bs_k)
        a_s = tl.maximum(tl.max(tl.abs(x), axis=1), eps) / qmax
        q = tl.minimum(tl.maximum(tl.div_rn(x, a_s[:, None]), -qmax), qmax)
        if ROUND_IN_FP32:
            q = _round_to_e4m3_grid(q, MIN_NORMAL)
        q = q.to(b.dtype)
        acc += tl.dot(b, tl.trans(q)).to(tl.float32) * b_s[:, None] * a_s[None, :]
        b_ptrs += BLOCK_SIZE_K * stride_bk
        x_ptrs += BLOCK_SIZE_K * stride_xk

    part = tl.trans(acc)  # (BLOCK_SIZE_M, BLOCK_SIZE_N), rows = tokens
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
    if WRITE_PARTIALS:
        ws_tile = ws_ptr + offs_cm[:, None] * stride_ws_m + offs_cn[None, :]
        tl.store(ws_tile + split * stride_ws_s, part, mask=mask)
        # Every thread's partial store is issued before the arrival below (CTA barrier), and
        # the acq_rel atomic publishes them to the program that arrives last.
        tl.debug_barrier()
        arrived = tl.atomic_add(counter_ptr + tile, 1, sem="acq_rel", scope="gpu")
        if arrived == split_k - 1:
            # C[m, n] = sum_{s = 0 .. split_k - 1} P[s, m, n], always in this order.
            total = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
            for s in range(0, split_k):
                total += tl.load(
                    ws_tile + s * stride_ws_s, mask=mask, other=0.0, cache_modifier=".cg"
                )
            tl.store(c_ptrs, total.to(c_ptr.dtype.element_ty), mask=mask)
            tl.atomic_xchg(counter_ptr + tile, 0, sem="relaxed", scope="gpu")
    else:
        tl.store(c_ptrs, part.to(c_ptr.dtype.element_ty), mask=mask)


_COUNTERS: dict[torch.device, torch.Tensor] = {}


def _tile_counters(device: torch.device, tiles: int) -> torch.Tensor:
    """Zeroed int32 arrival counters for ``tiles`` output tiles on ``device``, reused across
    launches (the kernel leaves them at zero)."""
    buf = _COUNTERS.get(device)
    if buf is None or buf.numel() < tiles:
        buf = torch.zeros(max(tiles, 1024), dtype=torch.int32, device=device)
        _COUNTERS[device] = buf
    return buf


def _validate(config: Mapping[str, int], block_k: int) -> dict[str, int]:
    """The split-K kernel's checks (its keys, SPLIT_K included) plus a K tile of exactly one
    quantization group."""
    cfg = validate_splitk_config(config, block_k)
    if cfg["BLOCK_SIZE_K"] != block_k:
        raise ValueError(
            f"config: BLOCK_SIZE_K={cfg['BLOCK_SIZE_K']} must equal the "
            f"quantization group block_k={block_k} (the kernel quantizes whole "
            "groups)"
        )
    return cfg


def w8a8_block_decode_matmul(
    X: torch.Tensor,
    B: torch.Tensor,
    Bs: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype = torch.bfloat16,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
    num_sms: int | None = None,
) -> torch.Tensor:
    """C = quant(X) @ (B * Bs)^T in one launch, quant = FP8 per-token-group (1 x block_k).

    Args:
        X: (M, K) bf16 / fp16 / fp32 activations (not quantized), K unit-stride.
        B: (N, K) FP8 weights (float8_e4m3fn, or float8_e4m3fnuz on MI300-class GPUs: X is
            quantized to B's format and its largest value, kernels.platform), K unit-stride;
            Bs: (ceil(N/bn), ceil(K/bk)) fp32.
        config: the standard keys (BLOCK_SIZE_K must equal block_k) plus an optional SPLIT_K;
            ``None`` uses :func:`default_decode_config`. Without SPLIT_K it is chosen from the
            shape and the SM count as in :func:`kernels.w8a8_block_splitk.choose_split_k`.
        num_sms: overrides the SM count used to choose SPLIT_K.
    """
    M, N, K, block = check_block_scaled_args(
        X, B, None, Bs, block_size, out_dtype, a_name="X", a_dtypes=X_DTYPES, b_dtypes=FP8_DTYPES
    )
    cfg = _validate(config if config is not None else default_decode_config(M), block[1])
    C = allocate_output(out, (M, N), out_dtype, X.device)
    split = launch_split_k(M, N, K, cfg, num_sms, X.device)
    ws = split_workspace(split, C)
    counters = _tile_counters(X.device, num_tiles(M, N, cfg)) if split > 1 else C
    _launch(X, B, C, ws, counters, Bs, block[0], cfg, split)
    return C


def _launch(
    X,
    B,
    C,
    ws,
    counters,
    Bs,
    block_n: int,
    cfg: Mapping[str, int],
    split: int,
    warmup: bool = False,
) -> None:
    """Launch (or, with ``warmup``, only compile) the kernel; operands may be ShapeOnly."""
    meta, options = split_config(cfg, drop=EXTRA_KEYS)
    M, K = X.shape
    N = B.shape[0]
    pointers = (X, B, C, ws, counters, Bs)
    per_split = triton.cdiv(triton.cdiv(K, meta["BLOCK_SIZE_K"]), split)
    strides = (*operand_strides(X, B, C), *workspace_strides(ws, split), *operand_strides(Bs))
    qmax = fp8_format(B.dtype).qmax  # X is quantized to B's format
    args = (*pointers, M, N, K, per_split, split, block_n, *strides, SCALE_EPS, qmax)
    grid = (num_tiles(M, N, meta), split)
    rounding = interpreting() and B.dtype != torch.int8
    flags = dict(WRITE_PARTIALS=split > 1, ROUND_IN_FP32=rounding, MIN_NORMAL=min_normal(B.dtype))
    launch(_w8a8_block_decode_kernel, grid, args, warmup, **meta, **options, **flags)


def compile_w8a8_block_decode(
    M: int,
    N: int,
    K: int,
    x_dtype: torch.dtype,
    out_dtype: torch.dtype,
    block_size: tuple[int, int],
    config: Mapping[str, int],
    num_sms: int | None = None,
) -> None:
    """Compile (without running) the binary a launch on contiguous operands of this shape uses
    (SPLIT_K as the launch would choose it on the current device)."""
    cfg = _validate(config, block_size[1])
    split = launch_split_k(M, N, K, cfg, num_sms, None)
    X, B, C, _, Bs = shape_only_operands(M, N, K, x_dtype, out_dtype, block_size, FP8_DTYPE)
    ws = split_workspace(split, C)
    counters = ShapeOnly(torch.int32, (1024,)) if split > 1 else C
    _launch(X, B, C, ws, counters, Bs, block_size[0], cfg, split, warmup=True)
