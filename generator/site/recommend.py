"""Which provider to use, per weight shape and range of M, and by how much it beats bf16.

Why: the charts show everything, but an engineer deploying a block-FP8 checkpoint needs one
answer per layer: for these batch sizes use X, it is Y times faster than running the layer in
bf16. Only providers that compute the same block-scaled GEMM (and the bf16 baseline) compete,
and only rows whose result was correct (status ``ok``) count; consecutive M with the same winner
are merged into one range.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from generator.data.records import BenchRow, Status
from generator.site import providers


@dataclass(frozen=True)
class Pick:
    """The winner at one M."""

    M: int
    provider: str | None  # None: no candidate produced a correct result
    speedup: float | None  # bf16 latency / winner latency; None without a correct bf16 row
    runner_up: str | None


@dataclass(frozen=True)
class Range:
    """Consecutive batch sizes with the same winner."""

    m_lo: int
    m_hi: int
    provider: str | None
    speedup_lo: float | None
    speedup_hi: float | None
    runners_up: tuple[str, ...]


def picks(rows: Iterable[BenchRow]) -> list[Pick]:
    """Fastest correct drop-in provider at every M of one shape."""
    by_m: dict[int, list[BenchRow]] = {}
    for row in rows:
        by_m.setdefault(row.M, []).append(row)
    out = []
    for m in sorted(by_m):
        ok = [
            r
            for r in by_m[m]
            if r.measurement.status == Status.OK
            and r.measurement.latency_us
            and providers.style(r.provider).drop_in_block
        ]
        ok.sort(key=lambda r: r.measurement.latency_us or 0.0)
        base = next((r for r in ok if providers.style(r.provider).is_baseline), None)
        if not ok:
            out.append(Pick(m, None, None, None))
            continue
        best = ok[0]
        speedup = None
        if base is not None and base.measurement.latency_us and best.measurement.latency_us:
            speedup = base.measurement.latency_us / best.measurement.latency_us
        runner = next((r.provider for r in ok[1:] if r.provider != best.provider), None)
        out.append(Pick(m, best.provider, speedup, runner))
    return out


def ranges(rows: Iterable[BenchRow]) -> list[Range]:
    """:func:`picks` with consecutive equal winners merged."""
    out: list[Range] = []
    group: list[Pick] = []

    def flush() -> None:
        if not group:
            return
        sp = [p.speedup for p in group if p.speedup is not None]
        runners = tuple(dict.fromkeys(p.runner_up for p in group if p.runner_up))
        out.append(
            Range(
                group[0].M,
                group[-1].M,
                group[0].provider,
                min(sp) if sp else None,
                max(sp) if sp else None,
                runners,
            )
        )

    for p in picks(rows):
        if group and p.provider != group[0].provider:
            flush()
            group = []
        group.append(p)
    flush()
    return out


@dataclass(frozen=True)
class Headline:
    """Where the 8-bit block-scaled providers beat bf16 on one device, by band of M."""

    band: str
    points: int  # (shape, M) points with a correct winner and a correct bf16 row
    wins: int  # points where a block-scaled provider beats bf16
    median_speedup: float | None  # median over points of bf16 / best block-scaled latency
    top_provider: str | None  # the block-scaled provider that wins most often in this band


BANDS = (("M ≤ 16 (decode)", 1, 16), ("16 < M ≤ 256", 17, 256), ("M > 256 (prefill)", 257, 1 << 62))


def headlines(rows_by_shape: Iterable[list[BenchRow]]) -> list[Headline]:
    """Summaries for the home page: in each band of M, how often and by how much the fastest
    correct block-scaled provider beats the bf16 baseline (speedup < 1 means bf16 is faster)."""
    stats: dict[str, tuple[list[float], dict[str, int]]] = {b[0]: ([], {}) for b in BANDS}
    for rows in rows_by_shape:
        by_m: dict[int, list[BenchRow]] = {}
        for row in rows:
            by_m.setdefault(row.M, []).append(row)
        for m, at_m in by_m.items():
            ok = [r for r in at_m if r.measurement.status == Status.OK and r.measurement.latency_us]
            base = next((r for r in ok if providers.style(r.provider).is_baseline), None)
            block = [
                r
                for r in ok
                if providers.style(r.provider).drop_in_block
                and not providers.style(r.provider).is_baseline
            ]
            if base is None or not block:
                continue
            best = min(block, key=lambda r: r.measurement.latency_us or 0.0)
            band = next(b[0] for b in BANDS if b[1] <= m <= b[2])
            speedups, winners = stats[band]
            speedups.append(
                (base.measurement.latency_us or 0.0) / (best.measurement.latency_us or 1.0)
            )
            winners[best.provider] = winners.get(best.provider, 0) + 1
    out = []
    for band, _, _ in BANDS:
        speedups, winners = stats[band]
        out.append(
            Headline(
                band=band,
                points=len(speedups),
                wins=sum(1 for s in speedups if s > 1.0),
                median_speedup=statistics.median(speedups) if speedups else None,
                top_provider=max(winners, key=lambda p: winners[p]) if winners else None,
            )
        )
    return out
