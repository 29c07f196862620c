"""The pruning check: the pruned search against the exhaustive one, judged at every point.

Every soft rule of the drop-in kernel's space and every step of the coarse-to-fine search is a
bet that it never drops the winner. The check tunes each point both ways (records kept apart:
``tuning/*__exhaustive.json`` for the exhaustive side), re-times the two winners alternately in
one session (:func:`generator.tune.search.paired_times`, so the ratio is not the noise between
two sessions), and stores every point with both configs and times in ``checks/pruning.json``
with the worst ratio, not only a geomean.

The points: all 15 DeepSeek-V3 weight shapes at TP 8 x M = 1, 16, 64, 256, 1024, 4096 (90).
The exhaustive side times every config that survives the hard rules (~600-1000 per point), so
the check runs in pieces (``--check-points START:STOP``, each under 10 minutes on one H200);
finished tasks are skipped on rerun and the file is rebuilt from every point done so far.
"""

from __future__ import annotations

import math

from generator.data import layout, models
from generator.data.lookup import tune_file_path
from generator.data.records import SEARCH_CURRENT, PruningCheck, PruningPoint, TuneFile, load
from generator.data.recovery import save_or_keep
from generator.data.tasks import Task
from generator.errors import UserError
from generator.tune.run import RunSettings, run_tasks
from generator.tune.search import TuneOptions, paired_times

CHECK_MODEL = "deepseek-v3"
CHECK_TP = 8
CHECK_BATCH_SIZES = (1, 16, 64, 256, 1024, 4096)


def pruning_tasks(input_type: str, out_dtype: str, block: tuple[int, int]) -> list[Task]:
    """The check's points, shape by shape (each shape's M together: one compile class)."""
    shapes = models.unique_nk(
        models.weight_shapes(models.load_model(CHECK_MODEL), CHECK_TP, *block)
    )
    return [
        Task("w8a8_block", input_type, out_dtype, *block, n, k, 1, m)
        for n, k in shapes
        for m in CHECK_BATCH_SIZES
    ]


def parse_points(text: str | None, total: int) -> slice:
    """``START:STOP`` (0-based, STOP exclusive; either may be omitted) over the check's points,
    selecting at least one of the ``total``; anything else is a one-line error (``zz`` used to
    pass unnoticed on a machine without a GPU, and ``50:10`` ran nothing)."""
    if text is None:
        return slice(0, total)
    try:
        start_text, stop_text = text.split(":")
        start = int(start_text) if start_text.strip() else 0
        stop = int(stop_text) if stop_text.strip() else total
    except ValueError:
        raise UserError(f"--check-points {text!r}: expected START:STOP, e.g. 0:12") from None
    if not 0 <= start < stop <= total:
        raise UserError(
            f"--check-points {text!r}: selects no point of 0:{total} (0 <= START < STOP <= {total})"
        )
    return slice(start, stop)


def _winner(save_path, device: str, task: Task, exhaustive: bool):
    path = tune_file_path(save_path, device, task, exhaustive)
    if not path.exists():
        return None
    rec = next((r for r in load(path, TuneFile).records if r.M == task.M), None)
    return rec if rec and rec.winner and rec.winner.latency_us else None


def run_pruning_check(tasks: list[Task], settings: RunSettings, points: slice) -> int:
    chosen = tasks[points]
    pruned = run_tasks(chosen, settings, exhaustive=False)
    exhaustive = run_tasks(chosen, settings, exhaustive=True)
    failed = len(pruned.failed) + len(exhaustive.failed)
    prov = pruned.provenance
    dev = prov.device_name
    path = layout.pruning_check_file(settings.save_path, dev)
    before = {}
    if path.exists():
        old = load(path, PruningCheck)
        if old.search == SEARCH_CURRENT:
            before = {(p.N, p.K, p.M): p for p in old.points}
    on_cuda = settings.gpus > 0
    opts = TuneOptions(device="cuda" if on_cuda else "cpu", device_name=dev)
    points_out = []
    for t in tasks:
        p_rec = _winner(settings.save_path, dev, t, False)
        e_rec = _winner(settings.save_path, dev, t, True)
        if p_rec is None or e_rec is None:
            continue
        known = before.get((t.N, t.K, t.M))
        if (
            known
            and known.pruned_config == p_rec.winner.config
            and (known.exhaustive_config == e_rec.winner.config)
        ):
            points_out.append(known)
            continue
        paired = (None, None)
        if p_rec.winner.config == e_rec.winner.config:
            paired = (p_rec.winner.latency_us, p_rec.winner.latency_us)
        elif on_cuda:
            paired = tuple(paired_times(t, [p_rec.winner.config, e_rec.winner.config], opts))
        points_out.append(
            PruningPoint(
                kernel=t.kernel,
                N=t.N,
                K=t.K,
                M=t.M,
                pruned_us=p_rec.winner.latency_us,
                exhaustive_us=e_rec.winner.latency_us,
                pruned_config=p_rec.winner.config,
                exhaustive_config=e_rec.winner.config,
                pruned_timed=p_rec.configs_timed,
                exhaustive_timed=e_rec.configs_timed,
                paired_pruned_us=paired[0],
                paired_exhaustive_us=paired[1],
            )
        )
    if not points_out:
        raise UserError("pruning check: no point has both a pruned and an exhaustive winner")
    ratios = [p.ratio for p in points_out]
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    worst = max(points_out, key=lambda p: p.ratio)
    check = PruningCheck(
        provenance=prov,
        points=points_out,
        geomean_ratio=geo,
        worst_ratio=worst.ratio,
        points_planned=len(tasks),
        search=SEARCH_CURRENT,
        description=f"{CHECK_MODEL} TP {CHECK_TP}: {len(tasks) // len(CHECK_BATCH_SIZES)} shapes "
        f"x M = {', '.join(map(str, CHECK_BATCH_SIZES))}; pruned vs exhaustive winners re-timed "
        "alternately in one session",
    )
    save_or_keep(path, check, "the pruning check")
    print(
        f"pruning check: {len(points_out)} of {len(tasks)} points; pruned/exhaustive geomean "
        f"{geo:.4f}, worst {worst.ratio:.4f} at N={worst.N} K={worst.K} M={worst.M}"
    )
    if failed:
        print(f"pruning check: {failed} task(s) failed or lost; rerun to resume")
    return 1 if failed else 0
