"""Decode at M <= 16: what keeps the fused decode kernel at 2-2.6x the read floor on the
8-33 MB weights, and does a TMA weight stream close it? (issue 26, measure first)

    python lab/decode_stream.py                       # $OUT set: JSON to $OUT/decode_stream.json
    TRITON_INTERPRET=1 python lab/decode_stream.py    # no GPU: check the patched kernels on CPU

The question. On the H200 (model sweep of 2026-12-02) our best kernel at M = 1..16 takes
10.6-11.4 us on 1536x7168, whose weight a read-only kernel streams in 4.37 us
(``small_m_floors``), 2.4-2.6x; 1.8-2.4x on the other weights of 11-33 MB. Issue 26 asks for
1.3x. The fourth round took the H100 kernel apart at M = 1 (``decode_limits``): without the
activation at all it still ran at 1.3-1.4x the later-measured read floor, so the weight
stream and what follows it (split-K partials, the arrival atomic, the last program's sum)
hold most of the gap, not the quantization. This script splits that remainder.

Variants of :mod:`kernels.w8a8_block_decode`, built by patching its source into modules of
their own (the ``decode_limits`` way); the diagnostics compute wrong results on purpose and
are never registered or published:

* ``decode``: the kernel as shipped;
* ``tma``: the weight tile loaded through a host-side TMA descriptor (``b_desc.load``, zero
  fill past N and K) instead of pointer loads; Triton pipelines descriptor loads with TMA and
  mbarriers on Hopper. Correct: checked like ``decode``;
* ``nored``: each split stores its partial and exits (no CTA barrier, no arrival atomic, no
  sum): what the in-kernel reduction costs;
* ``tma_nored``: both;
* ``nox_nored``: no activation load, no quantization, no reduction: the pointer weight stream
  and the MMAs alone;
* ``tma_nox_nored``: the same over the TMA stream.

For six weights of 11-33 MB (DeepSeek-V3 TP 8) and M = 1 and 16, every variant runs 18 configs
(64/128/256 weight rows x 3/4 buffers x SPLIT_K chosen at launch / 8 / 16; 16 token rows, 4
warps), compiled ahead in a process pool. Per point:
1. every candidate is checked once against the fp32 reference on poisoned outputs (rel_error
   recorded; a correct variant above the tolerance is marked ``incorrect`` and not ranked);
2. all candidates are timed in one interleaved pass (``timing.time_pass``, as the tuner
   ranks configs: CUDA graphs, L2-rotated input sets, 250 us replays, no rounds for configs
   sized over 1.5x the fastest);
3. each variant's best, the read floor's best config and a twin of ``decode``'s best (the A/A
   control) are timed again in one interleaved runoff; ratios come from that runoff.

Each point's result is written to the JSON as soon as it is done; the run stops starting
points after DECODE_STREAM_BUDGET_S seconds (default 420).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from types import ModuleType

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "lab"))

SHAPES = [(1536, 7168), (2112, 7168), (7168, 2048), (3072, 7168), (4608, 7168), (32768, 512)]
MS = (1, 16)
CONFIGS = [
    {
        "BLOCK_SIZE_M": 16,
        "BLOCK_SIZE_N": bn,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": stages,
        **({} if split is None else {"SPLIT_K": split}),
    }
    for bn, stages, split in itertools.product((64, 128, 256), (3, 4), (None, 8, 16))
]

# --- the source patches (each must match the kernel's source exactly once) ---------------------

_B_PTRS = "    b_ptrs = b_ptr + offs_n[:, None] * stride_bn + k_offs * stride_bk\n"
_B_LOAD = "        b = tl.load(b_ptrs, mask=k_mask, other=0.0)\n"
_B_STEP = "        b_ptrs += BLOCK_SIZE_K * stride_bk\n"
_POINTERS = "    pointers = (X, B, C, ws, counters, Bs)\n"
TMA = [
    (_B_PTRS, ""),
    (_B_LOAD, "        b = b_ptr.load([pid_n * BLOCK_SIZE_N, kt * BLOCK_SIZE_K])\n"),
    (_B_STEP, ""),
    (_POINTERS, "    pointers = (X, _weight_descriptor(B, meta), C, ws, counters, Bs)\n"),
]
# Appended to the tma modules: the descriptor over the (N, K) weight, one box a K tile. A
# ShapeOnly stand-in (compile ahead) has the dtype, shape, strides and data_ptr it reads.
_DESCRIPTOR_HELPER = """

