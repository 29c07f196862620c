"""Identical work in the bench itself: the issue-22 reproduction, with the fix and without dedupe.

    python lab/aa_sweep.py SITE_DATA      # $OUT set: the sweep file to $OUT/aa_sweep.json

The question. ``lab/aa_bias.py`` timed copies of one provider among themselves and found no
offset beyond 1.3 % under any condition; the old bench put identical providers up to 8.7 % apart
in the model sweep, among other providers. This runs the sweep of the issue (DeepSeek-V3 TP 8,
M = 1..16, the four providers that run the engines' Triton kernel with some config table:
vLLM-shipped, SGLang-shipped, tuned, SGLang-default) through the current bench
(``generator.bench.run.run_sweep``: shared operands, seeded random order, an A/A control per
point), except that identical work is *not* deduplicated: every provider is timed as its own
candidate, so the pairs that run the same kernel and config show how far apart the bench puts
identical work. Run the old bench's CLI on the same points beside it (see lab/README.md) and
compare the pairs of both files with ``python lab/aa_sweep.py --pairs FILE...``.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROVIDERS = [
    "triton-fp8-block-vllm-0.33.0",
    "triton-fp8-block-sglang-0.5.23",
    "triton-fp8-block-tuned",
    "triton-fp8-block-sglang-default",
]
BATCH_SIZES = [1, 2, 4, 8, 16]


def without_dedupe(provider):
    """The provider, with its work undeclared: the sweep times it as its own candidate."""

    def setup(problem, ctx):
        return dataclasses.replace(provider.setup(problem, ctx), work=None)

    return dataclasses.replace(provider, setup=setup)


def identical_pairs(path: Path) -> list[dict]:
    """Every pair of rows of one point (model, layer, M) that ran the same config, with the
    ratio of their medians (slower / faster)."""
    rows = json.loads(path.read_text())["rows"]
    by_point: dict[tuple, list[dict]] = {}
    for r in rows:
        m = r["measurement"]
        if m["status"] == "ok" and r["provider"] in PROVIDERS and r["M"] in BATCH_SIZES:
            by_point.setdefault((r["N"], r["K"], r["M"]), []).append(r)
    pairs = []
    for (n, k, m), group in sorted(by_point.items()):
        seen: dict[tuple, dict] = {}
        for r in sorted({r["provider"]: r for r in group}.values(), key=lambda r: r["provider"]):
            key = tuple(sorted(r["measurement"]["config"].items()))
            if key in seen:
                a, b = seen[key], r
                ta, tb = a["measurement"]["latency_us"], b["measurement"]["latency_us"]
                pairs.append(
                    {
                        "N": n,
                        "K": k,
                        "M": m,
                        "a": a["provider"],
                        "b": b["provider"],
                        "a_us": ta,
                        "b_us": tb,
                        "ratio": max(ta, tb) / min(ta, tb),
                    }
                )
            else:
                seen[key] = r
    return pairs


def print_pairs(paths: list[str]) -> int:
    for p in paths:
        pairs = identical_pairs(Path(p))
        worst = max(pairs, key=lambda x: x["ratio"]) if pairs else None
        over = sum(x["ratio"] > 1.02 for x in pairs)
        over1 = sum(x["ratio"] > 1.01 for x in pairs)
        print(f"{p}: {len(pairs)} identical pairs, {over1} > 1 %, {over} > 2 %; worst {worst}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--pairs":
        return print_pairs(argv[2:])
    if not torch.cuda.is_available():
        print("aa_sweep: no CUDA GPU, nothing measured")
        return 0
    from generator.bench import registry as pv
    from generator.bench.cli import BENCH_METHOD
    from generator.bench.plan import model_points
    from generator.bench.run import run_sweep
    from generator.data import provenance
    from generator.data.models import select_models
    from generator.measure.ceilings import measure_ceilings
    from generator.measure.timing import TIMING_METHOD, l2_cache_bytes

    site_data = Path(argv[1])
    prov = provenance.collect().model_copy(
        update={"method": BENCH_METHOD.format(timing=TIMING_METHOD) + " (lab: no dedupe)"}
    )
    ctx = pv.BenchContext(
        device=torch.device("cuda"),
        site_data=site_data,
        device_name=prov.device_name,
        l2_bytes=l2_cache_bytes(),
    )
    points = model_points(select_models(["deepseek-v3"]), [8], BATCH_SIZES, print)
    providers = [without_dedupe(p) for p in pv.select(PROVIDERS)]
    out = Path(os.environ.get("OUT", "/tmp"))
    ceilings = measure_ceilings(torch.device("cuda"), print)
    result = run_sweep("model", points, providers, ctx, prov, ceilings, out / "aa_sweep_sd")
    Path(out, "aa_sweep.json").write_text(result.path.read_text())
    return print_pairs([str(out / "aa_sweep.json")])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
