"""What a contribution holds, counted from the files it sends (not from what was asked for).

The summary travels in the archive as ``CONTRIBUTION.json``: the device and its provenance, the
contributor, what was asked for (models, TP sizes, kernels, sweeps), what the device folder
holds (tuning files and records per kernel, bench rows per sweep and status, checks), how long
this run's steps took and the tuning time the records themselves report, and the result of
``validate`` on exactly the files sent. A maintainer reads it before unpacking; the unpacker
checks that it names the device the archive holds.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from generator.contribute.plan import ContributionPlan
from generator.data import layout
from generator.data.records import BenchFile, DeviceFile, TuneFile, load

SUMMARY_FILE = "CONTRIBUTION.json"
SUMMARY_VERSION = 1


def count_device(site_data: Path, device: str) -> dict[str, Any]:
    """Tuning files / records per kernel, bench rows per sweep and status, the checks."""
    tuning: dict[str, dict[str, int]] = {}
    recorded_s = 0.0
    for path in sorted(layout.tuning_dir(site_data, device).glob("*.json")):
        tf = load(path, TuneFile)
        entry = tuning.setdefault(tf.kernel, {"files": 0, "records": 0})
        entry["files"] += 1
        entry["records"] += len(tf.records)
        recorded_s += sum(r.wall_s for r in tf.records)
    bench: dict[str, dict[str, Any]] = {}
    for path in sorted(layout.bench_dir(site_data, device).glob("*.json")):
        bf = load(path, BenchFile)
        statuses = Counter(r.measurement.status.value for r in bf.rows)
        bench[bf.sweep] = {
            "rows": len(bf.rows),
            "providers": len({r.provider for r in bf.rows}),
            "status": dict(sorted(statuses.items())),
        }
    checks = sorted(p.name for p in layout.checks_dir(site_data, device).glob("*.json"))
    configs = {
        folder.name: len(list(folder.glob("*.json")))
        for folder in sorted(layout.configs_dir(site_data, device).glob("*"))
        if folder.is_dir()
    }
    return {
        "tuning": tuning,
        "tuning_recorded_s": round(recorded_s, 1),
        "configs": configs,
        "bench": bench,
        "checks": checks,
    }


def summarize(
    site_data: Path,
    device: str,
    plan: ContributionPlan,
    steps_s: dict[str, float],
    validated_files: int,
) -> dict[str, Any]:
    device_file = load(layout.device_file(site_data, device), DeviceFile)
    return {
        "summary_version": SUMMARY_VERSION,
        "tool": "blockgemm contribute",
        "written": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "device": device,
        "contributed_by": device_file.contributed_by,
        "provenance": device_file.provenance.model_dump(mode="json"),
        "requested": {
            "models": list(plan.models),
            "tp_sizes": list(plan.tp_sizes),
            "kernels": list(plan.kernels),
            "tuning_tasks": len(plan.tasks),
            "sweeps": list(plan.sweeps),
        },
        "measured": count_device(site_data, device),
        "this_run_s": {k: round(v, 1) for k, v in steps_s.items()},
        "validate": {"files": validated_files, "problems": 0},
    }
