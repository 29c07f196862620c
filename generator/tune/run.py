"""Run tuning tasks on every visible GPU (or a Ray cluster) and merge what comes back.

The coordinator is the only writer: each finished task is merged into its record as it
arrives (:mod:`generator.tune.store`), so an interrupted run keeps everything finished and a
rerun resumes with the rest. A run first re-derives the drop-in files of every record it
touches (a kill between a record's write and its files' leaves them behind), and a task lost
with a dead worker is counted as failed: the run exits non-zero and says how many.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from generator.configs.kernel_table import formats_of
from generator.data import layout
from generator.data.records import SEARCH_CURRENT, Provenance, TuneRecord, TuneTimeCheck
from generator.data.recovery import save_or_keep
from generator.data.tasks import Task
from generator.data.writable import require_writable_dirs
from generator.measure.timing import TIMING_METHOD
from generator.tune.dispatch import (
    RAY_RETRIES,
    TaskOutcome,
    ray_preflight,
    run_inline,
    run_local,
    run_ray,
)
from generator.tune.search import PASS_DROP_OVER, PASS_MIN_REPLAY_US, PASS_SIZE, TuneOptions
from generator.tune.store import check_existing, finished_tasks, merge_result, sync_config_files

# How a tune measures, stored in every record's provenance (docs/methodology.md).
TUNE_METHOD = (
    f"tune (search {SEARCH_CURRENT}): {{timing}}; each pass's configs timed together (up to"
    f" {PASS_SIZE} interleaved, as many rounds as asked, not whole balanced blocks, replays"
    f" of >= {PASS_MIN_REPLAY_US:g} us, configs sized over {PASS_DROP_OVER:g}x the pass's"
    " fastest given no rounds); the"
    " winner decided by an interleaved runoff against the engines' shipped entries and"
    " defaults, each timed as served (after the activation's quantization, into each input"
    " set's own buffers), with an A/A"
    " control, a shipped entry or default kept within 1 %"
)


class MergingWriter:
    """Merges each outcome as it arrives and drives the progress bar."""

    def __init__(self, save_path: Path, provenance: Provenance, exhaustive: bool, total: int):
        self.save_path = save_path
        self.provenance = provenance
        self.exhaustive = exhaustive
        self.failed: list[TaskOutcome] = []  # lost ones included (``TaskOutcome.lost``)
        self.records: dict[Task, TuneRecord] = {}
        self.per_worker: Counter[str] = Counter()
        self.bar = tqdm(total=total, unit="task", dynamic_ncols=True, desc="tuning")

    def __call__(self, outcome: TaskOutcome) -> None:
        self.per_worker[outcome.worker] += 1
        if outcome.record is None:
            self.failed.append(outcome)
            what = "task lost" if outcome.lost else "task failed"
            tqdm.write(f"{what}: {outcome.task.label()}: {outcome.error}")
        else:
            merge_result(
                self.save_path, self.provenance, outcome.task, outcome.record, self.exhaustive
            )
            self.records[outcome.task] = outcome.record
        self.bar.set_postfix_str(outcome.task.label(), refresh=False)
        self.bar.update(1)

    @property
    def lost(self) -> list[TaskOutcome]:
        return [o for o in self.failed if o.lost]


@dataclass(frozen=True)
class RunSettings:
    """How to run: where results go, on what, and whether finished tasks are redone."""

    save_path: Path
    gpus: int  # 0: the CPU (tests only)
    force: bool = False
    backend: str = "local"  # "local" | "ray"
    address: str | None = None  # Ray cluster address
    cpu_workers: int = 2  # 0: tune in this process (CPU only)
    ray_retries: int = RAY_RETRIES  # a Ray task whose node dies is run again this many times


def gpu_count(limit: int | None) -> int:
    """Visible CUDA GPUs, at most ``limit`` (None: all)."""
    import torch

    if not torch.cuda.is_available():
        return 0
    n = torch.cuda.device_count()
    return min(n, limit) if limit else n


def preflight(tasks: list[Task], settings: RunSettings, device: str, exhaustive: bool) -> None:
    """Everything a run can be refused for, before it touches a file or starts a task: every
    folder it will write is writable (not only ``--save-path``: a read-only ``tuning/`` or
    ``configs/vllm/`` used to be found after the work), the Ray head answers (and Ray is
    installed), and every tuning file it will merge into can be read by this code."""
    formats = set() if exhaustive else {f for t in tasks for f in formats_of(t.kernel)}
    dirs = layout.tune_output_dirs(settings.save_path, device, sorted(formats, key=str))
    require_writable_dirs(dirs, "--save-path")
    if settings.backend == "ray":
        ray_preflight(settings.address)
    check_existing(settings.save_path, device, tasks, exhaustive)


def run_tasks(tasks: list[Task], settings: RunSettings, exhaustive: bool) -> MergingWriter:
    """Tune the tasks not finished yet (all with ``force``); returns the writer's tallies."""
    from generator.data import provenance

    on_cuda = settings.gpus > 0
    prov = provenance.collect(gpu_count=settings.gpus) if on_cuda else provenance.collect_cpu()
    prov = prov.model_copy(update={"method": TUNE_METHOD.format(timing=TIMING_METHOD)})
    preflight(tasks, settings, prov.device_name, exhaustive)
    if not exhaustive:
        rebuilt = sync_config_files(settings.save_path, prov.device_name, tasks)
        if rebuilt:
            print(f"rebuilt {len(rebuilt)} drop-in file(s) from their tuning records")
    if not settings.force:
        done = finished_tasks(settings.save_path, prov.device_name, tasks, exhaustive)
        if done:
            print(f"resuming: {len(done)} of {len(tasks)} tasks already tuned (--force to redo)")
        tasks = [t for t in tasks if t not in done]
    opts = TuneOptions(
        device="cuda" if on_cuda else "cpu", exhaustive=exhaustive, device_name=prov.device_name
    )
    writer = MergingWriter(settings.save_path, prov, exhaustive, len(tasks))
    if not tasks:
        writer.bar.close()
        return writer
    try:  # the bar ends its line before any message that stops the run
        if settings.backend == "ray":
            run_ray(tasks, opts, settings.address, writer, settings.ray_retries)
        elif not on_cuda and settings.cpu_workers == 0:
            run_inline(tasks, opts, writer)
        else:
            workers = settings.gpus if on_cuda else max(1, settings.cpu_workers)
            compile_workers = max(1, (os.cpu_count() or 1) // max(1, workers))
            run_local(tasks, opts, workers, compile_workers, writer)
    finally:
        writer.bar.close()
    return writer


def tune(
    tasks: list[Task],
    settings: RunSettings,
    exhaustive: bool,
    label: str,
    kernels: tuple[str, ...],
    command: str = "",
) -> int:
    """Tune, report, and store the run's wall time when it tuned everything it was asked
    (a full pruned run: the figure the catalog quotes), with ``command``, the command line
    that asks for the same tune (``TuneRequest.command``). Exit code: 1 if a task failed."""
    t0 = time.perf_counter()
    writer = run_tasks(tasks, settings, exhaustive)
    wall = time.perf_counter() - t0
    print(f"tuned {len(writer.records)} task(s) in {wall:.0f} s; {len(writer.failed)} failed")
    if writer.lost:
        print(
            f"{len(writer.lost)} task(s) lost with a worker that died; rerun to resume",
            file=sys.stderr,
        )
    if writer.per_worker:
        spread = ", ".join(f"{w}: {n}" for w, n in sorted(writer.per_worker.items()))
        print(f"work spread: {spread}")
    complete = writer.records and len(writer.records) == len(tasks)
    if settings.gpus > 0 and complete and not exhaustive:
        store_tune_time(
            settings.save_path, writer.provenance, label, kernels, len(tasks), wall, command
        )
    return 1 if writer.failed else 0


def store_tune_time(
    save_path: Path,
    prov: Provenance,
    label: str,
    kernels: tuple[str, ...],
    tasks: int,
    wall: float,
    command: str = "",
) -> Path:
    """The wall time of a complete tune, named after what was tuned and described by the
    command that reruns it (the page shows it as a command; the label alone without one)."""
    what = command or f"{label.replace('__', ' ')}, --kernels {','.join(kernels)}"
    check = TuneTimeCheck(
        provenance=prov,
        description=f"{what} ({tasks} tasks, {prov.gpu_count} GPU)",
        tasks=tasks,
        wall_s=round(wall, 1),
    )
    key = f"{label}__{'+'.join(kernels)}__{prov.gpu_count}gpu"
    path = layout.tune_time_file(save_path, prov.device_name, key)
    save_or_keep(path, check, "the run's wall-time record")
    return path
