"""The measurement runs behind a device's pages: who measured what, and with what.

Why: a device folder collects records of many runs (resumed tunes, re-measured sweeps, and
for a contributed GPU a stranger's machine), and each record carries its own provenance
(``TuneRecord.provenance``, the file's for tuning records before 2026-11-29;
``BenchRow.provenance``, on every bench row: ``validate`` refuses a row without). A page that
cites ``device.json``, or a bench file's provenance (its last writer's), for everything
misattributes all but one run. This module groups a device's records by run for the catalog
(:class:`generator.site.catalog.Device`) and a page's bench rows by the run that measured them
(:func:`bench_runs`: never the file's provenance), and gives the pruning check's rows a ratio
that is None instead of a division by zero. :func:`summary` is the one line a page shows of its
runs, the full provenance folded behind it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.data.records import (
    BenchFile,
    BenchRow,
    Provenance,
    PruningCheck,
    PruningPoint,
    TuneFile,
    TuneTimeCheck,
    record_provenance,
)
from generator.site import providers


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
            if row.provenance is not None:  # validate refuses a row without
                run_of(row.provenance, path).bench_rows += 1
    for path, check in checks:
        run_of(check.provenance, path)
    return sorted(runs.values(), key=lambda r: r.provenance.date, reverse=True)


@dataclass
class BenchRun:
    """One run behind a set of bench rows (a page's, a sweep's, a file's): its provenance, how
    many of the rows it measured and how many of those it timed, and which providers, named
    only where other runs measured the others."""

    provenance: Provenance
    rows: int = 0
    timed: int = 0  # rows with a latency (the rest: unsupported, incorrect, error)
    providers: list[str] = field(default_factory=list)  # empty: every provider, or "the others"
    others: bool = False  # this run measured the providers no other run listed here did

    @property
    def method(self) -> str | None:
        """How the run timed; None for runs before 2026-12-02, which recorded none (they used
        the earlier method, docs/methodology.md)."""
        return self.provenance.method


def bench_runs(rows: Iterable[BenchRow]) -> list[BenchRun]:
    """The runs that measured ``rows``, newest first, each from the rows' own provenance (a
    file merges rows of several runs; its own provenance is only its last writer's). Rows
    without provenance, which ``validate`` refuses, are in no run."""
    rows = list(rows)
    found: dict[tuple[str, str], tuple[BenchRun, set[str]]] = {}
    for r in rows:
        p = r.provenance
        if p is None:
            continue
        run, names = found.setdefault((p.git_sha, p.date.date().isoformat()), (BenchRun(p), set()))
        run.rows += 1
        run.timed += r.measurement.latency_us is not None
        names.add(r.provider)
    ordered = sorted(found.values(), key=lambda rn: rn[0].provenance.date, reverse=True)
    everyone = {r.provider for r in rows}
    widest = max(ordered, key=lambda rn: len(rn[1]))[0] if ordered else None
    for run, names in ordered:
        # the run with the most providers is "the others" when several runs share the rows
        run.others = run is widest and names != everyone
        run.providers = [] if run is widest else providers.ordered(names)
    return [run for run, _ in ordered]


def earlier_method(runs: Iterable[BenchRun]) -> bool:
    """Whether any of these runs predates the recorded timing method (before 2026-12-02)."""
    return any(run.method is None for run in runs)


def _dates(provenances: Iterable[Provenance]) -> str:
    days = sorted({p.date.date().isoformat() for p in provenances})
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summary(bench: Sequence[BenchRun], tuned: Sequence[Provenance] = ()) -> str:
    """One line for the provenance a page folds away (the full text, hashes and the timing
    method, can run to a screenful): "Benchmark: 2700 rows, 1 run, 2026-12-03. Tuned files:
    2 runs, 2026-11-29 to 2026-12-03." ``tuned``: one provenance per tuning run."""
    parts = []
    if bench:
        rows = sum(r.rows for r in bench)
        line = f"Benchmark: {_count(rows, 'row')}, {_count(len(bench), 'run')}, "
        line += _dates(r.provenance for r in bench)
        if earlier_method(bench):
            line += (
                ", all by the earlier timing method"
                if all(r.method is None for r in bench)
                else ", some by the earlier timing method"
            )
        parts.append(line + ".")
    if tuned:
        parts.append(f"Tuned files: {_count(len(tuned), 'run')}, {_dates(tuned)}.")
    return " ".join(parts)


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
