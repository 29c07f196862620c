"""Can an exhaustive pass leave its far-slower configs out of the rounds? (issue 22)

    python lab/pass_drop.py       # $OUT set: $OUT/pass_drop.json

The question. The pruning check's exhaustive side took 76-190 s a point at M = 4096 on the H200
(1070 configs; 2026-12-03), most of it GPU time of configs several times slower than the best
(5-15 ms a call, each given its sizing replays and then every round). With
``TuneOptions.pass_drop_over`` = 1.5, a config sized at more than 1.5x its pass's fastest gets
no rounds and keeps its sizing's time (``timing._interleave``). That is safe only if a sizing
is close to the full timing: a config dropped must truly be slower than the best.

The experiment, at 4608x7168 (DeepSeek-V3 TP 8), M = 1024 and 4096, exhaustive:
* without the drop: every config's sized call time beside its median over the pass's rounds
  (the sizing's error, worst over all configs), and how much of the rounds' GPU time went to
  configs sized above 1.5x their pass's fastest;
* with the drop at 1.5: the timing phase, and the winner re-timed against the first run's
  winner in one interleaved session (``search.paired_times``).
It earns its place if the sizing is within 10 % of the full timing at every config (a 1.5x
drop then never removes a config within 1.36x of the best) and the winners agree within 1 %.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPE = (4608, 7168)
BATCHES = [1024, 4096]
DROP = 1.5


def main() -> int:
    if not torch.cuda.is_available():
        print("pass_drop: no CUDA GPU, nothing measured")
        return 0
    from lab_tuning import compile_pool, drop_in_tasks

    from generator.data.provenance import collect
    from generator.measure import timing
    from generator.tune.search import TuneOptions, paired_times, tune_task

    pairs: list[
        tuple[float, float, float, int, int]
    ] = []  # sized, median, fastest, launches, rounds
    real_rounds = timing._rounds

    def recording_rounds(dev, captured, seed, whole_blocks):
        stats = real_rounds(dev, captured, seed, whole_blocks)
        if not whole_blocks:  # a search's pass, not the runoff
            fastest = min(c.call_us for c in captured)
            pairs.extend(
                (c.call_us, s.median_us, fastest, c.launches, s.replays)
                for c, s in zip(captured, stats, strict=True)
            )
        return stats

    prov = collect()
    # as measured on 2026-12-04, before search 7 made 250 us and the drop the defaults
    full = TuneOptions(
        device="cuda",
        exhaustive=True,
        device_name=prov.device_name,
        pass_min_replay_us=1000.0,
        pass_drop_over=None,
    )
    dropping = dataclasses.replace(full, pass_drop_over=DROP)
    out = Path(os.environ.get("OUT", "."))
    rows = []
    with compile_pool() as compiler:
        for task in drop_in_tasks([SHAPE], BATCHES):
            pairs.clear()
            timing._rounds = recording_rounds
            try:
                t0 = time.perf_counter()
                rec_full = tune_task(task, full, compiler)
                full_s = time.perf_counter() - t0
            finally:
                timing._rounds = real_rounds
            errors = [abs(sized / median - 1) for sized, median, *_ in pairs]
            gpu = [median * launches * rounds for _, median, _, launches, rounds in pairs]
            over = [
                g for g, (sized, _, fast, *_) in zip(gpu, pairs, strict=True) if sized > DROP * fast
            ]
            t0 = time.perf_counter()
            rec_drop = tune_task(task, dropping, compiler)
            drop_s = time.perf_counter() - t0
            winners = [rec_full.winner.config, rec_drop.winner.config]
            paired = paired_times(task, winners, full)
            row = {
                "N": task.N,
                "K": task.K,
                "M": task.M,
                "configs": len(pairs),
                "sizing_error_worst": max(errors),
                "sizing_error_median": statistics.median(errors),
                "rounds_gpu_share_over_drop": sum(over) / sum(gpu),
                "full": {"wall_s": full_s, "phase_s": rec_full.phase_s, "winner": winners[0]},
                "drop": {"wall_s": drop_s, "phase_s": rec_drop.phase_s, "winner": winners[1]},
                "paired_us": paired,
                "ratio_drop_over_full": paired[1] / paired[0],
            }
            rows.append(row)
            print(json.dumps(row))
            # after each point: a call cut off at its time limit keeps the points it finished
            (out / "pass_drop.json").write_text(
                json.dumps(
                    {
                        "provenance": json.loads(prov.model_dump_json()),
                        "drop": DROP,
                        "points": rows,
                    },
                    indent=1,
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
