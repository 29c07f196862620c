"""Benchmark sweeps: every selected provider, one run, the same inputs, correct or flagged.

Shapes -> tasks -> measurements -> ``site_data/devices/<dev>/bench/<sweep>.json``.

* Sweeps. ``model``: the (N, K) of every linear layer of the chosen models at their TP sizes,
  times the batch sizes M; a shape shared by several layers or models is measured once and its
  measurement recorded under each (model, layer, tp). ``square``: M = N = K. ``range``: vLLM's
  ``range_bench`` (one or more dimensions stepped together, the others constant). ``mla``: the
  batched GEMMs of DeepSeek's absorbed MLA attention at B = heads / TP, with the MI350X figures
  of AITER PR #2297 stored next to ours.
* Per problem, every provider derives its operands from the same source tensors
  (``context.BenchContext``); each is first run once and checked against the fp32 reference
  of its own operands (``kernels.reference.relative_error`` under ``tolerance(out dtype)``);
  only the correct providers are timed, together (CUDA-graph replays over L2-rotated inputs,
  interleaved between providers so every one sees the same GPU conditions,
  ``generator.bench.timing``). A wrong result is "incorrect" with its error and no latency, so
  it can never show up as fast; exceptions become "unsupported" (the library refused, or no tuned
  config), "out_of_resources", "compile_error" or "error", with a one-line message. Nothing a
  provider does stops the sweep.
* Storage: rows are keyed by (provider, model, layer, tp, B, M, N, K); a rerun or ``--resume``
  replaces rows with the same key instead of adding duplicates. Files are written atomically
  every ``SAVE_EVERY_S`` seconds and at the end (also on Ctrl-C), so a killed run loses little.
  Each write is a read-merge-write under the device's lock (:mod:`generator.data.locking`), as
  the tuner's: two runs of one sweep keep each other's rows, each row with the provenance of
  the run that measured it (``BenchRow.provenance`` where it is not the file's).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from generator.bench import timing
from generator.bench.ceilings import compute_ceiling_tflops, roofline_pct
from generator.bench.context import BenchContext
from generator.bench.registry import Kind, Prepared, Problem, Provider, Unsupported
from generator.configs.limits import check_problem_size
from generator.data import layout, records
from generator.data.locking import device_lock
from generator.data.models import ModelSpec, mla_batched_shapes, weight_shapes
from generator.data.records import (
    BenchFile,
    BenchRow,
    Ceilings,
    Measurement,
    Provenance,
    ProviderInfo,
    Status,
)
from generator.errors import UserError
from kernels.reference import relative_error, tolerance

SWEEPS = ("model", "square", "range", "mla")
DEFAULT_SWEEPS = ("model", "square", "mla")
# vLLM's / SGLang's tuner batch sizes.
VLLM_BATCH_SIZES = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 1536, 2048, 3072, 4096)
SQUARE_SIZES = (256, 512, 1024, 2048, 4096, 8192)
DEFAULT_REPLAYS = 20
SAVE_EVERY_S = 30.0
MESSAGE_CHARS = 300

# DeepSeek-R1 MLA absorbed attention, TFLOP/s on AMD MI350X published with AITER PR #2297
# (batched A16W8 blockscale kernel): (B, M, N, K) -> TFLOP/s. B = 128 heads / TP (8, 4, 2, 1).
MLA_REFERENCE_LABEL = "AMD MI350X, AITER PR #2297"
MLA_REFERENCE_TFLOPS: dict[tuple[int, int, int, int], float] = {
    (16, 1, 512, 128): 0.069,
    (16, 1, 128, 512): 0.071,
    (16, 32, 512, 128): 2.251,
    (16, 32, 128, 512): 2.313,
    (16, 128, 512, 128): 8.771,
    (16, 128, 128, 512): 8.857,
    (32, 1, 512, 128): 0.139,
    (32, 1, 128, 512): 0.140,
    (32, 32, 512, 128): 4.455,
    (32, 32, 128, 512): 4.564,
    (32, 128, 512, 128): 18.331,
    (32, 128, 128, 512): 18.339,
    (64, 1, 512, 128): 0.285,
    (64, 1, 128, 512): 0.280,
    (64, 32, 512, 128): 8.920,
    (64, 32, 128, 512): 8.941,
    (64, 128, 512, 128): 36.204,
    (64, 128, 128, 512): 35.727,
    (128, 1, 512, 128): 0.409,
    (128, 1, 128, 512): 0.508,
    (128, 32, 512, 128): 12.700,
    (128, 32, 128, 512): 15.891,
    (128, 128, 512, 128): 43.844,
    (128, 128, 128, 512): 58.690,
}
MLA_TP_SIZES = (8, 4, 2, 1)
MLA_BATCH_SIZES = (1, 32, 128)
# Sweep size bounds, checked before a sweep is built: vLLM's range_bench default is 16 points,
# and 100 million (``--dim-end 100000000 --dim-increment 1``) grew past 10 GB before a word.
MAX_RANGE_POINTS = 10_000


# ---------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class RowLabel:
    """Where a measured problem appears in the catalog (several layers can share one shape)."""

    model: str | None = None
    layer: str | None = None
    tp: int | None = None


@dataclass
class Task:
    problem: Problem
    labels: list[RowLabel] = field(default_factory=lambda: [RowLabel()])


def _check_sizes(name: str, values: Iterable[int]) -> list[int]:
    out = [int(v) for v in values]
    if not out:
        raise UserError(f"{name}: no values given")
    bad = [v for v in out if v < 1]
    if bad:
        raise UserError(f"{name}: sizes must be at least 1, got {bad}")
    return list(dict.fromkeys(out))


def model_tasks(
    models: Sequence[tuple[ModelSpec, bool]],
    tp_sizes: Sequence[int] | None,
    batch_sizes: Sequence[int],
    warn: Callable[[str], None],
) -> list[Task]:
    """One task per distinct (N, K) x M over the models' layers at their TP sizes.

    ``models`` pairs each spec with "named explicitly": a model taken from "all" whose layers
    cannot be split at a TP size (e.g. Qwen2.5-72B at TP 8: K = 3696 is not a multiple of 128)
    is skipped with a one-line warning; a named one raises.
    """
    from generator.data.models import default_tp_sizes

    batch_sizes = _check_sizes("batch sizes", batch_sizes)
    by_nk: dict[tuple[int, int], list[RowLabel]] = {}
    for spec, named in models:
        for tp in tp_sizes or default_tp_sizes(spec):
            try:
                shapes = weight_shapes(spec, tp)
            except UserError as exc:
                if named:
                    raise
                warn(f"skipped: {exc}")
                continue
            for s in shapes:
                by_nk.setdefault((s.N, s.K), []).append(RowLabel(s.model, s.layer, s.tp))
    for n, k in by_nk:
        check_problem_size(max(batch_sizes), n, k, where="model sweep: ")
    return [
        Task(Problem(M=m, N=n, K=k), labels)
        for (n, k), labels in by_nk.items()
        for m in sorted(batch_sizes)
    ]


def square_tasks(sizes: Sequence[int]) -> list[Task]:
    sizes = _check_sizes("square sizes", sizes)
    for s in sizes:
        check_problem_size(s, s, s, where="square sweep: ")
    return [Task(Problem(M=s, N=s, K=s)) for s in sizes]


def range_tasks(
    dim_start: int,
    dim_end: int,
    dim_increment: int,
    m_constant: int | None = None,
    n_constant: int | None = None,
    k_constant: int | None = None,
) -> list[Task]:
    """vLLM's ``range_bench``: dims from start to end (inclusive) by increment; each of M, N, K
    follows the dims unless given a constant."""
    if dim_start < 1 or dim_end < dim_start or dim_increment < 1:
        raise UserError(
            f"range: need 1 <= --dim-start <= --dim-end and --dim-increment >= 1, got"
            f" {dim_start}, {dim_end}, {dim_increment}"
        )
    for name, value in (
        ("--m-constant", m_constant),
        ("--n-constant", n_constant),
        ("--k-constant", k_constant),
    ):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    dims = range(dim_start, dim_end + 1, dim_increment)
    if len(dims) > MAX_RANGE_POINTS:
        raise UserError(
            f"range sweep: --dim-start {dim_start} to --dim-end {dim_end} by --dim-increment"
            f" {dim_increment} is {len(dims)} points; at most {MAX_RANGE_POINTS}"
        )
    largest = dims[-1]  # every operand grows with the dims, so the last point is the largest
    check_problem_size(
        m_constant or largest, n_constant or largest, k_constant or largest, where="range sweep: "
    )
    return [Task(Problem(M=m_constant or d, N=n_constant or d, K=k_constant or d)) for d in dims]


def mla_tasks(
    models: Sequence[tuple[ModelSpec, bool]],
    tp_sizes: Sequence[int] | None,
    batch_sizes: Sequence[int],
    warn: Callable[[str], None],
) -> list[Task]:
    """The two batched GEMMs of MLA absorbed attention, for each MLA model x TP x M."""
    tasks = []
    for spec, named in models:
        if spec.mla is None:
            if named:
                warn(f"skipped for the mla sweep: {spec.id} has no MLA attention")
            continue
        for tp in tp_sizes or MLA_TP_SIZES:
            try:
                shapes = mla_batched_shapes(spec, tp)
            except UserError as exc:
                if named:
                    raise
                warn(f"skipped: {exc}")
                continue
            for m in sorted(_check_sizes("MLA batch sizes", batch_sizes)):
                for s in shapes:
                    check_problem_size(m, s.N, s.K, s.B, where="mla sweep: ")
                    tasks.append(
                        Task(
                            Problem(M=m, N=s.N, K=s.K, B=s.B, kind=Kind.BATCHED),
                            [RowLabel(s.model, s.layer, s.tp)],
                        )
                    )
    # Weight shape outermost, M innermost: each weight is built and quantized once.
    tasks.sort(key=lambda t: (t.problem.B, t.problem.N, t.problem.K, t.problem.M))
    return tasks


# ---------------------------------------------------------------------------------------------
# Measuring one provider at one problem


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:MESSAGE_CHARS]


def classify_exception(exc: BaseException, provider: Provider) -> Status:
    """Status of a failed provider run (see module doc)."""
    from triton.compiler.errors import CompilationError
    from triton.runtime.errors import OutOfResources

    if isinstance(exc, Unsupported):
        return Status.UNSUPPORTED
    if isinstance(exc, OutOfResources):
        return Status.OUT_OF_RESOURCES
    if isinstance(exc, CompilationError):
        return Status.COMPILE_ERROR
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return Status.ERROR
    if provider.library and isinstance(exc, (RuntimeError, NotImplementedError, ValueError)):
        return Status.UNSUPPORTED
    return Status.ERROR


@dataclass
class PointResult:
    measurement: Measurement
    gbps: float | None = None
    roofline_pct: float | None = None


@contextlib.contextmanager
def full_precision_reductions():
    """cuBLAS may reduce split-K partial sums in bf16/fp16 by default; that alone can push a
    bf16 GEMM at small M and large K past the bf16 tolerance, flagging the baseline as wrong.
    Benchmarks run with fp32 reductions (a negligible cost: the reduction is tiny)."""
    m = torch.backends.cuda.matmul
    prev = (m.allow_bf16_reduced_precision_reduction, m.allow_fp16_reduced_precision_reduction)
    m.allow_bf16_reduced_precision_reduction = False
    m.allow_fp16_reduced_precision_reduction = False
    try:
        yield
    finally:
        m.allow_bf16_reduced_precision_reduction, m.allow_fp16_reduced_precision_reduction = prev


def _sync(ctx: BenchContext) -> None:
    if ctx.on_cuda:
        torch.cuda.synchronize(ctx.device)


@dataclass
class _Checked:
    """A provider that ran correctly once on this problem, ready to be timed."""

    provider: Provider
    prepared: Prepared
    err: float


def _check(provider: Provider, problem: Problem, ctx: BenchContext) -> PointResult | _Checked:
    """Set up ``provider`` and check its first output against its fp32 reference: a failed
    :class:`PointResult`, or what to time."""
    unmet = provider.unmet(ctx)
    if unmet:
        return PointResult(Measurement(status=Status.UNSUPPORTED, message=unmet))
    config = None
    try:
        prepared = provider.setup(problem, ctx)
        config = prepared.config
        out = prepared.calls[0]()
        _sync(ctx)
        ref = ctx.reference_of(provider.reference, problem)
        if tuple(out.shape) != tuple(ref.shape):
            message = f"output shape {tuple(out.shape)} != expected {tuple(ref.shape)}"
            return PointResult(Measurement(config=config, status=Status.INCORRECT, message=message))
        err = relative_error(out, ref)
        tol = tolerance(out.dtype)
        del out, ref
    except Exception as exc:  # noqa: BLE001 - every failure becomes a status, never a crash
        return PointResult(
            Measurement(
                config=config, status=classify_exception(exc, provider), message=_one_line(exc)
            )
        )
    finite = math.isfinite(err)
    if not (finite and err <= tol):
        why = f"relative error {err:.3g} > tolerance {tol:.3g}" if finite else "output has NaN/inf"
        return PointResult(
            Measurement(
                config=config,
                status=Status.INCORRECT,
                rel_error=err if finite else None,
                message=why,
            )
        )
    return _Checked(provider, prepared, err)


def _timed(
    c: _Checked,
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    stats: timing.TimingStats,
) -> PointResult:
    provider = c.provider
    flops = provider.flops(problem)
    nbytes = provider.bytes_moved(problem, ctx.out_dtype)
    latency_us = stats.median_us
    meas = Measurement(
        config=c.prepared.config,
        status=Status.OK,
        latency_us=latency_us,
        p20_us=stats.p20_us,
        p80_us=stats.p80_us,
        tflops=timing.tflops(flops, latency_us),
        rel_error=c.err,
    )
    pct = None
    if ceilings is not None:
        pct = roofline_pct(
            latency_us,
            flops,
            nbytes,
            compute_ceiling_tflops(ceilings, provider.compute.value),
            ceilings.copy_gbps,
        )
    return PointResult(meas, gbps=nbytes / (latency_us * 1e3), roofline_pct=pct)


def _timing_failed(c: _Checked, exc: BaseException) -> PointResult:
    return PointResult(
        Measurement(
            config=c.prepared.config,
            status=classify_exception(exc, c.provider),
            rel_error=c.err,
            message="timing: " + _one_line(exc),
        )
    )


def _sync_quietly(ctx: BenchContext) -> None:
    try:
        _sync(ctx)
    except Exception:  # noqa: BLE001 - a failed kernel may leave an error to clear
        pass


def _time_together(
    ready: list[_Checked],
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    replays: int,
) -> dict[int, PointResult]:
    """Time the checked providers interleaved; a provider whose timing fails is isolated by
    timing each once alone, and the others are timed together again without it."""
    results: dict[int, PointResult] = {}
    try:
        stats = timing.time_interleaved([c.prepared.calls for c in ready], ctx.on_cuda, replays)
        return {
            id(c): _timed(c, problem, ctx, ceilings, st) for c, st in zip(ready, stats, strict=True)
        }
    except Exception:  # noqa: BLE001
        _sync_quietly(ctx)
    good = []
    for c in ready:
        try:
            timing.time_calls(c.prepared.calls, ctx.on_cuda, 1)
            good.append(c)
        except Exception as exc:  # noqa: BLE001
            _sync_quietly(ctx)
            results[id(c)] = _timing_failed(c, exc)
    if good:
        stats = timing.time_interleaved([c.prepared.calls for c in good], ctx.on_cuda, replays)
        results.update(
            {
                id(c): _timed(c, problem, ctx, ceilings, st)
                for c, st in zip(good, stats, strict=True)
            }
        )
    return results


def measure_points(
    providers: Sequence[Provider],
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    replays: int = DEFAULT_REPLAYS,
) -> list[PointResult]:
    """Check every provider on the current problem of ``ctx`` (``ctx.start(problem)`` first),
    then time the correct ones *interleaved* (``timing.time_interleaved``: the same conditions
    for all, so their ratios are not the GPU's drift); never raises, except KeyboardInterrupt.
    See the module doc for the statuses."""
    with full_precision_reductions():
        checked = [_check(p, problem, ctx) for p in providers]
        ready = [c for c in checked if isinstance(c, _Checked)]
        timed = _time_together(ready, problem, ctx, ceilings, replays) if ready else {}
        return [timed[id(c)] if isinstance(c, _Checked) else c for c in checked]


def measure_point(
    provider: Provider,
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    replays: int = DEFAULT_REPLAYS,
) -> PointResult:
    """:func:`measure_points` for one provider."""
    return measure_points([provider], problem, ctx, ceilings, replays)[0]


# ---------------------------------------------------------------------------------------------
# Sweeps and storage


RowKey = tuple[str, str | None, str | None, int | None, int, int, int, int]


def row_key(row: BenchRow) -> RowKey:
    return (row.provider, row.model, row.layer, row.tp, row.B, row.M, row.N, row.K)


def load_rows(path: Path) -> dict[RowKey, BenchRow]:
    """Rows of an existing file by key (empty if none); a corrupt file is a SiteDataError."""
    return load_file(path)[0]


def load_file(path: Path) -> tuple[dict[RowKey, BenchRow], dict[str, ProviderInfo]]:
    """Rows by key and provider metadata of an existing file (empty if none)."""
    if not path.exists():
        return {}, {}
    bf = records.load(path, BenchFile)
    return {row_key(r): r for r in bf.rows}, dict(bf.providers)


def _reference_for(problem: Problem, sweep: str) -> tuple[float | None, str | None]:
    if sweep != "mla":
        return None, None
    ref = MLA_REFERENCE_TFLOPS.get((problem.B, problem.M, problem.N, problem.K))
    return (ref, MLA_REFERENCE_LABEL) if ref is not None else (None, None)


@dataclass
class SweepResult:
    sweep: str
    path: Path
    rows: list[BenchRow]
    measured: int
    skipped: int


def run_sweep(
    sweep: str,
    tasks: Sequence[Task],
    providers: Sequence[Provider],
    ctx: BenchContext,
    provenance: Provenance,
    ceilings: Ceilings,
    save_path: Path,
    replays: int = DEFAULT_REPLAYS,
    resume: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Measure every (task, provider of the task's kind) and merge the rows into the sweep file.

    With ``resume``, pairs whose rows are all already in the file are skipped; otherwise they
    are measured again and replace the old rows.
    """
    path = layout.bench_file(save_path, provenance.device_name, sweep)
    rows, _ = load_file(path)  # fail before measuring if the existing file is corrupt
    ours = {p.name: p.info for p in providers}
    mine: dict[RowKey, BenchRow] = {}  # measured by this run
    existing = set(rows)
    measured = skipped = 0
    last_save = time.monotonic()
    out_dtype = str(ctx.out_dtype).removeprefix("torch.")

    def save() -> None:
        nonlocal rows
        with device_lock(save_path, provenance.device_name):
            rows, infos = _merge(path, mine, provenance)
            infos.update(ours)
            present = {r.provider for r in rows.values()}
            records.save(
                path,
                BenchFile(
                    sweep=sweep,
                    provenance=provenance,
                    ceilings=ceilings,
                    rows=list(rows.values()),
                    providers={n: i for n, i in infos.items() if n in present},
                    out_dtype=out_dtype,
                ),
            )

    bar = tqdm(
        tasks,
        desc=f"bench {sweep}",
        unit="shape",
        disable=not progress,
        file=sys.stderr,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,  # logs get a line per 30 s, not 10/s
    )
    try:
        for task in bar:
            p = task.problem
            todo = []
            for prov in providers:
                if prov.kind != p.kind:
                    continue
                keys = [
                    (prov.name, lb.model, lb.layer, lb.tp, p.B, p.M, p.N, p.K) for lb in task.labels
                ]
                if resume and all(k in existing for k in keys):
                    skipped += 1
                    continue
                todo.append(prov)
            if not todo:
                continue
            bar.set_postfix_str(f"B={p.B} M={p.M} N={p.N} K={p.K}", refresh=False)
            try:
                ctx.start(p)
                failed = None
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory for the sources
                failed = PointResult(Measurement(status=Status.ERROR, message=_one_line(exc)))
            ref_tflops, ref_label = _reference_for(p, sweep)
            if failed:
                results = [failed] * len(todo)
            else:
                results = measure_points(todo, p, ctx, ceilings, replays)
            for prov, result in zip(todo, results, strict=True):
                measured += 1
                for lb in task.labels:
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
                    )
                    rows[row_key(row)] = mine[row_key(row)] = row
            if time.monotonic() - last_save > SAVE_EVERY_S:
                save()
                last_save = time.monotonic()
    finally:
        bar.close()
        if mine:
            save()
    return SweepResult(sweep, path, list(rows.values()), measured, skipped)


