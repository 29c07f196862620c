"""What to run for each layer, per band of M, with the installable answer first.

Why: the charts show everything, but an engineer deploying a block-FP8 checkpoint needs one
answer per layer: in decode, mid and prefill batches, what do our files give (the engines'
Triton kernel with our tuned config, against bf16 and against what the engine runs today), and
is anything else measurably faster. Only providers that compute the same block-scaled GEMM with
its activation quantization (and the bf16 baseline) compete, only correct rows count, and a
provider is a candidate for a band only if it is correct at every M of the band. Rows are
compared only with rows of the same run: at each M, the run that measured the bf16 row (a file
collects rows of several runs, and a provider re-measured later would otherwise be ranked against
rows timed by another code version, on another day, with another method).

Two providers within the measured noise of each other are a tie and are named together
("cuBLAS block-wise ≈ cuBLAS block-wise v2"): a recommendation must not flip between them from
one batch size to the next. The noise is the widest of their p20-p80 spreads and the point's A/A
control (identical work timed twice in the run that measured them, ``gains.control_spread``),
and at least ``gains.NOISE_FLOOR``. The per-M table (:func:`ranges`) merges consecutive batch
sizes as long as some provider stays in every tie group, so its rows change only when the
answer does.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from generator.data.records import BenchRow, Status
from generator.site import providers
from generator.site.gains import BANDS, NOISE_FLOOR, Band, control_spread, spread
from generator.site.providers import Role
from generator.site.verdict import same_run


def _ok(r: BenchRow | None) -> bool:
    return r is not None and r.measurement.status == Status.OK and bool(r.measurement.latency_us)


def _lat(r: BenchRow) -> float:
    return r.measurement.latency_us or 0.0


def _comparable(rows: Iterable[BenchRow]) -> dict[int, dict[str, BenchRow]]:
    """M -> provider -> row (any status) of the providers that may replace each other, measured
    by the run of the M's bf16 row (every row of an M without one)."""
    at_m: dict[int, dict[str, BenchRow]] = {}
    for r in rows:
        if providers.style(r.provider).drop_in_block:
            at_m.setdefault(r.M, {}).setdefault(r.provider, r)
    out = {}
    for m, at in at_m.items():
        base = _baseline(at)
        out[m] = {n: r for n, r in at.items() if base is None or same_run(base, r)}
    return out


def _candidates(comparable: dict[int, dict[str, BenchRow]]) -> dict[int, dict[str, BenchRow]]:
    """M -> provider -> correct row, of the rows :func:`_comparable` keeps (one run per M)."""
    out = {}
    for m, at in comparable.items():
        ok = {n: r for n, r in at.items() if _ok(r)}
        if ok:
            out[m] = ok
    return out


def _baseline(at: dict[str, BenchRow]) -> BenchRow | None:
    return next((r for n, r in at.items() if providers.style(n).is_baseline), None)


def _order(names: Iterable[str]) -> list[str]:
    """Installable first, then the engines', then bf16, then the rest, each in display order."""
    rank = {Role.INSTALLABLE: 0, Role.ENGINE: 1, Role.BASELINE: 2}
    return sorted(
        providers.ordered(list(names)),
        key=lambda n: rank.get(providers.style(n).role, 3),
    )


@dataclass(frozen=True)
class Pick:
    """The fastest correct providers at one M (a tie group, fastest first)."""

    M: int
    tied: tuple[str, ...]  # empty: no candidate produced a correct result
    speedups: dict[str, float]  # provider -> bf16 latency / its latency (with a bf16 row)

    @property
    def provider(self) -> str | None:
        return self.tied[0] if self.tied else None


def _noise(a: BenchRow, b: BenchRow) -> float:
    """How far apart two rows of one point may be and still tie: their p20-p80 spreads, the
    point's A/A control (from either row), at least the floor."""
    return max(spread(a.measurement), spread(b.measurement), control_spread(a, b), NOISE_FLOOR)


def _row_noise(r: BenchRow) -> float:
    """One row's own noise: its p20-p80 spread, or its point's A/A control where wider."""
    return max(spread(r.measurement), control_spread(r))


def picks(rows: Iterable[BenchRow]) -> list[Pick]:
    out = []
    for m, at in sorted(_candidates(_comparable(rows)).items()):
        ranked = sorted(at.values(), key=_lat)
        best = ranked[0]
        tied = [r.provider for r in ranked if _lat(r) <= _lat(best) * (1 + _noise(best, r))]
        base = _baseline(at)
        sp = {n: _lat(base) / _lat(at[n]) for n in tied} if base else {}
        out.append(Pick(m, tuple(tied), sp))
    return out


@dataclass(frozen=True)
class Range:
    """Consecutive batch sizes where the same providers stay among the fastest."""

    m_lo: int
    m_hi: int
    tied: tuple[str, ...]  # in every tie group of the range, installable first
    speedup_lo: float | None  # of tied[0] over bf16, over the range
    speedup_hi: float | None

    @property
    def provider(self) -> str | None:
        return self.tied[0] if self.tied else None


