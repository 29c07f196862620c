"""Run a sweep: every selected provider at every point, one run, correct or flagged.

Shapes -> points -> measurements -> ``site_data/devices/<dev>/bench/<sweep>.json``: the points
come from :mod:`generator.bench.plan`, each is measured by :mod:`generator.bench.points`, and
the rows are merged into the sweep's file by :mod:`generator.bench.store`. Files are written
atomically every ``SAVE_EVERY_S`` seconds and at the end (also on Ctrl-C and SIGTERM), so a
killed run loses little; a save that fails (a full disk) keeps the rows in a recovery file and
says where (:mod:`generator.data.recovery`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from generator.bench.context import BenchContext
from generator.bench.plan import SweepPoint
from generator.bench.points import DEFAULT_REPLAYS, PointResult, measure_points, one_line
from generator.bench.problem import Problem
from generator.bench.provider import Provider
from generator.bench.store import RowKey, load_file, merge, row_key
from generator.data import layout
from generator.data.external_figures import mla_figures
from generator.data.locking import device_lock
from generator.data.provenance import same_commit
from generator.data.records import BenchFile, BenchRow, Ceilings, Measurement, Provenance, Status
from generator.data.recovery import WriteFailed, keep, record_text, save_or_keep
from generator.errors import UserError

SAVE_EVERY_S = 30.0


def _reference_for(problem: Problem, sweep: str) -> tuple[float | None, str | None]:
    """The published figure stored beside a row (the mla sweep's), with its label."""
    if sweep != "mla":
        return None, None
    figures = mla_figures()
    ref = figures.at(problem.B, problem.M, problem.N, problem.K)
    return (ref, figures.label) if ref is not None else (None, None)


@dataclass
class SweepResult:
    sweep: str
    path: Path
    rows: list[BenchRow]
    measured: int
    skipped: int


def run_sweep(
    sweep: str,
    points: Sequence[SweepPoint],
    providers: Sequence[Provider],
    ctx: BenchContext,
    provenance: Provenance,
    ceilings: Ceilings,
    save_path: Path,
    replays: int = DEFAULT_REPLAYS,
    resume: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Measure every (point, provider of the point's kind) and merge the rows into the sweep file.

    With ``resume``, a point whose rows are all already in the file for every provider asked,
    measured by this code version (``Provenance.git_sha``) and timed with this run's method
    (``Provenance.method``), is skipped; otherwise all of its providers are measured again and
    replace the old rows. Why the whole point and the code version: a point's providers are
    compared on the same operands in one run (``measure_points``), and rows of an earlier
    commit measured other code and other committed files (a re-tune changes the tuned
    provider's config); kept as done, they made one sweep of two runs (issue 22). A commit
    names the files only once they are committed: after a re-tune that is not, rows of the
    same commit measured the old files, and only a run without ``resume`` replaces them.
    """
    path = layout.bench_file(save_path, provenance.device_name, sweep)
    rows, _ = load_file(path)  # fail before measuring if the existing file is corrupt
    ours = {p.name: p.info for p in providers}
    mine: dict[RowKey, BenchRow] = {}  # measured by this run
    # done, for --resume: rows of this code version timed the way this run times (any other
    # row is measured again, never kept as if it were comparable)
    existing = {
        k
        for k, r in rows.items()
        if r.provenance
        and r.provenance.method == provenance.method
        and same_commit(r.provenance.git_sha, provenance.git_sha)
    }
    measured = skipped = 0
    last_save = time.monotonic()
    out_dtype = str(ctx.out_dtype).removeprefix("torch.")

    save_failed = False  # a save failed: its rows are in a recovery file; do not try again

    def save() -> None:
        nonlocal rows, save_failed
        try:
            with device_lock(save_path, provenance.device_name):
                rows, infos = merge(path, mine, out_dtype)
                infos.update(ours)
                present = {r.provider for r in rows.values()}
                bench_file = BenchFile(
                    sweep=sweep,
                    provenance=provenance,
                    ceilings=ceilings,
                    rows=list(rows.values()),
                    providers={n: i for n, i in infos.items() if n in present},
                    out_dtype=out_dtype,
                )
                save_or_keep(path, bench_file, f"the {sweep} sweep with this run's rows")
        except WriteFailed:
            save_failed = True
            raise
        except UserError as exc:  # the file changed under this run: keep this run's rows alone
            save_failed = True
            mine_only = BenchFile(
                sweep=sweep,
                provenance=provenance,
                ceilings=ceilings,
                rows=list(mine.values()),
                providers={
                    n: i for n, i in ours.items() if n in {r.provider for r in mine.values()}
                },
                out_dtype=out_dtype,
            )
            kept = keep(path.name, record_text(mine_only))
            where = f"this run's rows are kept in {kept}" if kept else "this run's rows are lost"
            raise WriteFailed(f"{exc}; {where}") from None

    bar = tqdm(
        points,
        desc=f"bench {sweep}",
        unit="shape",
        disable=not progress,
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,  # logs get a line per 30 s, not 10/s
    )
    try:
        for point in bar:
            p = point.problem
            todo = [prov for prov in providers if prov.kind == p.kind]
            done = resume and all(
                (prov.name, lb.model, lb.layer, lb.tp, p.B, p.M, p.N, p.K) in existing
                for prov in todo
                for lb in point.labels
            )
            if not todo or done:
                skipped += len(todo)
                continue
            bar.set_postfix_str(f"B={p.B} M={p.M} N={p.N} K={p.K}", refresh=False)
            # the point's own failure (its sources could not be made), not the save's flag
            point_failed: PointResult | None = None
            try:
                ctx.start(p)
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory for the sources
                point_failed = PointResult(Measurement(status=Status.ERROR, message=one_line(exc)))
            ref_tflops, ref_label = _reference_for(p, sweep)
            if point_failed is not None:
                results = [point_failed] * len(todo)
            else:
                results = measure_points(todo, p, ctx, ceilings, replays)
            for prov, result in zip(todo, results, strict=True):
                measured += 1
                for lb in point.labels:
                    row = BenchRow(
                        provider=prov.name,
                        sweep=sweep,
                        model=lb.model,
                        layer=lb.layer,
                        tp=lb.tp,
                        M=p.M,
                        N=p.N,
                        K=p.K,
                        B=p.B,
                        measurement=result.measurement.model_copy(),
                        gbps=result.gbps,
                        roofline_pct=result.roofline_pct,
                        reference_tflops=ref_tflops,
                        reference_label=ref_label,
                        same_work_as=result.same_work_as,
                        control=result.control,
                        provenance=provenance,
                    )
                    rows[row_key(row)] = mine[row_key(row)] = row
            if time.monotonic() - last_save > SAVE_EVERY_S:
                save()
                last_save = time.monotonic()
    finally:
        bar.close()
        if mine and not save_failed:
            save()  # also on Ctrl-C and SIGTERM (generator.cli raises both as interrupts)
    return SweepResult(sweep, path, list(rows.values()), measured, skipped)
