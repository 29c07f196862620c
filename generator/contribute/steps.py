"""The GPU work of a contribution, as three replaceable steps.

Why replaceable: CI has no GPU, yet the command around these steps (planning, resuming,
validating what will be sent, the archive, the summary) must be tested end to end. A test hands
:func:`generator.contribute.run.contribute` steps that write synthetic measurements through the
real writers; the defaults here call the real tuner and bench:

* ``probe``: the GPU this runs on (its provenance, what it offers the kernels), or None;
* ``tune``: the tuner on the plan's tasks, which skips tasks already finished;
* ``bench``: the bench's sweeps with ``--resume``, which skips rows already measured.

Each returns an exit code; the tuner and the bench show their own progress bars.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.contribute.plan import ContributionPlan
from generator.data.records import Provenance
from kernels.compat import GpuInfo


@dataclass(frozen=True)
class Probe:
    """The machine's GPU as the catalog will name it, and what it offers the kernels."""

    provenance: Provenance
    gpu: GpuInfo
    gpus: int  # GPUs the tuner will use


@dataclass(frozen=True)
class Steps:
    probe: Callable[[int | None], Probe | None]
    tune: Callable[[ContributionPlan, Path, Probe], int]
    bench: Callable[[ContributionPlan, Path, Probe], int]


def probe_gpu(limit: int | None) -> Probe | None:
    """The visible GPUs (at most ``limit``), or None without one."""
    from generator.data import provenance
    from generator.tune.run import gpu_count
    from kernels.compat import gpu_info

    gpus = gpu_count(limit)
    if gpus == 0:
        return None
    return Probe(provenance.collect(gpu_count=gpus), gpu_info("cuda:0"), gpus)


def run_tuner(plan: ContributionPlan, save_path: Path, probe: Probe) -> int:
    """The tuner on every task of the plan (finished ones are skipped: the tuner resumes)."""
    from generator.tune.plan import TuneRequest
    from generator.tune.run import RunSettings, tune

    label = TuneRequest(models=plan.models, tp_sizes=plan.tp_sizes, kernels=plan.kernels).label()
    settings = RunSettings(save_path=save_path, gpus=probe.gpus)
    return tune(list(plan.tasks), settings, False, label, plan.kernels)


def bench_argv(plan: ContributionPlan, save_path: Path) -> list[str]:
    """The ``bench`` command line of the plan's sweeps (resuming: finished rows are kept)."""
    argv = ["--save-path", str(save_path), "--resume"]
    for sweep in plan.sweeps:
        argv += ["--sweep", sweep]
    for model in plan.models:
        argv += ["--model", model]
    for tp in plan.tp_sizes:
        argv += ["--tp-size", str(tp)]
    return argv


def run_bench(plan: ContributionPlan, save_path: Path, probe: Probe) -> int:
    from generator.bench import cli as bench_cli

    parser = argparse.ArgumentParser(prog="blockgemm contribute")
    bench_cli.add_parser(parser.add_subparsers(dest="command"), "bench")
    return int(bench_cli.run(parser.parse_args(["bench", *bench_argv(plan, save_path)])) or 0)


DEFAULT_STEPS = Steps(probe=probe_gpu, tune=run_tuner, bench=run_bench)
