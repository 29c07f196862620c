"""Chart specs for the catalog pages: compact JSON that the page script turns into Plotly plots.

Why not Plotly figures: a chart here has several *views* of the same rows (TFLOP/s, speedup
over bf16, over each engine's Triton kernel with its own files, over the default config, percent
of roofline) and a legend the reader toggles; the page script
(``docs/assets/javascripts/catalog.js``) builds the Plotly traces for the view shown, in the
colours of the current light / dark palette. The spec holds only numbers and escaped labels, so
every value a chart can draw is computed (and tested) here.

Rules every chart follows:

* at most :data:`providers.MAX_SHOWN` providers are drawn by default: the installable one, the
  engines' Triton kernel with their own files, bf16 and the fastest other kernel; the others are
  listed in the legend, one click away;
* the engines' Triton kernel with their own files is named by what the dispatch rules say the
  engine runs on the page's GPU (:class:`verdict.Reference`): "today", "what the engines run
  without our files", only where that is Triton; elsewhere (DeepGEMM on Hopper) it is what runs
  only if Triton runs, and a view or a legend group never reads as what the reader runs;
* a provider's line joins only rows whose status is ``ok``; an invalid row is a gap in its line
  and a cross in the provider's colour at the bottom of the plot whose hover says the status and
  the message, so a failed or wrong result can never be read as a number;
* a y axis is logarithmic where its values span more than :data:`LOG_SPAN`;
* colours come from :mod:`generator.site.providers`, adjusted to stand out from each palette's
  background; strings from the data are escaped once for Plotly's subset of HTML
  (:func:`plotly_text`), which the legend's HTML reads the same.
"""

from __future__ import annotations

import html
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from generator.data.records import BenchRow, Status
from generator.data.shipped import shipped_sets
from generator.site import providers
from generator.site.gains import ENGINE_NAMES
from generator.site.providers import ROLE_TITLES, Role
from generator.site.verdict import DefaultTimes, Reference, TritonDefault, same_run

Spec = dict[str, Any]
LOG_SPAN = 30.0  # max / min beyond which an axis is logarithmic
# every speedup view's help ends with the rule that leaves a provider's line with gaps there
SAME_RUN_HELP = "; only rows of one run are divided (a row of another run is a gap)"


def plotly_text(text: str) -> str:
    """``text`` escaped once for a Plotly label, and valid as HTML text or attribute too (the
    legend shows the same names). Plotly reads its labels as a subset of HTML and decodes only
    a few named entities (plotly.js 4.1.1, src/lib/svg_text_utils.js, ``convertEntities``:
    ``amp``, ``lt``, ``gt``, ``nbsp``, ``mu``, ``times``, ``plusmn``, ``deg``) but any numeric
    one: ``html.escape``'s ``&quot;`` was shown as it is, so quotes go as ``&#34;`` and
    ``&#39;``."""
    return html.escape(text, quote=False).replace('"', "&#34;").replace("'", "&#39;")


