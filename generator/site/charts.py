"""Plotly figure specs (plain dicts) for the catalog pages.

Why plain dicts: they are what ``Plotly.newPlot`` takes, they serialize straight to JSON, and
building hundreds of them is much faster than through ``plotly.graph_objects`` validation.

Rules every chart follows:

* a provider's line joins only rows whose status is ``ok``; an invalid row is a gap in the line
  and a red cross in one separate "invalid" trace whose hover says the status and the message,
  so a failed or wrong result can never be read as a number;
* providers are styled only through :mod:`generator.site.providers`;
* colours of the background, text and grid are left to the page script, which follows the
  light / dark theme; strings from the data are HTML-escaped (Plotly renders a subset of HTML).
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from generator.data.records import BenchRow, Status, TuneFile
from generator.site import providers

Figure = dict[str, Any]
INVALID_NAME = "invalid (no result)"


def _num(x: float | None) -> float | None:
    """Four significant digits: plenty for a chart and a third of the bytes."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def _layout(title: str, x_title: str, y_title: str, *, log_x: bool, log_y: bool = False) -> dict:
    return {
        "title": {"text": html.escape(title), "font": {"size": 14}, "x": 0.01},
        "xaxis": {"title": {"text": x_title}, "type": "log" if log_x else "linear"},
        "yaxis": {
            "title": {"text": y_title},
            "type": "log" if log_y else "linear",
            "rangemode": "tozero",
        },
        "margin": {"l": 60, "r": 10, "t": 40, "b": 50},
        "legend": {"orientation": "h", "y": -0.22, "yanchor": "top"},
        "hovermode": "closest",
        "height": 440,
    }


def _invalid_text(row: BenchRow) -> str:
    meas = row.measurement
    msg = f"{providers.style(row.provider).label}: {meas.status.value}"
    if meas.message:
        msg += f" ({meas.message[:200]})"
    return html.escape(msg) + f"<br>M={row.M}"


def _invalid_trace(x: list[Any], y: list[float], text: list[str]) -> dict:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": INVALID_NAME,
        "x": x,
        "y": y,
        "text": text,
        "hovertemplate": "%{text}<extra></extra>",
        "marker": {"symbol": "x-thin-open", "size": 11, "color": "#d62728", "line": {"width": 2}},
    }


def _provider_line(provider: str, xs: list[Any], ys: list[float | None], custom: list[Any]) -> dict:
    st = providers.style(provider)
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": html.escape(st.label),
        "x": xs,
        "y": ys,
        "customdata": custom,
        "connectgaps": False,
        "line": {"color": st.color, "dash": st.dash, "width": 2},
        "marker": {"symbol": st.symbol, "size": 7, "color": st.color},
    }


def _dedup(rows: Iterable[BenchRow]) -> dict[str, dict[int, BenchRow]]:
    """provider -> M -> row (the first one wins if a sweep measured a point twice)."""
    out: dict[str, dict[int, BenchRow]] = defaultdict(dict)
    for row in rows:
        out[row.provider].setdefault(row.M, row)
    return out


def metric_vs_m(
    rows: list[BenchRow],
    title: str,
    y_title: str,
    value: Callable[[BenchRow], float | None],
    *,
    log_y: bool = False,
    invalid_at: Callable[[BenchRow], float | None] = lambda r: 0.0,
    hover_unit: str = "",
) -> Figure | None:
    """One line per provider of ``value(row)`` against M (log x); ``None`` when nothing to draw.

    ``invalid_at`` places the invalid markers (0 by default; the error chart puts an incorrect
    row at its error, which is the interesting number there)."""
    by_provider = _dedup(rows)
    ms = sorted({r.M for r in rows})
    data = []
    inv_x: list[Any] = []
    inv_y: list[float] = []
    inv_text: list[str] = []
    for provider in providers.ordered(list(by_provider)):
        points = by_provider[provider]
        ys: list[float | None] = []
        custom: list[Any] = []
        for m in ms:
            row = points.get(m)
            ok = row is not None and row.measurement.status == Status.OK
            ys.append(_num(value(row)) if ok and row is not None else None)
            custom.append(_num(row.measurement.latency_us) if ok and row is not None else None)
            if row is not None and not ok:
                where = invalid_at(row)
                if where is not None:
                    inv_x.append(m)
                    inv_y.append(_num(where) or 0.0)
                    inv_text.append(_invalid_text(row))
        if any(y is not None for y in ys):
            trace = _provider_line(provider, ms, ys, custom)
            trace["hovertemplate"] = (
                "%{fullData.name}<br>M=%{x}<br>%{y:.3g}"
                + hover_unit
                + " (%{customdata} µs)<extra></extra>"
            )
            data.append(trace)
    if inv_x:
        data.append(_invalid_trace(inv_x, inv_y, inv_text))
    if not data:
        return None
    return {
        "data": data,
        "layout": _layout(title, "M (tokens, log scale)", y_title, log_x=True, log_y=log_y),
    }


def tflops_chart(rows: list[BenchRow], title: str) -> Figure | None:
    return metric_vs_m(
        rows, title, "TFLOP/s", lambda r: r.measurement.tflops, hover_unit=" TFLOP/s"
    )


def roofline_chart(rows: list[BenchRow], title: str) -> Figure | None:
    if not any(r.roofline_pct is not None for r in rows):
        return None
    return metric_vs_m(rows, title, "% of roofline", lambda r: r.roofline_pct, hover_unit=" %")


