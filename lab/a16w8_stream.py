"""A16W8 (MLA) at M = 32 and 128: does prefetching across tiles make the straightforward kernel
beat bf16 ``torch.bmm``? (issue 26, item 3: measure first)

    python lab/a16w8_stream.py                      # $OUT set: JSON to $OUT/a16w8_stream.json
    TRITON_INTERPRET=1 python lab/a16w8_stream.py   # no GPU: check the lab kernel on CPU

The question. On the H200 (MLA sweep of 2026-11-29) the better of our batched A16W8 kernels
ran at 0.62-0.91x bf16 ``torch.bmm`` at M = 128 and 0.80-0.98x at M = 32, though they move
22-25 % fewer bytes (fp8 weights). The worst row is B = 128, (N, K) = (512, 128), M = 128:
19.55 us against 11.09 us. Its 29 MB would take 7.3 us at 4 TB/s; our kernel moves them at
1.5 TB/s, bmm its 38 MB at 3.4 TB/s. With K = 128 a tile is one K step, so a program loads,
multiplies and stores once and has nothing to overlap with: the SM's only overlap is a second
resident program. The swapped-operand kernel already walks several tiles a program in one flat
loop, which Triton's pipeliner prefetches across tile boundaries, but it pays for its swap (the
fifth round: narrow shared-memory copies feeding the register operand) and reached 17.92 us
there.

The experiment changes one thing: ``flat``, the straightforward orientation (``X @
widen(W)^T``, the widened weight the shared-memory operand, as :mod:`kernels.a16w8_batched`)
with the swapped kernel's flat (tile, K step) loop and TILES_PER_PROGRAM. It runs beside the
bench's own providers at the same point, on the same rotated operands (``BenchContext``):
``a16w8-triton`` and ``a16w8-triton-swapped`` with their tuned configs, and
``a16w8-bmm-bf16`` (the baseline).

Prediction, written before any run: on the K = 128 rows at B >= 64 the flat loop reaches
0.95-1.1x bmm at M = 128 (the straightforward kernel: 0.57-0.71x), because the next tile's
loads then overlap this tile's store. On the K = 512 rows (four K steps a tile, already
pipelined) it gains under 10 %. At B = 16-32 (16-64 tiles) it changes nothing: too few tiles
to prefetch across.

Per point (the 8 MLA rows x M = 32, 128): every ``flat`` config (16-32: token rows x weight
rows x buffers x tiles a program, 4 warps) is checked against the fp32 reference on the
bench's poisoned outputs (``points._check``), then all are timed in one interleaved ranking
pass (``timing.time_pass``); the best ``flat``, the three providers and an A/A twin of bmm are
then timed in one interleaved runoff, with the bench's replay count. The JSON is rewritten
after each point; no point starts after A16W8_STREAM_BUDGET_S (default 420 s).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import torch
import triton
import triton.language as tl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "lab"))

from kernels._host import launch, num_tiles, operand_strides  # noqa: E402
from kernels.a16w8_batched import check_a16w8_batched_args  # noqa: E402
from kernels.tiling import grouped_tile_ids, split_config  # noqa: E402
from kernels.validation import interpreting  # noqa: E402

ROWS = [(b, n, k) for b in (16, 32, 64, 128) for n, k in ((128, 512), (512, 128))]
MS = (32, 128)
PROVIDERS = ["a16w8-triton", "a16w8-triton-swapped", "a16w8-bmm-bf16"]


def flat_configs(m: int) -> list[dict[str, int]]:
    token_rows = (32,) if m <= 32 else (64, 128)
    return [
        {
            "BLOCK_SIZE_M": bm,
            "BLOCK_SIZE_N": bn,
            "BLOCK_SIZE_K": 128,
            "GROUP_SIZE_M": 1,
            "num_warps": 4,
            "num_stages": stages,
            "TILES_PER_PROGRAM": tiles,
        }
        for bm, bn, stages, tiles in itertools.product(token_rows, (64, 128), (2, 3), (1, 2, 4, 8))
    ]


@triton.jit
def _a16w8_flat_kernel(
    x_ptr,
    w_ptr,
    y_ptr,
    w_scale_ptr,
    B,
    M,
    N,
    K,
    group_n,
    group_k,
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
    BLOCK_SIZE_M: tl.constexpr,
    BLOCK_SIZE_N: tl.constexpr,
    BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    WIDEN_DOT_TO_FP32: tl.constexpr,
):
    # Tiles are numbered batch by batch; program p takes tiles p, p + P, p + 2P, ...
    tiles_per_batch = tl.cdiv(M, BLOCK_SIZE_M) * tl.cdiv(N, BLOCK_SIZE_N)
    num_tiles = B * tiles_per_batch
    k_tiles = tl.cdiv(K, BLOCK_SIZE_K)
    pid = tl.program_id(0)
    num_programs = tl.num_programs(0)
    my_tiles = tl.cdiv(num_tiles - pid, num_programs)

    offs_k = tl.arange(0, BLOCK_SIZE_K)
    acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    # One flat loop over (tile, K step) pairs, so the pipeliner prefetches across tiles:
    #   acc[m, n] += (X_tile @ widen(W_tile))[m, n] * Ws[b, n // bn, k0 // bk]
    # and after a tile's last K step, Y[b, m, n] = acc[m, n] and acc restarts at zero.
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

        x_ptrs = (
            x_ptr
            + batch * stride_xb
            + offs_m[:, None] * stride_xm
            + (k0 + offs_k)[None, :] * stride_xk
        )
        w_ptrs = (
            w_ptr
            + batch * stride_wb
            + (k0 + offs_k)[:, None] * stride_wk
            + offs_n[None, :] * stride_wn
        )
        x = tl.load(x_ptrs, mask=k_mask[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=k_mask[:, None], other=0.0)
        w_s = tl.load(
            w_scale_ptr
            + batch * stride_sb
            + (offs_n // group_n) * stride_sn
            + (k0 // group_k) * stride_sk
        )
        if WIDEN_DOT_TO_FP32:  # CPU interpreter only, as in kernels.a16w8_batched
            part = tl.dot(x.to(tl.float32), w.to(tl.float32))
        else:
            part = tl.dot(x, w.to(x.dtype))
        acc += part * w_s[None, :]

        if ki == k_tiles - 1:
            offs_ym = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
            offs_yn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
            y_ptrs = (
                y_ptr
                + batch * stride_yb
                + offs_ym[:, None] * stride_ym
                + offs_yn[None, :] * stride_yn
            )
            mask = (offs_ym[:, None] < M) & (offs_yn[None, :] < N)
            tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=mask)
            acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)


def a16w8_flat_matmul(
    X: torch.Tensor,
    W: torch.Tensor,
    Ws: torch.Tensor,
    block_size: tuple[int, int] = (128, 128),
    out_dtype: torch.dtype | None = None,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Y = X @ (W * Ws)^T batched, as :func:`kernels.a16w8_batched.a16w8_batched_matmul`."""
    out_dtype, block = check_a16w8_batched_args(X, W, Ws, block_size, out_dtype, out)
    Bt, M, _ = X.shape
    N = W.shape[1]
    cfg = dict(config)
    Y = out if out is not None else torch.empty((Bt, M, N), dtype=out_dtype, device=X.device)
    meta, options = split_config(cfg, drop=("TILES_PER_PROGRAM",))
    K = X.shape[2]
    args = (X, W, Y, Ws, Bt, M, N, K, *block, *operand_strides(X, W, Y, Ws))
    grid = (triton.cdiv(Bt * num_tiles(M, N, meta), cfg.get("TILES_PER_PROGRAM", 1)),)
    widen = interpreting() and X.dtype == torch.bfloat16
    launch(_a16w8_flat_kernel, grid, args, False, **meta, **options, WIDEN_DOT_TO_FP32=widen)
    return Y