def _num(x: float | None) -> float | None:
    """Four significant digits: plenty for a chart and a third of the bytes."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def _ok(r: BenchRow | None) -> bool:
    return r is not None and r.measurement.status == Status.OK and bool(r.measurement.latency_us)


# a reason in a hover label: its first words, so that the label fits a phone's plot (the full
# message is in the page's tables and the raw data)
REASON_CHARS = 90


def short_reason(status: str, message: str | None, limit: int = REASON_CHARS) -> str:
    """``status: message`` for a hover label: the message's own leading copy of the status
    dropped ("unsupported: Unsupported: ..." reads as a stutter), cut at a word to ``limit``
    characters with an ellipsis."""
    msg = (message or "").strip()
    if msg.lower().startswith(status.lower() + ":"):
        msg = msg[len(status) + 1 :].strip()
    text = f"{status}: {msg}" if msg else status
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"
    return text


def _invalid_text(row: BenchRow) -> str:
    meas = row.measurement
    return plotly_text(short_reason(meas.status.value, meas.message))


def _group(name: str, published: Callable[[str], bool] | None, engines_today: bool = False) -> str:
    """The legend group: the provider's role, except that an installable provider whose files
    the page does not publish is not "installed by our files" there, and that the engines'
    Triton kernel with their own files is "what the engines run without our files" only where
    they run Triton by default (``engines_today``)."""
    st = providers.style(name)
    if st.role == Role.INSTALLABLE and published is not None and not published(name):
        return providers.NOT_PUBLISHED_TITLE
    if st.role == Role.ENGINE and engines_today:
        return providers.ENGINE_TODAY_TITLE
    return ROLE_TITLES[st.role]


def _series(
    name: str,
    visible: bool,
    group: str | None = None,
    published: Callable[[str], bool] | None = None,
    engines_today: bool = False,
) -> dict[str, Any]:
    st = providers.style(name)
    return {
        "key": name,  # the provider (JSON-escaped when embedded; never rendered by Plotly)
        "name": plotly_text(st.label),
        "group": group or _group(name, published, engines_today),
        "color": st.color_light,
        "color_dark": st.color_dark,
        "dash": st.dash,
        "symbol": st.symbol,
        "visible": visible,
    }


DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _separate_dashes(series: list[dict[str, Any]]) -> None:
    """Lines of one legend group often lie on each other (vLLM's and SGLang's shipped files
    pick the same config at many M): within a group, a series whose dash an earlier one already
    has takes the first dash nobody in the group has, so overlapping lines stay visible apart
    (their colours differ too: providers.PALETTE)."""
    used: dict[str, set[str]] = {}
    for s in series:
        taken = used.setdefault(s["group"], set())
        if s["dash"] in taken:
            s["dash"] = next((d for d in DASHES if d not in taken), s["dash"])
        taken.add(s["dash"])


def best_other(rows: Iterable[BenchRow]) -> str | None:
    """The kernel our files do not install (a library's or a research one) that is the fastest
    correct drop-in at the most batch sizes."""
    by_m: dict[Any, list[BenchRow]] = defaultdict(list)
    for r in rows:
        st = providers.style(r.provider)
        if _ok(r) and st.drop_in_block and st.role in (Role.LIBRARY, Role.OURS):
            by_m[(r.N, r.K, r.B, r.M)].append(r)
    wins = Counter(
        min(rs, key=lambda r: r.measurement.latency_us or 0.0).provider for rs in by_m.values()
    )
    return max(sorted(wins), key=lambda n: wins[n]) if wins else None


def _no_file(rows: list[BenchRow]) -> bool:
    """Whether a shipped-files provider has no file for these rows: none of them ran, and
    they say so (unsupported: the release ships no file for the device and shape)."""
    return (
        bool(rows)
        and not any(_ok(r) for r in rows)
        and any(r.measurement.status == Status.UNSUPPORTED for r in rows)
    )


def default_visible(rows: list[BenchRow]) -> list[str]:
    """Providers drawn before the reader asks: all of them when they are few, else (up to
    MAX_SHOWN) bf16, the installable one, each engine's shipped files (its default config
    instead where the release ships no file for the shape: that is what it runs), the default
    config, each engine's default, and the fastest kernel that no file of ours installs."""
    names = providers.ordered({r.provider for r in rows})
    if len(names) <= providers.MAX_SHOWN:
        return names
    picked: list[str] = []

    def add(n: str | None) -> None:
        if n and n in names and n not in picked and len(picked) < providers.MAX_SHOWN:
            picked.append(n)

    for n in names:
        if providers.style(n).is_baseline:
            add(n)
    add(providers.tuned_fp8(names))
    engine_of = {s.id: s.engine for s in shipped_sets()}
    for set_id, n in providers.shipped(names).items():
        # no file of the release for this shape: what the engine runs is its default config,
        # drawn in place of a line of crosses
        fallback = providers.engine_default(names, engine_of.get(set_id, ""))
        add(fallback if fallback and _no_file([r for r in rows if r.provider == n]) else n)
    add(providers.engine_default(names, "vllm"))
    add(best_other(rows))
    for engine in ENGINE_NAMES:
        add(providers.engine_default(names, engine))
    return picked


