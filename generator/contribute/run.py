"""One contribution: plan, tune, bench, validate, archive, each step announced as it starts.

Resuming is the tuner's and the bench's own (finished tasks and rows are skipped), so a rerun
after an interruption or a failed step continues where the last one stopped and writes the
archive once everything is there; a step that fails stops the run before the archive, with a
line saying what to rerun. What is sent is validated as sent: the device folder is staged
beside the bundled models (no lock file, nothing else) and ``validate`` runs on that copy.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.contribute import archive
from generator.contribute import steps as gpu_steps
from generator.contribute.plan import ContributionPlan, build_plan, describe, tune_seconds_per_task
from generator.contribute.steps import Probe, Steps
from generator.contribute.summary import summarize
from generator.data import layout
from generator.data.records import DeviceFile, load, save
from generator.data.validate import validate_tree
from generator.errors import UserError
from generator.tune.store import CONTRIBUTOR_ENV

NO_GPU = "no GPU found: `blockgemm contribute` measures this machine's GPU; nothing written"
HANDLE = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"  # a GitHub handle


@dataclass(frozen=True)
class Request:
    contributor: str
    models: tuple[str, ...]
    tp_sizes: tuple[int, ...]
    save_path: Path
    out: Path | None = None  # the archive; default: ./blockgemm-contribution-<device>.tar.gz
    gpus: int | None = None


def check_contributor(handle: str) -> str:
    import re

    handle = handle.strip().removeprefix("@")
    if not re.match(HANDLE, handle):
        raise UserError(
            f"--contributor '{handle}': expected your GitHub handle (letters, digits, '-'; it "
            f"is recorded in device.json), or set ${CONTRIBUTOR_ENV}"
        )
    return handle


def contribute(req: Request, steps: Steps | None = None, say: Callable[[str], None] = print) -> int:
    """Run a contribution; returns the exit code (0: archive written). ``steps``: the GPU work
    (default: the real tuner and bench, ``generator.contribute.steps.DEFAULT_STEPS``)."""
    handle = check_contributor(req.contributor)
    steps = steps or gpu_steps.DEFAULT_STEPS
    probe = steps.probe(req.gpus)
    if probe is None:
        say(NO_GPU)
        return 1
    device = probe.provenance.device_name
    plan = build_plan(req.models, req.tp_sizes, probe.gpu, req.save_path, device)
    for line in describe(plan, device, probe.gpus, tune_seconds_per_task()):
        say(line)
    os.environ[CONTRIBUTOR_ENV] = handle  # device.json records it when the tuner creates it
    times: dict[str, float] = {}
    for name, step in (("tune", steps.tune), ("bench", steps.bench)):
        number = 1 if name == "tune" else 2
        say(f"[{number}/3] {name}: started")
        t0 = time.monotonic()
        code = step(plan, req.save_path, probe)
        times[name] = time.monotonic() - t0
        if code != 0:
            say(
                f"[{number}/3] {name}: failed (exit {code}) after {times[name]:.0f} s; finished "
                "work is kept: rerun the same command to resume"
            )
            return 1
        say(f"[{number}/3] {name}: done in {times[name]:.0f} s")
    say("[3/3] validate and archive: started")
    _record_contributor(req.save_path, device, handle, probe)
    return _validate_and_archive(req, plan, device, times, say)


def _record_contributor(save_path: Path, device: str, handle: str, probe: Probe) -> None:
    """device.json names the contributor (a folder first written by a plain ``tune`` has none)."""
    path = layout.device_file(save_path, device)
    if path.exists():
        current = load(path, DeviceFile)
        if current.contributed_by != handle:
            save(path, current.model_copy(update={"contributed_by": handle}))
    else:
        save(path, DeviceFile(provenance=probe.provenance, contributed_by=handle))


def _validate_and_archive(
    req: Request, plan: ContributionPlan, device: str, times: dict[str, float], say
) -> int:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="blockgemm-contribute-") as tmp:
        staged = archive.stage_device(req.save_path, device, Path(tmp) / "site_data")
        result = validate_tree(staged)
        if not result.ok:
            for problem in result.problems:
                print(problem, file=sys.stderr)
            say(
                f"[3/3] validate: {len(result.problems)} problem(s) in what would be sent; no "
                "archive written"
            )
            return 2
        times["validate"] = time.monotonic() - t0
        summary = summarize(req.save_path, device, plan, times, result.files)
        dest = req.out or Path.cwd() / archive.archive_name(device)
        archive.write_archive(staged, device, summary, dest)
    size = dest.stat().st_size
    say(f"[3/3] validate: {result.files} files, no problems")
    say(f"archive: {dest} ({size / 2**20:.1f} MiB)")
    say('send it as described in docs/contributing.md ("Sending the archive")')
    return 0
