"""Why are prefill medians unstable, and would a mean or more rounds fix it? (issue 22)

    python lab/prefill_spread.py       # $OUT set: $OUT/prefill_spread.json (raw samples too)

The question. In the H200 DeepSeek-V3 TP 8 sweep of run 3396f59 (2026-12-03) the 20th-80th
percentile window of a row was wider than 3 % at 81 of 565 rows with M >= 512, and 1 of 502
at M <= 16. At 3072x7168, M = 2048, the tuned file's entry measured 149.49 us against 145.52 for
vLLM's shipped entry (p20-p80 144.95-154.4 against 145.37-154.97), a 1.027 ratio, where the
tuner's runoff had the two GEMMs 0.45 % apart and the point's A/A control was 0.2 %. That
looks like samples in two modes, with the median falling in one or the other. If so, the mean
of the same samples, or the median of more rounds, should give the same ratio from repeat to
repeat.

The experiment. At four such points, the bench's own preparation of four providers (the tuned
file, vLLM's shipped file, vLLM's default config, DeepGEMM as the engines run it) plus a twin
of the first (the A/A control), each checked against the reference, timed interleaved by the
product's ``time_interleaved`` as the bench times them (at most 20 replays and 10 ms of GPU
time a candidate, which at these sizes is about 10 rounds), three repeats, then one of 80
rounds. Every round's sample is stored (``timing._percentiles`` recorded).
Reported per repeat and provider: median, mean, p20, p80, and the fraction of samples in the
upper half of the range; per repeat, tuned / vLLM-shipped by median and by mean.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "lab"))

POINTS = [(3072, 7168, 2048), (24576, 7168, 3072), (576, 7168, 1536), (7168, 18432, 512)]
PROVIDERS = [
    "triton-fp8-block-tuned",
    "triton-fp8-block-vllm-0.33.0",
    "triton-fp8-block-default",
    "deepgemm-fp8-block",
]
# (most replays, GPU us per candidate): three as the bench times (its DEFAULT_REPLAYS and
# time_interleaved's default 10 ms, which at prefill sizes allows about 10 rounds), then 80
# rounds, the GPU time unbounded
REPEATS = [(20, 10_000.0)] * 3 + [(80, 1e9)]


def _summary(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=10, method="inclusive")
    lo, hi = min(samples), max(samples)
    mid = (lo + hi) / 2
    return {
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "p20": q[1],
        "p80": q[7],
        "upper_half": sum(s > mid for s in samples) / len(samples),
    }


def main() -> int:
    if not torch.cuda.is_available():
        print("prefill_spread: no CUDA GPU, nothing measured")
        return 0
    from bench_here import checked, gpu_context

    from generator.bench import registry as pv
    from generator.measure import timing

    prov, ctx = gpu_context()
    recorded: list[list[float]] = []
    real = timing._percentiles

    def recording(samples_us, replays):
        recorded.append(list(samples_us))
        return real(samples_us, replays)

    out = Path(os.environ.get("OUT", "."))
    rows = []
    for n, k, m in POINTS:
        ready = checked(PROVIDERS, pv.Problem(M=m, N=n, K=k), ctx)
        row = {
            "N": n,
            "K": k,
            "M": m,
            "not_timed": [name for name in PROVIDERS if name not in dict(ready)],
            "configs": {name: c.prepared.config for name, c in ready},
            "repeats": [],
        }
        names = [name for name, _ in ready] + [f"{ready[0][0]} (twin)"]
        call_sets = [c.prepared.calls for _, c in ready]
        for rep, (most, target_us) in enumerate(REPEATS):
            recorded.clear()
            timing._percentiles = recording
            try:
                timing.time_interleaved(
                    [*call_sets, call_sets[0]],
                    True,
                    most,
                    target_us,
                    seed=timing.order_seed(n, k, m, "prefill_spread", rep),
                )
            finally:
                timing._percentiles = real
            by_name = dict(zip(names, recorded, strict=True))
            stats = {name: _summary(s) for name, s in by_name.items()}
            rounds = len(next(iter(by_name.values())))
            entry = {"most_replays": most, "rounds": rounds, "stats": stats, "samples_us": by_name}
            tuned, shipped = PROVIDERS[0], PROVIDERS[1]
            if tuned in stats and shipped in stats:
                entry["tuned_over_shipped_median"] = (
                    stats[tuned]["median"] / stats[shipped]["median"]
                )
                entry["tuned_over_shipped_mean"] = stats[tuned]["mean"] / stats[shipped]["mean"]
            row["repeats"].append(entry)
            print(
                f"{n}x{k} M={m} rounds {rounds}: "
                + " ".join(
                    f"{name.removeprefix('triton-fp8-block-')} {st['median']:.1f}/{st['mean']:.1f}"
                    f" [{st['p20']:.1f}-{st['p80']:.1f}] up {st['upper_half']:.2f}"
                    for name, st in stats.items()
                )
                + (
                    f"  ratio med {entry['tuned_over_shipped_median']:.4f}"
                    f" mean {entry['tuned_over_shipped_mean']:.4f}"
                    if "tuned_over_shipped_median" in entry
                    else ""
                )
            )
        rows.append(row)
        (out / "prefill_spread.json").write_text(
            json.dumps({"provenance": json.loads(prov.model_dump_json()), "points": rows})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