def _today(names: list[str]) -> list[tuple[str, str, str, str | None]]:
    """(engine, release name, shipped provider, engine default provider) per engine release
    with rows."""
    out = []
    ship = providers.shipped(names)
    for s in shipped_sets():
        if s.id in ship:
            label = f"{ENGINE_NAMES.get(s.engine, s.engine)} {s.version}"
            out.append((s.engine, label, ship[s.id], providers.engine_default(names, s.engine)))
    return out


def _reference(refs: Mapping[str, Reference] | None, engine: str, name: str) -> Reference:
    """How the chart names ``engine``'s Triton kernel with its own files: the page's reference
    (by its dispatch rules), else one that claims nothing about what runs by default."""
    ref = (refs or {}).get(engine)
    return ref if ref is not None else Reference(engine, name, TritonDefault.UNKNOWN)


def _engine_help(ref: Reference) -> str:
    """A view's hover help: what the reference is, and whether it is what the engine runs."""
    what = "its Triton kernel with its shipped config file, else its default config"
    if ref.today:
        return f"time of what {ref.name} runs today without our files ({what}) / provider time"
    where = (
        f"; by default it runs {', '.join(ref.others)} here, so this runs only if Triton runs"
        if ref.others
        else "; what runs only if it runs the Triton kernel"
    )
    return (
        f"time of {ref.name}'s Triton kernel with its shipped files, else its default "
        f"config{where} / provider time"
    )


def _today_row(
    at: dict[str, BenchRow], shipped_name: str, default_name: str | None
) -> BenchRow | None:
    row = at.get(shipped_name)
    if row is not None and row.measurement.status == Status.UNSUPPORTED and default_name:
        row = at.get(default_name)
    return row if _ok(row) else None


def _default_help(d: DefaultTimes) -> str:
    """The engine-default view's hover help: which backend runs at which M, and what stands in
    where it was not measured."""
    where = ", ".join(
        f"{short} at M = {lo}" + (f"-{hi}" if hi != lo else "") for short, lo, hi in d.backends
    )
    stand = "".join(
        f"; {short} not measured, {providers.style(p).label} stands in" for short, p in d.stand_ins
    )
    return f"time of what {d.name} runs by default ({where}{stand}) / provider time"


def stand_in_notes(d: DefaultTimes, xs: list[int], names: list[str]) -> list[list[Any]]:
    """``[series, x index, note]`` for each point of the engine-default view where the row
    dividing is a stand-in: the stand-in's own point there reads "1×" and must say that it
    stands in for the backend the engine runs there, which was not measured (its hover
    label carries the note)."""
    stand = dict(d.stand_ins)
    out: list[list[Any]] = []
    for i, m in enumerate(xs):
        short = next((b for b, lo, hi in d.backends if lo <= m <= hi), None)
        row = d.rows.get(m)
        if short is None or row is None or stand.get(short) != row.provider:
            continue
        if row.provider in names:
            note = f"stands in for {short}, not measured"
            out.append([names.index(row.provider), i, plotly_text(note)])
    return out


def _view(
    view_id: str,
    label: str,
    y_title: str,
    unit: str,
    ys: list[list[float | None]],
    *,
    ref: float | None = None,
    help_text: str = "",
) -> dict[str, Any]:
    values = [y for s in ys for y in s if y is not None and y > 0]
    log = bool(values) and max(values) / min(values) > LOG_SPAN
    floor = (min(values) / 1.8 if log else 0.0) if values else 0.0
    return {
        "id": view_id,
        "label": label,
        "y_title": y_title + (" (log scale)" if log else ""),
        "unit": unit,
        "log": log,
        "floor": _num(floor),
        "ref": ref,
        "help": help_text,
        "ys": ys,
    }