def check_on_cpu() -> int:
    """Interpreter check of the lab kernel at ragged sizes (M, N, K off the tiles), one and
    several tiles a program, against the fp32 reference."""
    from kernels.quant import quantize_weight_blockwise
    from kernels.reference import a16w8_batched_reference, relative_error, tolerance

    g = torch.Generator().manual_seed(0)
    B, M, N, K = 3, 40, 200, 300
    X = torch.randn((B, M, K), generator=g).to(torch.bfloat16)
    W, Ws = quantize_weight_blockwise(torch.randn((B, N, K), generator=g) * 0.05, (128, 128))
    ref = a16w8_batched_reference(X, W, Ws)
    worst = 0.0
    for tiles in (1, 3):
        cfg = {**flat_configs(32)[0], "BLOCK_SIZE_N": 64, "TILES_PER_PROGRAM": tiles}
        out = torch.full((B, M, N), float("nan"), dtype=torch.bfloat16)
        err = relative_error(a16w8_flat_matmul(X, W, Ws, config=cfg, out=out), ref)
        print(f"flat TILES_PER_PROGRAM={tiles}: rel_error {err:.2e}")
        worst = max(worst, err)
    ok = worst <= tolerance(torch.bfloat16)
    print(f"a16w8_stream: lab kernel {'pass' if ok else 'FAIL'} (worst {worst:.2e})")
    return 0 if ok else 1


