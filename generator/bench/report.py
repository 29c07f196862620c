"""What a finished sweep prints: its status counts, and the mla sweep beside the published
figures it is compared with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from generator.data.external_figures import mla_figures
from generator.data.records import BenchRow, Status


def status_summary(rows: Iterable[BenchRow]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.measurement.status.value] = counts.get(r.measurement.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no rows"


def mla_table(rows: Sequence[BenchRow]) -> str:
    """The MLA sweep next to the published figures: TFLOP/s per provider and its ratio."""
    providers = list(dict.fromkeys(r.provider for r in rows))
    points: dict[tuple[int, int, int, int], dict[str, BenchRow]] = {}
    for r in rows:
        points.setdefault((r.B, r.M, r.N, r.K), {})[r.provider] = r
    figures = mla_figures()
    header = ["B", "M", "N", "K", figures.device] + [f"{p} (x)" for p in providers]
    lines = [header]
    for key in sorted(points, key=lambda k: (k[0], k[1], -k[2])):
        ref = figures.at(*key)
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