def error_chart(rows: list[BenchRow], title: str) -> Figure | None:
    """Relative Frobenius error against the fp32 reference; an incorrect row sits at its error."""
    if not any(r.measurement.rel_error for r in rows):
        return None

    def err(r: BenchRow) -> float | None:
        e = r.measurement.rel_error
        return e if e and e > 0 else None

    return metric_vs_m(
        rows, title, "relative error (log)", err, log_y=True, invalid_at=err, hover_unit=""
    )


def tune_speedup_chart(tunes: list[TuneFile], title: str) -> Figure | None:
    """Tuned config over the kernel's default config (the one vLLM uses with no file), per M."""
    data = []
    inv_x: list[Any] = []
    inv_y: list[float] = []
    inv_text: list[str] = []
    for t in tunes:
        xs, ys = [], []
        for rec in t.records:
            w, d = rec.winner, rec.default
            xs.append(rec.M)
            if (
                w
                and w.status == Status.OK
                and w.latency_us
                and d.status == Status.OK
                and d.latency_us
            ):
                ys.append(_num(d.latency_us / w.latency_us))
            else:
                ys.append(None)
                bad = d if (w and w.status == Status.OK) else w
                what = "no correct config" if bad is None else bad.status.value
                who = "default config" if bad is d else "tuned"
                inv_x.append(rec.M)
                inv_y.append(0.0)
                inv_text.append(
                    html.escape(f"{t.kernel} {t.input_type}: {who}: {what}") + f"<br>M={rec.M}"
                )
        if any(y is not None for y in ys):
            name = f"{t.kernel} {t.input_type}" + (f" B={t.B}" if t.B > 1 else "")
            st = providers.style(name)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": html.escape(name),
                    "x": xs,
                    "y": ys,
                    "connectgaps": False,
                    "line": {"color": st.color, "width": 2},
                    "hovertemplate": "%{fullData.name}<br>M=%{x}<br>%{y:.2f}x over default"
                    "<extra></extra>",
                }
            )
    if inv_x:
        data.append(_invalid_trace(inv_x, inv_y, inv_text))
    if not data:
        return None
    layout = _layout(title, "M (tokens, log scale)", "speedup over default config", log_x=True)
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": 1,
            "y1": 1,
            "line": {"dash": "dot", "width": 1, "color": "#888888"},
        }
    ]
    return {"data": data, "layout": layout}


def mla_label(row: BenchRow) -> str:
    return f"B={row.B} M={row.M} {row.N}x{row.K}"


def mla_chart(rows: list[BenchRow], title: str) -> Figure | None:
    """Grouped bars per (B, M, N, K) point: every provider, plus the external reference."""
    order = sorted({(r.N, r.K, r.B, r.M) for r in rows}, key=lambda t: (-t[0], t[2], t[3]))
    cats = [f"B={b} M={m} {n}x{k}" for n, k, b, m in order]
    index = {key: i for i, key in enumerate(order)}
    by_provider = defaultdict(dict)
    refs: dict[int, tuple[float, str]] = {}
    for row in rows:
        i = index[(row.N, row.K, row.B, row.M)]
        by_provider[row.provider].setdefault(i, row)
        if row.reference_tflops is not None:
            refs.setdefault(i, (row.reference_tflops, row.reference_label or "reference"))
    data = []
    inv_x, inv_y, inv_text = [], [], []
    for provider in providers.ordered(list(by_provider)):
        st = providers.style(provider)
        ys = []
        for i in range(len(cats)):
            row = by_provider[provider].get(i)
            ok = row is not None and row.measurement.status == Status.OK
            ys.append(_num(row.measurement.tflops) if ok and row else None)
            if row is not None and not ok:
                inv_x.append(cats[i])
                inv_y.append(0.0)
                inv_text.append(_invalid_text(row))
        if any(y is not None for y in ys):
            data.append(
                {
                    "type": "bar",
                    "name": html.escape(st.label),
                    "x": cats,
                    "y": ys,
                    "marker": {"color": st.color},
                    "hovertemplate": "%{fullData.name}<br>%{x}<br>%{y:.3g} TFLOP/s<extra></extra>",
                }
            )
    if refs:
        label = next(iter(refs.values()))[1]
        data.append(
            {
                "type": "bar",
                "name": html.escape(label),
                "x": cats,
                "y": [_num(refs[i][0]) if i in refs else None for i in range(len(cats))],
                "marker": {"color": "#bbbbbb", "pattern": {"shape": "/"}},
                "hovertemplate": "%{fullData.name}<br>%{x}<br>%{y:.3g} TFLOP/s<extra></extra>",
            }
        )
    if inv_x:
        data.append(_invalid_trace(inv_x, inv_y, inv_text))
    if not data:
        return None
    layout = _layout(title, "", "TFLOP/s", log_x=False)
    layout["xaxis"] = {"type": "category", "tickangle": -45}
    layout["barmode"] = "group"
    layout["height"] = 460
    layout["margin"]["b"] = 120
    layout["legend"]["y"] = -0.45
    return {"data": data, "layout": layout}


def square_chart(rows: list[BenchRow], title: str) -> Figure | None:
    """Sweeps other than model / mla: TFLOP/s against M of every row (square: M = N = K)."""
    return tflops_chart(rows, title)