def ranges(rows: Iterable[BenchRow]) -> list[Range]:
    """:func:`picks` merged while the intersection of the tie groups is not empty."""
    out: list[Range] = []
    group: list[Pick] = []
    common: set[str] = set()

    def flush() -> None:
        if not group:
            return
        tied = tuple(_order(common))
        sp = [p.speedups[tied[0]] for p in group if tied and tied[0] in p.speedups]
        out.append(
            Range(
                group[0].M,
                group[-1].M,
                tied,
                min(sp) if sp else None,
                max(sp) if sp else None,
            )
        )

    for p in picks(rows):
        if group and not (common & set(p.tied)):
            flush()
            group, common = [], set()
        common = set(p.tied) if not group else common & set(p.tied)
        group.append(p)
    flush()
    return out


@dataclass(frozen=True)
class Choice:
    """One provider (or a tie group) for a whole band: geometric mean of its speedup over bf16
    across the band's batch sizes, and the smallest and largest of them."""

    tied: tuple[str, ...]
    vs_bf16: float | None
    lo: float | None
    hi: float | None

    @property
    def provider(self) -> str:
        return self.tied[0]


@dataclass(frozen=True)
class BandAdvice:
    band: Band
    ms: tuple[int, ...]  # batch sizes of the band with a correct bf16 row
    installed: Choice | None  # our files (None: see ``why_not_installed``)
    fastest: Choice | None  # the fastest candidate(s) correct at every M of the band
    # Where ``installed`` is None and the band has batch sizes: why, for a reader ("not
    # benchmarked in the run that measured the others at M = 2, 4"; "incorrect at M = 8").
    why_not_installed: str | None = None

    @property
    def installed_is_fastest(self) -> bool:
        return bool(
            self.installed and self.fastest and self.installed.provider in self.fastest.tied
        )


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _ms_text(ms: Iterable[int]) -> str:
    return ", ".join(str(m) for m in ms)


def _why_not_installed(
    rows: list[BenchRow],
    comparable: dict[int, dict[str, BenchRow]],
    ms: tuple[int, ...],
    stale: list[BenchRow],
) -> str:
    """Why our files have no figure for a band: their rows left out as stale (the file was
    re-tuned after them), never benchmarked for the shape, rows missing (or only of another
    run) at some M, or rows that are not correct, by status and M."""
    name = providers.tuned_fp8({r.provider for r in (*rows, *stale)})
    if name is None:
        return "our files not benchmarked for this shape"
    missing = [m for m in ms if name not in comparable.get(m, {})]
    retuned = sorted({r.M for r in stale if r.provider == name} & set(missing))
    if retuned:
        where = _ms_text(retuned)
        return f"ours re-tuned after its benchmark at M = {where} (not measured again yet)"
    if missing:
        where = _ms_text(missing)
        return f"ours not benchmarked in the run that measured the others at M = {where}"
    bad: dict[str, list[int]] = {}
    for m in ms:
        r = comparable[m][name]
        if not _ok(r):
            bad.setdefault(r.measurement.status.value.replace("_", " "), []).append(m)
    if not bad:  # correct at every M: then it has a figure; not reached
        return "ours not compared"
    return "ours " + "; ".join(f"{st} at M = {_ms_text(m)}" for st, m in bad.items())


def advice(rows: Iterable[BenchRow], stale: Iterable[BenchRow] = ()) -> list[BandAdvice]:
    """Per band: what our files give, and the fastest candidates (ties merged). ``stale``: the
    shape's rows of ours left out because the file was re-tuned after them
    (``generator.site.stale``), named as the reason where they leave a band without ours."""
    rows, stale = list(rows), list(stale)
    comparable = _comparable(rows)
    cands = _candidates(comparable)
    names = {n for at in cands.values() for n in at}
    installed_name = providers.tuned_fp8(names)
    out = []
    for band in BANDS:
        ms = tuple(m for m in sorted(cands) if band.holds(m) and _baseline(cands[m]))
        if not ms:
            out.append(BandAdvice(band, ms, None, None))
            continue
        choices: dict[str, tuple[float, float, float, float]] = {}
        for n in names:
            if not all(n in cands[m] for m in ms):
                continue
            sp = [_lat(_baseline(cands[m])) / _lat(cands[m][n]) for m in ms]  # type: ignore[arg-type]
            noise = statistics.median(_row_noise(cands[m][n]) for m in ms)
            choices[n] = (_geomean(sp), min(sp), max(sp), noise)
        if not choices:
            out.append(
                BandAdvice(band, ms, None, None, _why_not_installed(rows, comparable, ms, stale))
            )
            continue
        best = max(choices, key=lambda n: choices[n][0])
        g_best, _, _, noise_best = choices[best]
        tied = [
            n
            for n in choices
            if g_best <= choices[n][0] * (1 + max(noise_best, choices[n][3], NOISE_FLOOR))
        ]
        tied = sorted(tied, key=lambda n: -choices[n][0])
        fastest = Choice(tuple(tied), g_best, choices[best][1], choices[best][2])
        installed, why = None, None
        if installed_name in choices:
            g, lo, hi, _ = choices[installed_name]
            installed = Choice((installed_name,), g, lo, hi)
        else:
            why = _why_not_installed(rows, comparable, ms, stale)
        out.append(BandAdvice(band, ms, installed, fastest, why))
    return out
