"""What a contribution measures, and about how long it takes, decided before any GPU work.

A contribution is: the drop-in kernel (and the batched A16W8 kernel for MLA models) tuned for
the models and TP sizes the contributor serves, then the benchmark's model, square and MLA
sweeps over the same models. Everything is checked here first (unknown model, TP that does not
divide a layer, a kernel this GPU cannot run), so bad input is one line before any work.

The estimate is stated with what it rests on: the tuner's seconds per task as measured on the
project's own GPUs (the committed tune-time checks), and the bench's seconds per row of the
H200 model sweep of 2026-12-02 (6210 rows in 213 s, commit 472b0a2). Another GPU can be
several times slower; the estimate only says how much work there is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from generator.bench import plan as bench_plan
from generator.bench import registry
from generator.data import layout, models
from generator.data.tasks import Task
from generator.errors import UserError
from generator.tune.plan import DEFAULT_KERNELS, TuneRequest, build_tasks, check_kernels_run_here
from generator.tune.store import finished_tasks
from kernels.compat import GpuInfo

SWEEPS = ("mla", "square", "model")  # the bench's run order: cheap sweeps first
# Measured on the H200 (DeepSeek-V3 TP 8 model sweep, 23 providers x 270 points: 6210 rows in
# 213 s, 2026-12-02, commit 472b0a2).
BENCH_S_PER_ROW = 213.0 / 6210
# Used when no committed tune-time check covers the default kernels (H200, DeepSeek-V3 TP 8:
# 306 tasks in 325.8 s, checks/tune_time__deepseek-v3__tp8__w8a8_block+a16w8_batched__1gpu).
TUNE_S_PER_TASK_FALLBACK = 325.8 / 306


@dataclass(frozen=True)
class ContributionPlan:
    """The work of one contribution on one device."""

    models: tuple[str, ...]
    tp_sizes: tuple[int, ...]
    kernels: tuple[str, ...]
    tasks: tuple[Task, ...]  # tuning tasks (the tuner skips those already finished)
    bench_rows: dict[str, int] = field(default_factory=dict)  # sweep -> points x providers
    tasks_done: int = 0  # tuning tasks already finished in the save path (a rerun)

    @property
    def sweeps(self) -> tuple[str, ...]:
        return tuple(s for s in SWEEPS if self.bench_rows.get(s))


def build_plan(
    model_names: tuple[str, ...],
    tp_sizes: tuple[int, ...],
    gpu: GpuInfo,
    save_path: Path,
    device_name: str,
    kernels: tuple[str, ...] = DEFAULT_KERNELS,
) -> ContributionPlan:
    """The tuning tasks and bench sweeps for these models at these TP sizes on ``gpu`` (one-line
    :class:`UserError` for anything that cannot be done, before any work)."""
    if not model_names:
        raise UserError("--model: name at least one bundled model (see `blockgemm shapes`)")
    req = TuneRequest(models=model_names, tp_sizes=tp_sizes, kernels=kernels)
    tasks = build_tasks(req)
    if not tasks:
        raise UserError("nothing to tune: the models have no block-FP8 shapes at these TP sizes")
    check_kernels_run_here(kernels, req.input_type, gpu)
    specs = [(models.load_model(m), True) for m in model_names]
    warnings: list[str] = []
    points = {
        "model": bench_plan.model_points(
            specs, list(tp_sizes), bench_plan.MODEL_BATCH_SIZES, warnings.append
        ),
        "square": bench_plan.square_points(bench_plan.SQUARE_SIZES),
        "mla": bench_plan.mla_points(
            specs, list(tp_sizes), bench_plan.MLA_BATCH_SIZES, lambda _m: None
        ),
    }
    rows = {}
    for sweep, pts in points.items():
        kinds = {p.problem.kind for p in pts}
        providers = [p for p in registry.all_providers() if p.kind in kinds]
        rows[sweep] = len(pts) * len(providers)
    done = finished_tasks(save_path, device_name, list(tasks), exhaustive=False)
    return ContributionPlan(
        models=tuple(model_names),
        tp_sizes=tuple(tp_sizes),
        kernels=tuple(kernels),
        tasks=tuple(tasks),
        bench_rows=rows,
        tasks_done=len(done),
    )


def tune_seconds_per_task(site_data: Path = layout.DEFAULT_SITE_DATA) -> float:
    """The slowest rate of the committed tune-time checks of the default kernels (seconds per
    task on one GPU), or the H200's when none is found."""
    rates = []
    for path in sorted(layout.devices_dir(site_data).glob("*/checks/tune_time__*.json")):
        if "+".join(DEFAULT_KERNELS) not in path.name:
            continue
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            rates.append(float(raw["wall_s"]) / int(raw["tasks"]))
        except (OSError, ValueError, KeyError, ZeroDivisionError, TypeError):
            continue
    return max(rates) if rates else TUNE_S_PER_TASK_FALLBACK


def estimate_seconds(plan: ContributionPlan, gpus: int, tune_rate: float) -> tuple[float, float]:
    """(tuning, bench) seconds of what is left to do; the bench's resume skips finished rows,
    which this does not count, so a rerun's bench estimate is an upper bound."""
    left = len(plan.tasks) - plan.tasks_done
    return left * tune_rate / max(1, gpus), sum(plan.bench_rows.values()) * BENCH_S_PER_ROW


def describe(plan: ContributionPlan, device: str, gpus: int, tune_rate: float) -> list[str]:
    """The lines printed before any work starts."""
    tune_s, bench_s = estimate_seconds(plan, gpus, tune_rate)
    left = len(plan.tasks) - plan.tasks_done
    resumed = f" ({plan.tasks_done} already tuned: resuming)" if plan.tasks_done else ""
    rows = ", ".join(f"{s} {n}" for s, n in plan.bench_rows.items() if n)
    return [
        f"contribute: {device}, {gpus} GPU(s); models {', '.join(plan.models)} at TP "
        f"{', '.join(map(str, plan.tp_sizes))}; kernels {', '.join(plan.kernels)}",
        f"  1/3 tune: {len(plan.tasks)} tasks, {left} to do{resumed}",
        f"  2/3 bench: sweeps {', '.join(plan.sweeps)} ({rows} rows; finished rows are kept)",
        "  3/3 validate and write the archive",
        f"estimate: about {_minutes(tune_s + bench_s)} (tuning {_minutes(tune_s)} at "
        f"{tune_rate:.2f} s per task, bench {_minutes(bench_s)} at {BENCH_S_PER_ROW:.3f} s per "
        "row, as measured on the H100/H200; another GPU can take several times longer)",
    ]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