def _flat_provider(base, cfg):
    """The bench's ``a16w8-triton`` provider with the lab kernel and ``cfg`` in its place."""
    from generator.bench.providers.batched import _prepare_a16w8

    return dataclasses.replace(
        base, setup=lambda p, ctx: _prepare_a16w8(p, ctx, a16w8_flat_matmul, cfg)
    )


def measure_point(b, n, k, m, ctx):
    from bench_here import checked

    from generator.bench import points as bench_points
    from generator.bench import registry as pv
    from generator.bench.problem import Kind
    from generator.measure import timing

    problem = pv.Problem(M=m, N=n, K=k, B=b, kind=Kind.BATCHED)
    ready = dict(checked(PROVIDERS, problem, ctx))
    base = pv.get("a16w8-triton")
    flat = []
    rows = []
    for cfg in flat_configs(m):
        with bench_points.full_precision_reductions():
            c = bench_points._check(_flat_provider(base, cfg), problem, ctx)
        if isinstance(c, bench_points._Checked):
            rows.append({"config": cfg, "status": "ok", "rel_error": c.err})
            flat.append((rows[-1], c.prepared.calls))
        else:
            rows.append({"config": cfg, "status": str(c.measurement.status)})
    on_cuda = ctx.device.type == "cuda"
    stats = timing.time_pass(
        [calls for _, calls in flat],
        on_cuda,
        20,
        5_000.0,
        seed=timing.order_seed(b, n, k, m, "a16w8-stream"),
        min_replay_us=250.0,
        drop_over=1.5,
    )
    for (row, _), st in zip(flat, stats, strict=True):
        row["pass_us"] = st.median_us
    best_row, best_calls = min(flat, key=lambda rc: rc[0]["pass_us"])
    names = [*ready, "flat"]
    candidates = [*(c.prepared.calls for c in ready.values()), best_calls]
    bmm = ready.get("a16w8-bmm-bf16")
    if bmm is not None:
        candidates.append(bmm.prepared.calls)  # the A/A twin
    runoff = timing.time_interleaved(
        candidates,
        on_cuda,
        bench_points.DEFAULT_REPLAYS,
        seed=timing.order_seed(b, n, k, m, "a16w8-stream-runoff"),
    )
    medians = dict(zip(names, (st.median_us for st in runoff), strict=False))
    record = {
        "B": b,
        "N": n,
        "K": k,
        "M": m,
        "runoff_us": medians,
        "configs": {name: ready[name].prepared.config for name in ready},
        "flat_best": best_row,
        "flat": rows,
    }
    if bmm is not None:
        record["aa"] = runoff[-1].median_us / medians["a16w8-bmm-bf16"] - 1
        record["x_bmm"] = {
            name: medians["a16w8-bmm-bf16"] / us for name, us in medians.items()
        }  # > 1: faster than bmm
    return record


def main() -> int:
    if not torch.cuda.is_available():
        if os.environ.get("TRITON_INTERPRET") == "1":
            return check_on_cpu()
        print("a16w8_stream: no CUDA GPU; nothing measured (TRITON_INTERPRET=1 checks on CPU)")
        return 0
    from bench_here import gpu_context

    t0 = time.monotonic()
    budget = float(os.environ.get("A16W8_STREAM_BUDGET_S", "420"))
    prov, ctx = gpu_context()
    result = {"provenance": prov.model_dump(mode="json"), "points": []}
    out = Path(os.environ.get("OUT", tempfile.gettempdir())) / "a16w8_stream.json"
    for (b, n, k), m in itertools.product(ROWS, MS):
        if time.monotonic() - t0 > budget:
            print(f"a16w8_stream: budget spent; B={b} {n}x{k} M={m} and after not measured")
            break
        record = measure_point(b, n, k, m, ctx)
        result["points"].append(record)
        out.write_text(json.dumps(result, indent=1))
        ratios = ", ".join(f"{p} {x:.2f}x" for p, x in record.get("x_bmm", {}).items())
        print(f"B={b} {n}x{k} M={m}: vs bmm {ratios}; A/A {record.get('aa', 0):+.2%}", flush=True)
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
