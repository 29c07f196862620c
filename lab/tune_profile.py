"""Where does a tuned config's time go? (issue 22, the tune-time target)

    python lab/tune_profile.py       # $OUT set: $OUT/tune_profile.json and $OUT/tune_profile.txt

The question. The H200's DeepSeek-V3 TP 8 tune (306 tasks) spends 23 ms of "timing" per config
timed (run a850d82, 2026-12-03; 17 ms at 4608x7168), where the GPU work a config is given is
about 6-7 ms (its sizing replays, five rounds of a replay of >= 1 ms). Capturing every graph on
one stream without ``torch.cuda.graph``'s synchronize and empty_cache (3396f59) took 4608x7168
from 17.8 to 16.9 ms a config. A cProfile of ``generator tune`` sees only the coordinator: the
tasks run in a worker process. So here the tasks run in this process, as a worker runs them
(``tune_task`` with the compile-ahead pool), twice: the first compiles every config, the
second, profiled, is the timing alone.

Reported: the second pass's wall time per config timed, the functions by own and cumulative
time (the capture, the sizing replays, the rounds, the kernels' host skeleton and Triton's
launcher), and, per task, the host's time to launch one call eagerly and to capture a graph of
100 calls, beside the call's GPU time: if launching and capturing are most of a config's
time, fewer captured calls (or a cheaper launch) is the fix; if waiting on the GPU is, fewer
replays.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = [(4608, 7168), (24576, 7168)]  # the most common small weight, the largest
BATCHES = [1, 16, 256, 2048]
CAPTURED_CALLS = 100
WATCHED = (  # cumulative time of these, by (file suffix, function name)
    ("measure/timing.py", "capture"),
    ("measure/timing.py", "replay_us"),
    ("measure/timing.py", "enqueue_round"),
    ("measure/timing.py", "run_rounds"),
    ("measure/timing.py", "warm_up"),
    ("tune/search.py", "_launch_error"),
    ("tune/search.py", "runoff"),
    ("tune/search.py", "check"),
    ("kernels/w8a8_block.py", "w8a8_block_matmul"),
    ("triton/runtime/jit.py", "run"),
)


def _host_costs(task, opts) -> dict[str, float]:
    """Host seconds to launch one call eagerly and to capture CAPTURED_CALLS of them, and the
    call's GPU time, for the task's default config on its own operands."""
    from generator.tune.tunables import get_tunable

    tunable = get_tunable(task.kernel)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    ops = tunable.make_operands(task, gen, "cuda")
    out = tunable.new_output(task, "cuda")
    cfg = tunable.default_config(task)
    for _ in range(3):
        tunable.run(task, ops, cfg, out)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(CAPTURED_CALLS):
        tunable.run(task, ops, cfg, out)
    launch_s = (time.perf_counter() - t0) / CAPTURED_CALLS
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    t0 = time.perf_counter()
    with torch.cuda.stream(stream):
        graph.capture_begin()
        for _ in range(CAPTURED_CALLS):
            tunable.run(task, ops, cfg, out)
        graph.capture_end()
    capture_s = time.perf_counter() - t0
    torch.cuda.current_stream().wait_stream(stream)
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graph.replay()
    end.record()
    torch.cuda.synchronize()
    return {
        "launch_us": launch_s * 1e6,
        "capture_us_per_call": capture_s * 1e6 / CAPTURED_CALLS,
        "gpu_us_per_call": start.elapsed_time(end) * 1e3 / CAPTURED_CALLS,
    }


def _watched(stats: pstats.Stats) -> dict[str, float]:
    out: dict[str, float] = {}
    for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        for suffix, fn in WATCHED:
            if name == fn and path.endswith(suffix):
                out[f"{suffix}:{fn}"] = out.get(f"{suffix}:{fn}", 0.0) + ct
    return out


def main() -> int:
    if not torch.cuda.is_available():
        print("tune_profile: no CUDA GPU, nothing measured")
        return 0
    from lab_tuning import compile_pool, drop_in_tasks

    from generator.data.provenance import collect
    from generator.tune.search import TuneOptions, tune_task

    prov = collect()
    opts = TuneOptions(device="cuda", device_name=prov.device_name)
    tasks = drop_in_tasks(SHAPES, BATCHES)
    with compile_pool() as compiler:
        t0 = time.perf_counter()
        for task in tasks:
            tune_task(task, opts, compiler)  # compiles every config the search reaches
        first_s = time.perf_counter() - t0
        profile = cProfile.Profile()
        per_task = []
        for task in tasks:
            profile.enable()
            t0 = time.perf_counter()
            record = tune_task(task, opts, compiler)
            wall = time.perf_counter() - t0
            profile.disable()
            per_task.append(
                {
                    "N": task.N,
                    "K": task.K,
                    "M": task.M,
                    "wall_s": wall,
                    "configs_timed": record.configs_timed,
                    "ms_per_config": wall * 1e3 / max(1, record.configs_timed),
                    "phase_s": record.phase_s,
                    **_host_costs(task, opts),
                }
            )
            print(json.dumps(per_task[-1]))
    stats = pstats.Stats(profile)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(40)
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(60)
    result = {
        "provenance": json.loads(prov.model_dump_json()),
        "first_pass_s": first_s,
        "tasks": per_task,
        "watched_cumulative_s": _watched(stats),
        "profiled_s": sum(t["wall_s"] for t in per_task),
    }
    out = Path(os.environ.get("OUT", "."))
    (out / "tune_profile.json").write_text(json.dumps(result, indent=1))
    (out / "tune_profile.txt").write_text(text.getvalue())
    print(json.dumps(result["watched_cumulative_s"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