def _weight_descriptor(B, meta):
    from triton.tools.tensor_descriptor import TensorDescriptor

    return TensorDescriptor.from_tensor(B, [meta["BLOCK_SIZE_N"], meta["BLOCK_SIZE_K"]])
"""
NO_REDUCTION = [
    (
        "        tl.debug_barrier()\n"
        '        arrived = tl.atomic_add(counter_ptr + tile, 1, sem="acq_rel", scope="gpu")\n',
        "        arrived = split_k  # never split_k - 1: no program sums\n",
    )
]
NO_X = [
    (
        "        x = tl.load(x_ptrs, mask=k_mask, other=0.0).to(tl.float32)\n",
        "        x = tl.full([BLOCK_SIZE_M, BLOCK_SIZE_K], 1.0, tl.float32)\n",
    ),
    (
        "        a_s = tl.maximum(tl.max(tl.abs(x), axis=1), eps) / qmax\n"
        "        q = tl.minimum(tl.maximum(tl.div_rn(x, a_s[:, None]), -qmax), qmax)",
        "        a_s = tl.full([BLOCK_SIZE_M], 1.0, tl.float32)\n        q = x",
    ),
]
VARIANTS: dict[str, tuple[list[tuple[str, str]], bool]] = {  # patches, computes C correctly
    "decode": ([], True),
    "tma": (TMA, True),
    "nored": (NO_REDUCTION, False),
    "tma_nored": (TMA + NO_REDUCTION, False),
    "nox_nored": (NO_X + NO_REDUCTION, False),
    "tma_nox_nored": (TMA + NO_X + NO_REDUCTION, False),
}


def write_variants(folder: Path) -> None:
    """One module file per variant in ``folder`` (Triton reads a kernel's source file)."""
    src = (REPO / "kernels" / "w8a8_block_decode.py").read_text()
    for name, (patches, _) in VARIANTS.items():
        text = src
        for old, new in patches:
            if text.count(old) != 1:
                raise RuntimeError(f"{name}: the kernel source changed; cannot patch {old!r}")
            text = text.replace(old, new)
        if any(p in TMA for p in patches):
            text += _DESCRIPTOR_HELPER
        (folder / f"decode_stream_{name}.py").write_text(text)


def load_variant(folder: Path, name: str) -> ModuleType:
    module_name = f"decode_stream_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, folder / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _compile_job(folder: str, name: str, m: int, n: int, k: int, cfg: dict) -> str | None:
    """In a pool process: build one binary into Triton's disk cache; None or the error."""
    try:
        load_variant(Path(folder), name).compile_w8a8_block_decode(
            m, n, k, torch.bfloat16, torch.bfloat16, (128, 128), cfg
        )
        return None
    except Exception as exc:  # recorded as that candidate's compile error
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def compile_all(folder: Path, points: list[tuple[int, int, int]]) -> dict[tuple, str]:
    """Every (variant, config, point) compiled on all CPU cores; the failures by key."""
    jobs = [
        (name, m, n, k, i) for n, k, m in points for name in VARIANTS for i in range(len(CONFIGS))
    ]
    # spawn: the workers start clean of this process's CUDA state (fork would copy it)
    pool = ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [
            pool.submit(_compile_job, str(folder), name, m, n, k, CONFIGS[i])
            for name, m, n, k, i in jobs
        ]
        results = [f.result() for f in futures]
    finally:
        pool.shutdown()
    return {job: err for job, err in zip(jobs, results, strict=True) if err}


def check_on_cpu() -> int:
    """Interpreter check of the patched sources: the correct variants match the fp32
    reference at a ragged shape (N and K not multiples of the tiles), split and unsplit."""
    from generator.data.tasks import Task
    from generator.tune.tunables import get_tunable
    from kernels.reference import relative_error, tolerance

    folder = Path(tempfile.mkdtemp())
    write_variants(folder)
    tunable = get_tunable("w8a8_block_decode")
    task = Task("w8a8_block_decode", "fp8", "bfloat16", 128, 128, 200, 400, 1, 3)
    ops = tunable.make_operands(task, torch.Generator().manual_seed(0), "cpu")
    ref = tunable.reference(task, ops)
    worst = 0.0
    for name, (_, correct) in VARIANTS.items():
        mod = load_variant(folder, name)
        for split in (1, 3):
            cfg = {**CONFIGS[0], "BLOCK_SIZE_N": 64, "num_stages": 2, "SPLIT_K": split}
            out = torch.full((task.M, task.N), float("nan"), dtype=torch.bfloat16)
            mod.w8a8_block_decode_matmul(ops["X"], ops["B"], ops["Bs"], config=cfg, out=out)
            err = relative_error(out, ref)
            print(f"{name:>14} SPLIT_K={split}: rel_error {err:.2e}")
            if correct:
                worst = max(worst, err)
    ok = worst <= tolerance(torch.bfloat16)
    print(f"decode_stream: correct variants {'pass' if ok else 'FAIL'} (worst {worst:.2e})")
    return 0 if ok else 1


def measure_point(n, k, m, folder, failed, copy_gbps, device="cuda"):
    """One (N, K, M): checks, the ranking pass, the runoff; returns the point's record
    (``device`` "cpu" only for a dry run of this code under the interpreter)."""
    from small_m_floors import _read_calls, read_floor

    from generator.data.tasks import Task
    from generator.measure import timing
    from generator.tune.tunables import get_tunable
    from kernels.reference import relative_error, tolerance

    tunable = get_tunable("w8a8_block_decode")
    task = Task("w8a8_block_decode", "fp8", "bfloat16", 128, 128, n, k, 1, m)
    g = torch.Generator(device=device).manual_seed(n * 7 + k * 3 + m)
    on_cuda = device == "cuda"
    count = timing.rotation_count(n * k, timing.l2_cache_bytes())
    sets = [tunable.make_operands(task, g, device) for _ in range(count)]
    outs = [torch.empty((m, n), dtype=torch.bfloat16, device=device) for _ in sets]
    ref = tunable.reference(task, sets[0])
    limit = tolerance(torch.bfloat16)

    candidates, rows = [], []
    for name, (_, correct) in VARIANTS.items():
        mod = load_variant(folder, name)
        for i, cfg in enumerate(CONFIGS):
            row = {"variant": name, "config": cfg}
            rows.append(row)
            if (name, m, n, k, i) in failed:
                row.update(status="compile_error", message=failed[(name, m, n, k, i)])
                continue
            run = mod.w8a8_block_decode_matmul
            try:
                outs[0].fill_(float("nan"))
                run(sets[0]["X"], sets[0]["B"], sets[0]["Bs"], config=cfg, out=outs[0])
                if on_cuda:
                    torch.cuda.synchronize()
            except Exception as exc:  # a config that does not launch is recorded, not fatal
                if on_cuda:
                    torch.cuda.synchronize()
                row.update(status="error", message=f"{type(exc).__name__}: {exc}"[:300])
                continue
            row["rel_error"] = relative_error(outs[0].float(), ref)
            if correct and not row["rel_error"] <= limit:
                row["status"] = "incorrect"
                continue
            row["status"] = "ok" if correct else "diagnostic"
            calls = [
                partial(run, o["X"], o["B"], o["Bs"], config=cfg, out=c)
                for o, c in zip(sets, outs, strict=True)
            ]
            candidates.append((row, calls))
    stats = timing.time_pass(
        [calls for _, calls in candidates],
        on_cuda,
        20,
        5_000.0,
        seed=timing.order_seed(n, k, m, "decode-stream"),
        min_replay_us=250.0,
        drop_over=1.5,
    )
    for (row, _), st in zip(candidates, stats, strict=True):
        row["pass_us"] = st.median_us

    best = {}
    for row, calls in candidates:
        v = row["variant"]
        if v not in best or row["pass_us"] < best[v][0]["pass_us"]:
            best[v] = (row, calls)
    floor = read_floor(n * k, copy_gbps)
    words = n * k // 4
    floor_sets = [
        torch.randint(-100, 100, (words,), dtype=torch.int32, device=device)
        for _ in range(timing.rotation_count(n * k))
    ]
    floor_calls = _read_calls(floor_sets, words, floor["BLOCK"], floor["STEPS"], floor["num_warps"])
    names = list(best)
    runoff = timing.time_interleaved(
        [*(best[v][1] for v in names), floor_calls, best["decode"][1]],
        on_cuda,
        60,
        20_000.0,
        seed=timing.order_seed(n, k, m, "decode-stream-runoff"),
    )
    floor_us = runoff[len(names)].median_us
    decode_us = runoff[names.index("decode")].median_us
    record = {
        "N": n,
        "K": k,
        "M": m,
        "weight_bytes": n * k,
        "input_sets": count,
        "read_floor": {**floor, "runoff_us": floor_us},
        "aa": runoff[-1].median_us / decode_us - 1,
        "best": {
            v: {
                "config": best[v][0]["config"],
                "runoff_us": st.median_us,
                "p20_us": st.p20_us,
                "p80_us": st.p80_us,
                "x_read_floor": st.median_us / floor_us,
                "x_decode": st.median_us / decode_us,
            }
            for v, st in zip(names, runoff, strict=False)
        },
        "candidates": rows,
    }
    return record


def main() -> int:
    if not torch.cuda.is_available():
        if os.environ.get("TRITON_INTERPRET") == "1":
            return check_on_cpu()
        print("decode_stream: no CUDA GPU; nothing measured (TRITON_INTERPRET=1 checks on CPU)")
        return 0
    from generator.data.provenance import collect
    from generator.measure.ceilings import measure_copy_gbps

    t0 = time.monotonic()
    budget = float(os.environ.get("DECODE_STREAM_BUDGET_S", "420"))
    folder = Path(tempfile.mkdtemp())
    write_variants(folder)
    points = [(n, k, m) for n, k in SHAPES for m in MS]
    failed = compile_all(folder, points)
    print(f"decode_stream: compiled in {time.monotonic() - t0:.0f} s, {len(failed)} failed")
    prov = collect()
    result = {
        "provenance": prov.model_dump(mode="json"),
        "copy_gbps": measure_copy_gbps(torch.device("cuda")),
        "configs": CONFIGS,
        "variants": {name: correct for name, (_, correct) in VARIANTS.items()},
        "compile_s": round(time.monotonic() - t0, 1),
        "points": [],
    }
    out = Path(os.environ.get("OUT", tempfile.gettempdir())) / "decode_stream.json"
    for n, k, m in points:
        if time.monotonic() - t0 > budget:
            print(f"decode_stream: budget spent; {n}x{k} M={m} and after not measured")
            break
        record = measure_point(n, k, m, folder, failed, result["copy_gbps"])
        result["points"].append(record)
        out.write_text(json.dumps(result, indent=1))
        line = ", ".join(
            f"{v} {b['runoff_us']:.2f} ({b['x_read_floor']:.2f}x)"
            for v, b in record["best"].items()
        )
        print(
            f"{n}x{k} M={m}: floor {record['read_floor']['runoff_us']:.2f} us; {line}; "
            f"A/A {record['aa']:+.2%}",
            flush=True,
        )
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
