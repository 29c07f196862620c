"""The measurement runs behind a device's pages: who measured what, and with what.

Why: a device folder collects records of many runs (resumed tunes, re-measured sweeps, and
for a contributed GPU a stranger's machine), and each record now carries its own provenance
(``TuneRecord.provenance``, ``BenchRow.provenance``; the file's for older records). A page
that cites ``device.json`` for everything misattributes all but the first run. This module
groups a device's records by run for the catalog (:class:`generator.site.catalog.Device`),
and gives the pruning check's rows a ratio that is None instead of a division by zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generator.data.records import (
    BenchFile,
    Provenance,
    PruningCheck,
    PruningPoint,
    TuneFile,
    TuneTimeCheck,
    record_provenance,
    row_provenance,
)


@dataclass
class Run:
    """One measuring run (one provenance) and what of this device it measured."""

    provenance: Provenance
    tune_records: int = 0  # tuning records (one M of one shape each)
    bench_rows: int = 0
    files: list[str] = field(default_factory=list)  # relative to the device folder

    @property
    def label(self) -> str:
        p = self.provenance
        return f"{p.gpu_name}, git {p.git_sha}, {p.date.date().isoformat()}"


def _key(p: Provenance) -> str:
    return p.model_dump_json()


def collect_runs(
    root: Path,
    tunes: Iterable[tuple[Path, TuneFile]],
    benches: Iterable[tuple[Path, BenchFile]],
    checks: Iterable[tuple[Path, PruningCheck | TuneTimeCheck]],
) -> list[Run]:
    """Every distinct run among a device's records, newest first."""
    runs: dict[str, Run] = {}

    def run_of(p: Provenance, path: Path) -> Run:
        run = runs.setdefault(_key(p), Run(p))
        rel = path.relative_to(root).as_posix()
        if rel not in run.files:
            run.files.append(rel)
        return run

    for path, tf in tunes:
        for rec in tf.records:
            run_of(record_provenance(tf, rec), path).tune_records += 1
    for path, bf in benches:
        for row in bf.rows:
            run_of(row_provenance(bf, row), path).bench_rows += 1
    for path, check in checks:
        run_of(check.provenance, path)
    return sorted(runs.values(), key=lambda r: r.provenance.date, reverse=True)


@dataclass(frozen=True)
class PruningRow:
    """A pruning-check point and its pruned / exhaustive ratio (paired re-timing where there is
    one); ``ratio`` is None when a time is not a positive number (``validate`` reports those)."""

    point: PruningPoint
    ratio: float | None


def pruning_rows(check: PruningCheck | None) -> list[PruningRow]:
    if check is None:
        return []
    out = []
    for p in check.points:
        pair = (p.paired_pruned_us, p.paired_exhaustive_us)
        num, den = pair if all(pair) else (p.pruned_us, p.exhaustive_us)
        ok = all(v is not None and math.isfinite(v) and v > 0 for v in (num, den))
        out.append(PruningRow(p, num / den if ok else None))
    return out
