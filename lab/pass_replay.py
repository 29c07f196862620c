"""Can a search's pass rank configs with replays shorter than 1 ms? (issue 22, tune time)

    python lab/pass_replay.py       # $OUT set: $OUT/pass_replay.json

The question. A config's timing in the tune costs about 17 ms at 4608x7168 on the H200
(3396f59), of which about 6-7 ms is GPU work; most of the rest is the host capturing graphs of
about 1 ms of calls (at small M, 100 calls and more a graph). A pass only ranks configs: the
runoff against the shipped entries, which decides what is published, keeps 1 ms replays. With
``TuneOptions.pass_min_replay_us`` at 250 us a graph holds a quarter of the calls. Does the
search still find the same config, or one as fast?

The experiment. At each task (three DeepSeek-V3 TP 8 shapes x M = 1, 16, 256, 2048), the
search runs with 1000 us pass replays and with 250 us (the compile-ahead pool, warmed by a
first run, so neither pays compiling), each from the same seed. Per task: each run's timing
phase, configs timed and the search's own best config (the winner if the search won the
runoff, else the first runner-up), and the two best configs re-timed against each other in one
interleaved session (``search.paired_times``: 1 ms replays, the fair comparison). Judged at
every task, not on a geomean: the 250 us pick against the 1000 us pick, <= 1.01 at every task
for the shorter replays to earn a place as the default.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = [(4608, 7168), (7168, 2048), (24576, 7168)]
BATCHES = [1, 16, 256, 2048]
REPLAYS_US = (1000.0, 250.0)
LIMIT = 1.01


def _search_best(record):
    """The search's own best verified config: the published winner when the search won the
    runoff, else the first runner-up (the runner-ups are the verified configs but the winner)."""
    if record.winner_source == "search" and record.winner is not None:
        return record.winner.config
    return record.runners_up[0].config if record.runners_up else None


def _save(prov, rows: list[dict]) -> dict:
    """Write ``$OUT/pass_replay.json`` with the tasks done so far and their summary."""
    ratios = [r["ratio_250_over_1000"] for r in rows if "ratio_250_over_1000" in r]
    timing = {
        str(int(us)): sum(r["runs"][str(int(us))]["timing_s"] or 0 for r in rows)
        for us in REPLAYS_US
    }
    summary = {
        "worst_ratio": max(ratios) if ratios else None,
        "tasks_over_limit": sum(r > LIMIT for r in ratios),
        "same_pick": sum(
            r["runs"]["1000"]["search_best"] == r["runs"]["250"]["search_best"] for r in rows
        ),
        "tasks": len(rows),
        "timing_s": timing,
    }
    out = Path(os.environ.get("OUT", "."))
    (out / "pass_replay.json").write_text(
        json.dumps(
            {"provenance": json.loads(prov.model_dump_json()), "summary": summary, "tasks": rows},
            indent=1,
        )
    )
    return summary


def main() -> int:
    if not torch.cuda.is_available():
        print("pass_replay: no CUDA GPU, nothing measured")
        return 0
    from lab_tuning import compile_pool, drop_in_tasks

    from generator.data.provenance import collect
    from generator.tune.search import TuneOptions, paired_times, tune_task

    prov = collect()
    # no drop, as measured on 2026-12-04 (search 7 made it a default with 250 us passes)
    base = TuneOptions(device="cuda", device_name=prov.device_name, pass_drop_over=None)
    rows = []
    with compile_pool() as compiler:
        for task in drop_in_tasks(SHAPES, BATCHES):
            tune_task(task, base, compiler)  # compiles what the search reaches
            row = {"N": task.N, "K": task.K, "M": task.M, "runs": {}}
            picks = []
            for us in REPLAYS_US:
                opts = dataclasses.replace(base, pass_min_replay_us=us)
                t0 = time.perf_counter()
                rec = tune_task(task, opts, compiler)
                best = _search_best(rec)
                picks.append(best)
                row["runs"][str(int(us))] = {
                    "wall_s": time.perf_counter() - t0,
                    "timing_s": rec.phase_s.get("timing"),
                    "configs_timed": rec.configs_timed,
                    "search_best": best,
                    "winner_source": rec.winner_source,
                }
            if all(picks):
                long_us, short_us = paired_times(task, picks, base)
                row["paired_us"] = {"1000": long_us, "250": short_us}
                row["ratio_250_over_1000"] = short_us / long_us
            rows.append(row)
            print(json.dumps(row))
            _save(prov, rows)  # after each task: a call cut off keeps what it finished
    summary = _save(prov, rows)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
