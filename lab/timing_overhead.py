"""How much the replay size of ``generator.measure.timing.time_cuda_graph`` adds to a kernel's time.

    python lab/timing_overhead.py       # $OUT set: JSON to $OUT/timing_overhead.json

Why: each timed replay of the CUDA graph carries the graph's own launch and the gap between two
graphs. Divided over few launches (one input set of a large weight: one launch a replay), it
shows up in the per-launch time. This times the same providers with replays sized for at least
50 us of work (the default so far) and for at least 1000 us, in one process, alternating, and
reports the medians. Providers and shapes: the fused decode kernel and cuBLAS block-wise at
M = 16 on a small, a mid-size and the largest DeepSeek-V3 TP 8 weight.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.bench import registry as pv  # noqa: E402
from generator.measure.timing import time_cuda_graph  # noqa: E402

SHAPES = [(512, 7168), (4608, 7168), (24576, 7168)]
PROVIDERS = ["triton-fp8-block-decode", "cublas-fp8-block"]
M = 16  # cuBLAS block-wise does not run M < 4
REPLAY_US = (50.0, 1000.0)
ROUNDS = 3


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU found: nothing measured")
        return 0
    from generator.data.provenance import collect
    from generator.measure.timing import l2_cache_bytes

    site_data = Path(__file__).resolve().parents[1] / "site_data"
    ctx = pv.BenchContext(
        device=torch.device("cuda"),
        site_data=site_data,
        device_name=collect(gpu_count=1).device_name,
        l2_bytes=l2_cache_bytes(),
    )
    providers = [pv.select([name])[0] for name in PROVIDERS]  # in PROVIDERS' order
    results = []
    for n, k in SHAPES:
        problem = pv.Problem(M=M, N=n, K=k)
        ctx.start(problem)
        for provider in providers:
            calls = provider.setup(problem, ctx).calls
            medians: dict[float, list[float]] = {us: [] for us in REPLAY_US}
            for _ in range(ROUNDS):
                for us in REPLAY_US:
                    medians[us].append(time_cuda_graph(calls, min_replay_us=us).median_us)
            row = {
                "provider": provider.name,
                "N": n,
                "K": k,
                "M": M,
                "input_sets": len(calls),
                **{
                    f"median_us_min_replay_{int(us)}": sorted(v)[len(v) // 2]
                    for us, v in medians.items()
                },
            }
            print(row)
            results.append(row)
    out = os.environ.get("OUT")
    if out:
        Path(out, "timing_overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
