"""What a sweep measures: its points, planned from model shapes or size ranges.

Sweeps. ``model``: the (N, K) of every linear layer of the chosen models at their TP sizes,
times the batch sizes M; a shape shared by several layers or models is one point, recorded
under each (model, layer, tp). ``square``: M = N = K. ``range``: vLLM's ``range_bench`` (one or
more dimensions stepped together, the others constant). ``mla``: the batched GEMMs of
DeepSeek's absorbed MLA attention at B = heads / TP. Every size is bounded before a point is
made (``configs.limits``), so a sweep too large to run is one line before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from generator.bench.problem import Kind, Problem
from generator.configs.limits import check_problem_size
from generator.data.models import ModelSpec, default_tp_sizes, mla_batched_shapes, weight_shapes
from generator.data.tasks import DEFAULT_BATCH_SIZES
from generator.errors import UserError

SWEEPS = ("model", "square", "range", "mla")
MODEL_BATCH_SIZES = DEFAULT_BATCH_SIZES  # vLLM's / SGLang's tuner batch sizes
SQUARE_SIZES = (256, 512, 1024, 2048, 4096, 8192)
MLA_TP_SIZES = (8, 4, 2, 1)
MLA_BATCH_SIZES = (1, 32, 128)
# Sweep size bounds, checked before a sweep is built: vLLM's range_bench default is 16 points,
# and 100 million (``--dim-end 100000000 --dim-increment 1``) grew past 10 GB before a word.
MAX_RANGE_POINTS = 10_000


@dataclass(frozen=True)
class RowLabel:
    """Where a measured problem appears in the catalog (several layers can share one shape)."""

    model: str | None = None
    layer: str | None = None
    tp: int | None = None


@dataclass
class SweepPoint:
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


def model_points(
    models: Sequence[tuple[ModelSpec, bool]],
    tp_sizes: Sequence[int] | None,
    batch_sizes: Sequence[int],
    warn: Callable[[str], None],
) -> list[SweepPoint]:
    """One task per distinct (N, K) x M over the models' layers at their TP sizes.

    ``models`` pairs each spec with "named explicitly": a model taken from "all" whose layers
    cannot be split at a TP size (e.g. Qwen2.5-72B at TP 8: K = 3696 is not a multiple of 128)
    is skipped with a one-line warning; a named one raises.
    """
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
        SweepPoint(Problem(M=m, N=n, K=k), labels)
        for (n, k), labels in by_nk.items()
        for m in sorted(batch_sizes)
    ]


def square_points(sizes: Sequence[int]) -> list[SweepPoint]:
    sizes = _check_sizes("square sizes", sizes)
    for s in sizes:
        check_problem_size(s, s, s, where="square sweep: ")
    return [SweepPoint(Problem(M=s, N=s, K=s)) for s in sizes]


def range_points(
    dim_start: int,
    dim_end: int,
    dim_increment: int,
    m_constant: int | None = None,
    n_constant: int | None = None,
    k_constant: int | None = None,
) -> list[SweepPoint]:
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
    return [
        SweepPoint(Problem(M=m_constant or d, N=n_constant or d, K=k_constant or d)) for d in dims
    ]


def mla_points(
    models: Sequence[tuple[ModelSpec, bool]],
    tp_sizes: Sequence[int] | None,
    batch_sizes: Sequence[int],
    warn: Callable[[str], None],
) -> list[SweepPoint]:
    """The two batched GEMMs of MLA absorbed attention, for each MLA model x TP x M."""
    points = []
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
                    points.append(
                        SweepPoint(
                            Problem(M=m, N=s.N, K=s.K, B=s.B, kind=Kind.BATCHED),
                            [RowLabel(s.model, s.layer, s.tp)],
                        )
                    )
    # Weight shape outermost, M innermost: each weight is built and quantized once.
    points.sort(key=lambda t: (t.problem.B, t.problem.N, t.problem.K, t.problem.M))
    return points