def lines_chart(
    rows: list[BenchRow],
    *,
    x_title: str = "M (tokens in the batch, log scale)",
    x_of: Callable[[BenchRow], int] = lambda r: r.M,
    x_name: str = "M",
    speedups: bool = True,
    published: Callable[[str], bool] | None = None,
    refs: Mapping[str, Reference] | None = None,
    defaults: Iterable[DefaultTimes] = (),
) -> Spec | None:
    """One line per provider against M, with the views a reader switches between.
    ``published(provider)``: whether the page publishes a file that installs it (None: not
    known, the provider's role decides its legend group). ``refs``: per engine, how the page
    names its Triton kernel with its own files (:attr:`verdict.EngineVerdict.reference`; None:
    not known, and no view or group says it is what the engine runs). ``defaults``: per engine
    whose default is not Triton at some M, what it runs by default and its rows (a view of
    every provider against it). A ratio view divides only rows of one run: a pair measured
    by different runs is a gap, never a ratio."""
    if not rows:
        return None
    xs = sorted({x_of(r) for r in rows})
    index = {x: i for i, x in enumerate(xs)}
    by_provider: dict[str, dict[int, BenchRow]] = defaultdict(dict)
    for r in rows:
        by_provider[r.provider].setdefault(index[x_of(r)], r)
    names = providers.ordered(list(by_provider))
    shown = set(default_visible(rows))
    at_x: list[dict[str, BenchRow]] = [dict() for _ in xs]
    for n, pts in by_provider.items():
        for i, r in pts.items():
            at_x[i][n] = r

    today = _today(names)
    row_at = [
        [at_x[i].get(n) if _ok(at_x[i].get(n)) else None for i in range(len(xs))] for n in names
    ]
    # "what the engines run without our files" only where every engine runs Triton by default
    engines_today = bool(refs) and all(r.today for r in (refs or {}).values())
    lat = [[_num(r.measurement.latency_us) if r else None for r in rows_k] for rows_k in row_at]
    series = []
    for n, lat_n in zip(names, lat, strict=True):
        s = _series(n, n in shown, published=published, engines_today=engines_today)
        s["lat"] = lat_n
        s["bad"] = [[i, _invalid_text(r)] for i, r in sorted(by_provider[n].items()) if not _ok(r)]
        series.append(s)
    if not any(any(v is not None for v in lat_s) for lat_s in lat) and not any(
        s["bad"] for s in series
    ):
        return None

    def ratio(view_id: str, label: str, y_title: str, ref_rows, help_text: str) -> dict:
        """A speedup view: every provider against ``ref_rows``; its help says the rule."""
        return _view(
            view_id,
            label,
            y_title,
            "×",
            ratio_view(ref_rows),
            ref=1.0,
            help_text=help_text + SAME_RUN_HELP,
        )

    def ratio_view(ref_rows: list[BenchRow | None]) -> list[list[float | None]]:
        """Every provider against ``ref_rows`` (by x), where both rows are of one run."""
        return [
            [
                _num(ref.measurement.latency_us / row.measurement.latency_us)
                if row is not None
                and ref is not None
                and same_run(ref, row)
                and row.measurement.latency_us
                and ref.measurement.latency_us
                else None
                for ref, row in zip(ref_rows, rows_k, strict=True)
            ]
            for rows_k in row_at
        ]

    views = [
        _view(
            "tflops",
            "TFLOP/s",
            "TFLOP/s",
            " TFLOP/s",
            [
                [
                    _num(by_provider[n][i].measurement.tflops) if lat[k][i] is not None else None
                    for i in range(len(xs))
                ]
                for k, n in enumerate(names)
            ],
            help_text="throughput: 2·M·N·K / time",
        )
    ]
    if speedups:
        base = next((n for n in names if providers.style(n).is_baseline), None)
        if base:
            views.append(
                ratio(
                    "bf16",
                    "× bf16",
                    "speedup over bf16",
                    row_at[names.index(base)],
                    "bf16 time / provider time: above 1 is faster than the layer in bf16",
                )
            )
        for engine, label, ship, default in today:
            ref_rows = [_today_row(at_x[i], ship, default) for i in range(len(xs))]
            ref = _reference(refs, engine, label)
            views.append(
                ratio(
                    "today-" + html.escape(ship),
                    f"× {ref.short}",
                    f"speedup over {ref.short}",  # short: the axis title must fit the plot
                    ref_rows,
                    _engine_help(ref),
                )
            )
        for d in defaults:
            d_rows = [d.rows.get(x) for x in xs]
            if not any(r is not None for r in d_rows):
                continue
            view = ratio(
                "engine-default-" + html.escape(d.engine),
                f"× {d.name} default",
                f"speedup over {d.name}'s default",
                [r if _ok(r) else None for r in d_rows],
                _default_help(d),
            )
            notes = stand_in_notes(d, xs, names)
            if notes:
                view["notes"] = notes
            views.append(view)
        default = providers.engine_default(names, "vllm")
        if default:
            views.append(
                ratio(
                    "default",
                    "× default config",
                    "speedup over the default config",
                    row_at[names.index(default)],
                    "time with the kernel's default config (no file) / provider time",
                )
            )
    if any(r.roofline_pct is not None for r in rows):
        views.append(
            _view(
                "roofline",
                "% of roofline",
                "% of roofline",
                " %",
                [
                    [
                        _num(by_provider[n][i].roofline_pct) if lat[k][i] is not None else None
                        for i in range(len(xs))
                    ]
                    for k, n in enumerate(names)
                ],
                help_text="roofline time (device ceilings) / measured time",
            )
        )
    _separate_dashes(series)
    return {
        "type": "lines",
        "hovermode": "x unified",  # every line's value at the x under the pointer
        "x": xs,
        "x_title": x_title,
        "x_name": x_name,
        "x_log": True,
        "series": series,
        "views": views,
    }


def model_chart(
    rows: list[BenchRow],
    published: Callable[[str], bool] | None = None,
    refs: Mapping[str, Reference] | None = None,
    defaults: Iterable[DefaultTimes] = (),
) -> Spec | None:
    return lines_chart(rows, published=published, refs=refs, defaults=defaults)


def square_chart(
    rows: list[BenchRow],
    published: Callable[[str], bool] | None = None,
    refs: Mapping[str, Reference] | None = None,
) -> Spec | None:
    """Sweeps other than model / mla: TFLOP/s against the swept size."""
    square = all(r.M == r.N == r.K for r in rows)
    return lines_chart(
        rows,
        published=published,
        refs=refs,
        x_title="M = N = K (log scale)" if square else "M (tokens in the batch, log scale)",
        x_name="M=N=K" if square else "M",
    )


# Bars of one group stand side by side as filled areas, where a reader tells them apart by
# colour alone (no dash, no marker): every two colours of a bar chart differ by at least this
# CIELAB Delta-E as drawn on both page palettes (the line charts' palette guarantees 19, and
# legible() darkens the light greens of the batched providers' slots towards one olive).
BAR_MIN_DELTA_E = 40.0


def _lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB ``#rrggbb`` colour."""
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))


def delta_e(a: str, b: str) -> float:
    """Perceptual distance of two colours (CIE76)."""
    return math.dist(_lab(a), _lab(b))


def bar_colours(n: int) -> list[tuple[str, str]]:
    """``n`` (light, dark) colour pairs for the bars of one chart: palette entries in order,
    each taken only if it differs by :data:`BAR_MIN_DELTA_E` from every one taken, on both
    page backgrounds (the largest smallest distance reachable where the palette runs out)."""
    drawn = [
        (providers.legible(c, providers.LIGHT_BG), providers.legible(c, providers.DARK_BG))
        for c in providers.PALETTE
    ]
    for floor in (BAR_MIN_DELTA_E, 30.0, 20.0, 0.0):
        picked: list[tuple[str, str]] = []
        for pair in drawn:
            if all(
                delta_e(pair[0], q[0]) >= floor and delta_e(pair[1], q[1]) >= floor for q in picked
            ):
                picked.append(pair)
            if len(picked) == n:
                return picked
    return (drawn * (n // len(drawn) + 1))[:n]


def mla_label(b: int, m: int, n: int, k: int) -> str:
    return f"B={b} M={m} {n}x{k}"


def mla_chart(rows: list[BenchRow], reference_label: str | None) -> Spec | None:
    """Grouped bars per (B, M, N, K) point: every provider on this GPU, its speedup over bf16
    bmm, and (in the TFLOP/s view only, off until the reader ticks it) the other vendor's
    published figure, marked as such."""
    order = sorted({(r.N, r.K, r.B, r.M) for r in rows}, key=lambda t: (-t[0], t[2], t[3]))
    if not order:
        return None
    cats = [mla_label(b, m, n, k) for n, k, b, m in order]
    index = {key: i for i, key in enumerate(order)}
    by_provider: dict[str, dict[int, BenchRow]] = defaultdict(dict)
    refs: dict[int, float] = {}
    for r in rows:
        i = index[(r.N, r.K, r.B, r.M)]
        by_provider[r.provider].setdefault(i, r)
        if r.reference_tflops is not None:
            refs.setdefault(i, r.reference_tflops)
    names = providers.ordered(list(by_provider))
    base = next((n for n in names if providers.style(n).is_baseline), None)
    series, tflops, speed = [], [], []
    for n in names:
        s = _series(n, True)
        pts = by_provider[n]
        lat = [pts[i].measurement.latency_us if _ok(pts.get(i)) else None for i in range(len(cats))]
        s["lat"] = [_num(v) for v in lat]
        s["bad"] = [[i, _invalid_text(r)] for i, r in sorted(pts.items()) if not _ok(r)]
        series.append(s)
        tflops.append(
            [_num(pts[i].measurement.tflops) if lat[i] else None for i in range(len(cats))]
        )
        if base:
            b = by_provider[base]
            speed.append(
                [
                    _num((b[i].measurement.latency_us or 0) / lat[i])
                    if lat[i] and _ok(b.get(i))
                    else None
                    for i in range(len(cats))
                ]
            )
    if refs:
        series.append(
            {
                "key": None,
                "name": plotly_text(
                    f"{reference_label or 'reference'} (published figure, another GPU)"
                ),
                "group": "Another vendor's published figure (not measured here)",
                "color": "#8a8a8a",
                "color_dark": "#a8a8a8",
                "dash": "solid",
                "symbol": "square",
                "visible": False,  # another GPU: drawn only when the reader ticks it
                "pattern": "/",
                "lat": [None] * len(cats),
                "bad": [],
            }
        )
        tflops.append([_num(refs.get(i)) for i in range(len(cats))])
        speed.append([None] * len(cats))
    for s_, (light, dark) in zip(series, bar_colours(len(series)), strict=True):
        s_["color"], s_["color_dark"], s_["dash"] = light, dark, "solid"  # bars: colour alone
    views = [_view("tflops", "TFLOP/s", "TFLOP/s", " TFLOP/s", tflops)]
    if base:
        views.append(
            _view(
                "bf16",
                "× bf16 bmm",
                "speedup over bf16 torch.bmm",
                "×",
                speed,
                ref=1.0,
                help_text="bf16 bmm time / provider time, on this GPU",
            )
        )
    return {
        "type": "bars",
        "hovermode": "x unified",
        "x": cats,
        "x_title": "",
        "x_log": False,
        "series": series,
        "views": views,
    }
