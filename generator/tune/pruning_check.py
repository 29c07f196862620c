"""The pruning check: pruned vs exhaustive winners at fixed points, stored per point.

Every soft rule of a space and every step of the coarse-to-fine search is a bet that it never
drops the winner; this check times the same points both ways and stores both configs and
times, so the bet is judged at every point (not only by a geomean).
"""

from __future__ import annotations

import math

from generator.data import layout
from generator.data.records import PruningCheck, PruningPoint, TuneFile, load, save
from generator.errors import UserError
from generator.tune.run import RunSettings, run_tasks
from generator.tune.store import tune_file_path
from generator.tune.tasks import Task

# Exhaustive vs pruned winners on DeepSeek-V3 TP 8 shapes, small to large M. All points share
# one compile class (M a multiple of 16, K/128 not), so the ~1000 configs of the exhaustive
# space compile once.
PRUNING_POINTS = [
    (576, 7168, 16),
    (2112, 7168, 32),
    (4608, 7168, 64),
    (7168, 2304, 16),
    (3072, 1536, 128),
    (4096, 512, 256),
    (7168, 256, 512),
    (1536, 7168, 1024),
    (512, 7168, 48),
    (3072, 7168, 2048),
    (4608, 7168, 4096),
    (7168, 2304, 1024),
]


def pruning_tasks(input_type: str, out_dtype: str, block: tuple[int, int]) -> list[Task]:
    return [
        Task("w8a8_block", input_type, out_dtype, *block, n, k, 1, m) for n, k, m in PRUNING_POINTS
    ]


def run_pruning_check(tasks: list[Task], settings: RunSettings) -> int:
    pruned = run_tasks(tasks, settings, exhaustive=False)
    exhaustive = run_tasks(tasks, settings, exhaustive=True)
    points = []
    dev = (pruned.provenance or exhaustive.provenance).device_name
    for t in tasks:
        recs = []
        for ex in (False, True):
            tf = load(tune_file_path(settings.save_path, dev, t, ex), TuneFile)
            recs.append(next((r for r in tf.records if r.M == t.M), None))
        if not all(r and r.winner for r in recs):
            continue
        p, e = recs
        points.append(
            PruningPoint(
                kernel=t.kernel,
                N=t.N,
                K=t.K,
                M=t.M,
                pruned_us=p.winner.latency_us,
                exhaustive_us=e.winner.latency_us,
                pruned_config=p.winner.config,
                exhaustive_config=e.winner.config,
                pruned_timed=p.configs_timed,
                exhaustive_timed=e.configs_timed,
            )
        )
    if not points:
        raise UserError("pruning check: no point has both a pruned and an exhaustive winner")
    geo = math.exp(sum(math.log(p.pruned_us / p.exhaustive_us) for p in points) / len(points))
    check = PruningCheck(provenance=pruned.provenance, points=points, geomean_ratio=geo)
    save(layout.pruning_check_file(settings.save_path, dev), check)
    print(f"pruning check: {len(points)} points, pruned/exhaustive time geomean {geo:.4f}")
    return 0