def _merge(
    path: Path, mine: dict[RowKey, BenchRow], provenance: Provenance
) -> tuple[dict[RowKey, BenchRow], dict[str, ProviderInfo]]:
    """The file's rows and provider metadata as they are on disk now, with this run's rows
    replacing theirs by key. Rows of other runs keep where they were measured (their own
    provenance, else their file's); rows of this run carry none: the file written with them
    will have this run's."""
    merged: dict[RowKey, BenchRow] = {}
    infos: dict[str, ProviderInfo] = {}
    if path.exists():
        disk = records.load(path, BenchFile)
        infos = dict(disk.providers)
        for row in disk.rows:
            where = records.row_provenance(disk, row)
            pinned = None if where == provenance else where
            merged[row_key(row)] = row.model_copy(update={"provenance": pinned})
    merged.update(mine)
    return merged, infos


# ---------------------------------------------------------------------------------------------
# Reports


def status_summary(rows: Iterable[BenchRow]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.measurement.status.value] = counts.get(r.measurement.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no rows"


def mla_table(rows: Sequence[BenchRow]) -> str:
    """The MLA sweep next to the MI350X figures: TFLOP/s per provider and its ratio to them."""
    providers = list(dict.fromkeys(r.provider for r in rows))
    points: dict[tuple[int, int, int, int], dict[str, BenchRow]] = {}
    for r in rows:
        points.setdefault((r.B, r.M, r.N, r.K), {})[r.provider] = r
    header = ["B", "M", "N", "K", "MI350X"] + [f"{p} (x)" for p in providers]
    lines = [header]
    for key in sorted(points, key=lambda k: (k[0], k[1], -k[2])):
        ref = MLA_REFERENCE_TFLOPS.get(key)
        cells = [str(v) for v in key] + [f"{ref:.3f}" if ref is not None else "-"]
        for prov in providers:
            r = points[key].get(prov)
            m = r.measurement if r else None
            if m is None:
                cells.append("-")
            elif m.status != Status.OK or m.tflops is None:
                cells.append(m.status.value)
            else:
                ratio = f" ({m.tflops / ref:.2f}x)" if ref else ""
                cells.append(f"{m.tflops:.3f}{ratio}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )
