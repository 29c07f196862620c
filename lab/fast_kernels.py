"""The faster block-FP8 kernels next to the drop-in one and cuBLASLt, on one GPU, in one call.

    python lab/fast_kernels.py          # $OUT set: full JSON to $OUT/fast_kernels.json

DeepSeek-V3 TP 8 weight shapes x M (env FAST_KERNELS_M, default 1,16,1024,4096). Per (shape, M):

* ``dropin-tuned``: kernels.w8a8_block with the tuned config of site_data (if the device has a
  tuned table for the shape; else vLLM's default config, marked ``dropin-default``);
* ``cublas-block``: torch._scaled_mm block-wise (scale_a column-major (M, K/128), scale_b the
  (K/128, N/128) view); "unsupported" with the message if it raises, "incorrect" if its error
  is over the bound (known: M = 1 refused, K = 2304 wrong on torch 2.11);
* ``splitk`` and ``decode`` (M <= 64), ``persistent`` and ``gluon`` (the warp-specialized
  Hopper kernel; M >= 1024): a built-in sweep of 3-8
  configs each; every config is checked first (fresh operands, NaN-poisoned output, fp32
  reference), only correct ones are timed, the fastest is reported. Split-K and decode are
  also run twice and compared bitwise (determinism). ``decode`` takes the bf16 activation
  and quantizes it inside, so its time includes the quantization; the others' do not.

Timing: generator.measure.timing.time_calls (CUDA graph, median) over L2-rotated input sets
(generator.measure.timing.rotation_count). Roofline at M <= 16: weight + activation + scale + output
bytes over the measured copy bandwidth (a large device-to-device copy, measured once).

``FAST_KERNELS_ONLY`` (comma-separated, e.g. ``gluon,persistent``) limits the sweeps to those
kernels; the drop-in kernel and cuBLAS are always measured, as the ratios need them.

Budget: about 1-2 minutes on an H100/H200; a wall-clock guard (BUDGET_S) stops sweeping and
still prints and writes what it has. Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

SHAPES = [
    (4608, 7168),
    (7168, 2304),
    (3072, 1536),
    (2112, 7168),
    (24576, 7168),
    (512, 7168),
    (7168, 18432),
]
M_VALUES = tuple(int(m) for m in os.environ.get("FAST_KERNELS_M", "1,16,1024,4096").split(","))
SMALL_M_MAX = 64  # split-K sweep up to here; persistent sweep from LARGE_M_MIN
LARGE_M_MIN = 1024
ONLY = {k for k in os.environ.get("FAST_KERNELS_ONLY", "").split(",") if k}
BUDGET_S = float(os.environ.get("FAST_KERNELS_BUDGET_S", "300"))  # stop sweeping after this
MAX_REPLAYS = 20
TARGET_US = 4000.0
BLOCK = (128, 128)


def splitk_configs(M: int) -> list[dict[str, int]]:
    """5 configs: weight tile (BLOCK_SIZE_N) x pipeline depth x split choice."""
    bm = min(64, max(16, 1 << (M - 1).bit_length()))
    base = dict(BLOCK_SIZE_M=bm, BLOCK_SIZE_K=128, GROUP_SIZE_M=1, num_warps=4)
    out = []
    for bn, stages, extra in [
        (128, 4, {}),
        (64, 6, {}),
        (64, 4, {}),
        (128, 4, {"SPLIT_K": 1}),
        (64, 6, {"SPLIT_K": 1}),
    ]:
        out.append({**base, "BLOCK_SIZE_N": bn, "num_stages": stages, **extra})
    return out


def decode_configs(M: int) -> list[dict[str, int]]:
    """Fused decode kernel: weight tile x pipeline depth x split (auto / none / doubled)."""
    bm = min(64, max(16, 1 << (M - 1).bit_length()))
    base = dict(BLOCK_SIZE_M=bm, BLOCK_SIZE_K=128, GROUP_SIZE_M=1, num_warps=4)
    return [
        {**base, "BLOCK_SIZE_N": bn, "num_stages": st, **extra}
        for bn, st, extra in [
            (64, 4, {}),
            (64, 6, {}),
            (128, 4, {}),
            (128, 6, {}),
            (32, 8, {}),
            (64, 4, {"SPLIT_K": 1}),
            (64, 8, {"SPLIT_K": 1}),
            (64, 4, {"SPLIT_K": 16}),
        ]
    ]


def persistent_configs() -> list[dict[str, int]]:
    """3 configs (it lost to the drop-in kernel in the first run): 128x128, 128x256, FLATTEN."""

    def c(bm, bn, warps, stages, group=8, **extra):
        return dict(
            BLOCK_SIZE_M=bm,
            BLOCK_SIZE_N=bn,
            BLOCK_SIZE_K=128,
            GROUP_SIZE_M=group,
            num_warps=warps,
            num_stages=stages,
            **extra,
        )

    return [c(128, 128, 8, 4), c(128, 256, 8, 3), c(128, 128, 8, 4, FLATTEN=1)]


def gluon_configs() -> list[dict[str, int]]:
    """The four best variants of the H100 lab runs (docs/kernel-notes.md, third round)."""
    from kernels.w8a8_block_gluon import default_gluon_config

    base = default_gluon_config()  # two consumer warpgroups, lagged promotion
    return [
        base,
        {**base, "ORDERED": 2},
        {**base, "LAG": 0, "ORDERED": 2},
        {**base, "BLOCK_SIZE_M": 192, "num_warps": 12, "num_stages": 3, "LAG": 0, "ORDERED": 1},
    ]


def wanted(kernel: str) -> bool:
    return not ONLY or kernel in ONLY


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:240] if text else type(exc).__name__


class Point:
    """Operands (rotated sets + a separate check set) and reference for one (N, K, M)."""

    def __init__(self, M: int, N: int, K: int, seed: int):
        from generator.data.tasks import Task
        from generator.measure.timing import rotation_count
        from generator.tune.tunables import get_tunable
        from kernels.w8a8_block import w8a8_block_bytes

        self.M, self.N, self.K = M, N, K
        task = Task(
            kernel="w8a8_block",
            input_type="fp8",
            out_dtype="bfloat16",
            block_n=128,
            block_k=128,
            N=N,
            K=K,
            B=1,
            M=M,
        )
        g = torch.Generator(device="cuda")
        g.manual_seed(seed)
        n_sets = rotation_count(w8a8_block_bytes(M, N, K, torch.bfloat16))
        # The decode kernel's operands: (A, As) quantized from a bf16 X, which it takes itself.
        decode = get_tunable("w8a8_block_decode")
        self.sets = [decode.make_operands(task, g, "cuda") for _ in range(n_sets)]
        self.outs = [torch.empty((M, N), dtype=torch.bfloat16, device="cuda") for _ in self.sets]
        self.check = decode.make_operands(task, g, "cuda")
        self.ref = decode.reference(task, self.check)


def evaluate(
    pt: Point,
    run: Callable[[dict, torch.Tensor], torch.Tensor],
    prepare: Callable[[dict], dict] | None = None,
    determinism: bool = False,
    exc_status: str = "error",
) -> dict:
    """Check on the check set (``run`` returns the result; ours write the NaN-poisoned
    ``out``), then time over the rotated sets."""
    from generator.measure.timing import time_calls
    from kernels.reference import relative_error, tolerance

    prep = prepare or (lambda ops: ops)
    tol = tolerance(torch.bfloat16)
    try:
        ops = prep(pt.check)
        out = torch.full((pt.M, pt.N), float("nan"), dtype=torch.bfloat16, device="cuda")
        res = run(ops, out)
        torch.cuda.synchronize()
        err = relative_error(res, pt.ref)
        rec: dict = {"rel_error": err}
        if determinism:
            out2 = torch.full_like(out, float("nan"))
            res2 = run(ops, out2)
            torch.cuda.synchronize()
            rec["deterministic"] = bool(torch.equal(res, res2))
        if not err <= tol:
            return {**rec, "status": "incorrect", "message": f"rel error {err:.3g} > {tol:.3g}"}
        sets = [prep(o) for o in pt.sets]
        calls = [partial(run, o, out) for o, out in zip(sets, pt.outs, strict=True)]
        stats = time_calls(calls, True, MAX_REPLAYS, TARGET_US)
        return {
            **rec,
            "status": "ok",
            "us": stats.median_us,
            "p20_us": stats.p20_us,
            "p80_us": stats.p80_us,
        }
    except Exception as exc:  # one bad provider/config must not stop the run
        try:
            torch.cuda.synchronize()
        except Exception as sync_exc:  # a sticky CUDA error: later points will fail too
            return {"status": "error", "message": _one_line(sync_exc)}
        return {"status": exc_status, "message": _one_line(exc)}


def sweep(
    pt: Point,
    kernel,
    configs: list[dict],
    deadline: float,
    determinism: bool,
    fused_quant: bool = False,
) -> dict:
    """Best correct config of ``kernel``; ``fused_quant`` kernels take X (bf16) instead of
    (A, As) and so have the activation quantization inside their timed call."""
    tried = []
    for cfg in configs:
        if time.monotonic() > deadline:
            tried.append({"config": cfg, "status": "skipped", "message": "time budget"})
            continue

        def run(o: dict, out: torch.Tensor, cfg: dict = cfg) -> torch.Tensor:
            if fused_quant:
                return kernel(o["X"], o["B"], o["Bs"], BLOCK, torch.bfloat16, config=cfg, out=out)
            return kernel(
                o["A"], o["B"], o["As"], o["Bs"], BLOCK, torch.bfloat16, config=cfg, out=out
            )

        tried.append({"config": cfg, **evaluate(pt, run, determinism=determinism)})
    ok = [t for t in tried if t["status"] == "ok"]
    best = min(ok, key=lambda t: t["us"]) if ok else None
    return {"best": best, "tried": tried}


def main() -> int:
    if not torch.cuda.is_available():
        print("fast_kernels: no CUDA GPU, nothing benchmarked")
        return 0
    from generator.configs.engine_files import read_table
    from generator.data.layout import table_path
    from generator.data.provenance import REPO_ROOT, vllm_device_name
    from generator.measure.ceilings import measure_copy_gbps
    from kernels.tiling import default_w8a8_config, pick_config
    from kernels.w8a8_block import w8a8_block_bytes, w8a8_block_flops, w8a8_block_matmul
    from kernels.w8a8_block_decode import w8a8_block_decode_matmul
    from kernels.w8a8_block_gluon import gluon_supported, w8a8_block_gluon_matmul
    from kernels.w8a8_block_persistent import w8a8_block_persistent_matmul
    from kernels.w8a8_block_splitk import choose_split_k, sm_count, w8a8_block_splitk_matmul

    t0 = time.monotonic()
    deadline = t0 + BUDGET_S
    gpu = torch.cuda.get_device_name()
    dev = vllm_device_name(gpu)
    sms = sm_count()
    copy_gbps = measure_copy_gbps(torch.device("cuda"))
    print(f"{gpu}: {sms} SMs, copy {copy_gbps:.0f} GB/s, torch {torch.__version__}", flush=True)
    results = []

    def cublas_prepare(o: dict) -> dict:
        return {**o, "As_cm": o["As"].t().contiguous().t(), "Bs_t": o["Bs"].t()}

    def cublas_run(o: dict, out: torch.Tensor) -> torch.Tensor:
        return torch._scaled_mm(
            o["A"], o["B"].t(), scale_a=o["As_cm"], scale_b=o["Bs_t"], out_dtype=torch.bfloat16
        )

    for si, (N, K) in enumerate(SHAPES):
        table = None
        try:
            table = read_table(table_path(REPO_ROOT / "site_data", dev, "vllm", N, K))
        except Exception as exc:
            print(f"tuned table N={N} K={K}: {_one_line(exc)}")
        for M in M_VALUES:
            pt = Point(M, N, K, seed=1000 * si + M)
            flops = w8a8_block_flops(M, N, K)
            nbytes = w8a8_block_bytes(M, N, K, torch.bfloat16)
            row: dict = {
                "N": N,
                "K": K,
                "M": M,
                "flops": flops,
                "bytes": nbytes,
                "roofline_us": nbytes / (copy_gbps * 1e9) * 1e6,
                "providers": {},
            }
            cfg = pick_config(table, M) if table else default_w8a8_config()
            name = "dropin-tuned" if table else "dropin-default"
            row["providers"][name] = {
                "config": cfg,
                **evaluate(
                    pt,
                    lambda o, out, cfg=cfg: w8a8_block_matmul(
                        o["A"], o["B"], o["As"], o["Bs"], BLOCK, torch.bfloat16, config=cfg, out=out
                    ),
                ),
            }
            # Scale layouts are prepared outside the timed call (once per weight / per token).
            row["providers"]["cublas-block"] = evaluate(
                pt, cublas_run, cublas_prepare, exc_status="unsupported"
            )
            if M <= SMALL_M_MAX and wanted("splitk"):
                res = sweep(pt, w8a8_block_splitk_matmul, splitk_configs(M), deadline, True)
                if res["best"]:
                    res["best"]["split_k"] = choose_split_k(M, N, K, res["best"]["config"], sms)
                row["providers"]["splitk"] = res
            if M <= SMALL_M_MAX and wanted("decode"):
                res = sweep(
                    pt,
                    w8a8_block_decode_matmul,
                    decode_configs(M),
                    deadline,
                    True,
                    fused_quant=True,
                )
                if res["best"]:
                    res["best"]["split_k"] = choose_split_k(M, N, K, res["best"]["config"], sms)
                row["providers"]["decode"] = res
            if M >= LARGE_M_MIN and wanted("persistent"):
                row["providers"]["persistent"] = sweep(
                    pt, w8a8_block_persistent_matmul, persistent_configs(), deadline, False
                )
            if M >= LARGE_M_MIN and wanted("gluon"):
                problem = gluon_supported(torch.device("cuda"), N, K, torch.bfloat16)
                row["providers"]["gluon"] = (
                    {"status": "unsupported", "message": problem}
                    if problem
                    else sweep(pt, w8a8_block_gluon_matmul, gluon_configs(), deadline, False)
                )
            results.append(row)
            del pt
            torch.cuda.empty_cache()
            print(f"  done N={N} K={K} M={M} at {time.monotonic() - t0:.0f} s", flush=True)

    out_dir = os.environ.get("OUT")
    payload = {
        "gpu": gpu,
        "device_name": dev,
        "sm_count": sms,
        "copy_gbps": copy_gbps,
        "torch": torch.__version__,
        "triton": __import__("triton").__version__,
        "wall_s": time.monotonic() - t0,
        "results": results,
    }
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "fast_kernels.json").write_text(json.dumps(payload, indent=1, default=str))
    print_table(results)
    print(f"total {time.monotonic() - t0:.0f} s")
    return 0


def _best(entry: dict | None) -> dict | None:
    if entry is None:
        return None
    return entry.get("best") if "tried" in entry else entry


def print_table(results: list[dict]) -> None:
    names = ["dropin", "cublas-block", "splitk", "decode", "persistent", "gluon"]
    print(
        f"{'N':>6} {'K':>5} {'M':>5} "
        + " ".join(f"{n:>18}" for n in names)
        + f" {'%roof':>6} {'x cuBLAS':>8}"
    )
    for row in results:
        prov = row["providers"]
        dropin = prov.get("dropin-tuned") or prov.get("dropin-default")
        cells, times = [], {}
        for n in names:
            e = dropin if n == "dropin" else prov.get(n)
            b = _best(e)
            if e is None:
                cells.append(f"{'-':>18}")
            elif b is None or b.get("status") != "ok":
                status = (b or e).get("status", "no-correct-cfg")
                cells.append(f"{status:>18}")
            else:
                times[n] = b["us"]
                tf = row["flops"] / (b["us"] * 1e-6) / 1e12
                cells.append(f"{b['us']:8.1f}us {tf:6.0f}TF")
        ours = [times[n] for n in ("splitk", "decode", "persistent", "gluon") if n in times]
        best_ours = min(ours) if ours else math.nan
        roof = (
            f"{100 * row['roofline_us'] / best_ours:5.0f}%"
            if row["M"] <= 16 and ours
            else f"{'':>6}"
        )
        vs = (
            f"{times['cublas-block'] / best_ours:8.2f}"
            if row["M"] >= 1024 and ours and "cublas-block" in times
            else f"{'':>8}"
        )
        print(f"{row['N']:6} {row['K']:5} {row['M']:5} " + " ".join(cells) + f" {roof} {vs}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
