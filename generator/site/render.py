"""Render the catalog into MkDocs pages (markdown + HTML fragments) and download files.

Why markdown *and* fragments: MkDocs needs markdown to build the navigation, the table of
contents and the search index, but tables and charts are HTML. So a page template writes
headings in markdown and wraps each HTML block in ``{% call html() %}``; the block is rendered
(with Jinja2 autoescape on: every string from the data is escaped), kept aside, and replaced by
a placeholder that the hook swaps back after markdown ran (``on_page_content``). Markdown never
sees, and cannot mangle, the HTML or the embedded chart JSON.

Headings and page titles contain only names checked by :func:`_title` (MkDocs' own templates do
not escape titles); free-text names (layers, GPU names, messages) appear only inside fragments.
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from generator.data.records import BenchRow, Status, TuneFile
from generator.site import charts, export, providers, recommend
from generator.site.bundles import build_bundle
from generator.site.catalog import Catalog, Device, ModelOnDevice

TEMPLATES = Path(__file__).parent / "templates"
HOME_MARKER = "<!-- blockgemm:catalog -->"
# Left as they are in hrefs (browsers take a space as it is); '#', '?', '%' and quotes encoded.
URL_SAFE = "/=,[]()+:@!$&'*;~ "
_TITLE_OK = re.compile(r"^[A-Za-z0-9 ._,=×()/:+-]*$")


@dataclass
class Page:
    src_uri: str
    markdown: str
    fragments: dict[str, str]  # placeholder -> HTML


@dataclass
class SiteOutput:
    pages: list[Page] = field(default_factory=list)
    downloads: dict[str, bytes] = field(default_factory=dict)  # src_uri -> content
    home: Page | None = None  # fragment spliced into the hand-written docs/index.md
    nav: list[Any] = field(default_factory=list)  # MkDocs nav entries of the generated pages
    charts: int = 0


def _title(text: str) -> str:
    """Page titles and headings go through MkDocs templates unescaped: allow only safe text."""
    if not _TITLE_OK.match(text):
        raise ValueError(f"unsafe text for a heading: {text!r}")
    return text


def _script_json(obj: Any) -> Markup:
    """JSON that is safe inside <script>: no '<', '>' or '&' can end the element early."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell: "—" for none, and for what no quantity shown can be (NaN,
    infinite, negative; ``validate`` refuses such data, this keeps a page honest regardless)."""
    if value is None or not math.isfinite(value) or value < 0:
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def _m_range(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


class _Renderer:
    """One build: the Jinja2 environment plus the page URL scheme (``use_directory_urls``)."""

    def __init__(self, use_directory_urls: bool) -> None:
        self.use_directory_urls = use_directory_urls
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["fmt"] = _fmt
        self.env.filters["title"] = _title
        self.env.filters["script_json"] = _script_json
        self.env.globals.update(
            style=providers.style,
            m_range=_m_range,
            CONFIG_KEYS=export.CONFIG_KEYS,
            Status=Status,
            BASELINE=providers.BASELINE,
        )
        self.n_charts = 0

    def dest(self, src_uri: str) -> str:
        """Site-relative path of the file built from ``src_uri``."""
        if not src_uri.endswith(".md"):
            return src_uri
        stem = src_uri[:-3]
        if not self.use_directory_urls:
            return stem + ".html"
        if posixpath.basename(stem) == "index":
            return stem + ".html"
        return stem + "/index.html"

    def href(self, from_src: str, to_src: str) -> str:
        """Relative link between two generated files; works from file:// and any base URL."""
        from_dir = posixpath.dirname(self.dest(from_src))
        target = self.dest(to_src)
        rel = posixpath.relpath(target, from_dir or ".")
        if self.use_directory_urls and rel.endswith("/index.html") and to_src.endswith(".md"):
            rel = rel[: -len("index.html")]
        # URL-encoded: a '#' or '?' in a file name would start a fragment or a query
        return urllib.parse.quote(rel, safe=URL_SAFE)

    def page(self, template: str, src_uri: str, **context: Any) -> Page:
        fragments: dict[str, str] = {}

        def stash(content: str) -> Markup:
            key = f'<div data-bg-slot="{len(fragments)}"></div>'
            fragments[key] = str(content)
            return Markup(f"\n\n{key}\n\n")

        def chart(fig: dict | None, chart_id: str) -> Markup:
            if fig is None:
                return Markup("")
            self.n_charts += 1
            tpl = self.env.get_template("_chart.html.j2")
            return Markup(tpl.render(fig=fig, n=len(fig["data"]), chart_id=chart_id))

        def link(to_src: str) -> str:
            return self.href(src_uri, to_src)

        markdown = self.env.get_template(template).render(
            stash=stash, chart=chart, link=link, src_uri=src_uri, **context
        )
        return Page(src_uri=src_uri, markdown=markdown, fragments=fragments)


def _device_src(d: Device) -> str:
    return f"devices/{d.slug}/index.md"


def _model_src(d: Device, m: ModelOnDevice) -> str:
    return f"devices/{d.slug}/{m.slug}.md"


def _mla_src(d: Device) -> str:
    return f"devices/{d.slug}/a16w8-mla.md"


def _bundle_src(d: Device) -> str:
    return f"devices/{d.slug}/downloads/{d.slug}-configs.zip"


def _tune_rows(t: TuneFile) -> list[dict[str, Any]]:
    out = []
    for rec in t.records:
        w, d = rec.winner, rec.default
        speedup = None
        if w and w.latency_us and d.status == Status.OK and d.latency_us:
            speedup = d.latency_us / w.latency_us
        out.append(
            {
                "M": rec.M,
                "config": (w.config or {}) if w else {},
                "status": w.status.value if w else "no correct config",
                "tuned_us": w.latency_us if w else None,
                "default_us": d.latency_us if d.status == Status.OK else None,
                "default_status": d.status.value,
                "speedup": speedup,
                "timed": rec.configs_timed,
                "space": rec.configs_in_space,
            }
        )
    return out


def _error_table(rows: list[BenchRow]) -> list[dict[str, Any]]:
    """Per provider: worst error among correct rows and how many rows had each status."""
    out: dict[str, dict[str, Any]] = {}
    for name in providers.ordered({r.provider for r in rows}):
        mine = [r for r in rows if r.provider == name]
        errs = [r.measurement.rel_error for r in mine if r.measurement.rel_error is not None]
        ok_errs = [
            r.measurement.rel_error
            for r in mine
            if r.measurement.status == Status.OK and r.measurement.rel_error is not None
        ]
        counts: dict[str, int] = {}
        for r in mine:
            counts[r.measurement.status.value] = counts.get(r.measurement.status.value, 0) + 1
        out[name] = {
            "max_ok": max(ok_errs) if ok_errs else None,
            "max_any": max(errs) if errs else None,
            "counts": counts,
        }
    return [{"provider": k, **v} for k, v in out.items()]


def _mla_table(rows: list[BenchRow]) -> tuple[list[str], list[dict[str, Any]]]:
    names = providers.ordered({r.provider for r in rows})
    points: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    for r in rows:
        p = points.setdefault(
            (r.B, r.M, r.N, r.K),
            {"B": r.B, "M": r.M, "N": r.N, "K": r.K, "cells": {}, "ref": None, "ref_label": None},
        )
        p["cells"].setdefault(r.provider, r)
        if r.reference_tflops is not None and p["ref"] is None:
            p["ref"], p["ref_label"] = r.reference_tflops, r.reference_label
    out = []
    for key in sorted(points, key=lambda k: (-k[2], k[0], k[1])):
        p = points[key]
        ok = [
            r
            for r in p["cells"].values()
            if r.measurement.status == Status.OK and r.measurement.tflops is not None
        ]
        best = max(ok, key=lambda r: r.measurement.tflops or 0.0) if ok else None
        p["best"] = best.provider if best else None
        p["best_tflops"] = best.measurement.tflops if best else None
        p["vs_ref"] = (
            best.measurement.tflops / p["ref"]
            if best and p["ref"] and best.measurement.tflops
            else None
        )
        out.append(p)
    return names, out


def render_site(catalog: Catalog, use_directory_urls: bool = False) -> SiteOutput:
    """Every generated page and download of the catalog."""
    r = _Renderer(use_directory_urls)
    out = SiteOutput()
    headlines = {}
    for d in catalog.devices:
        shapes = [rows for m in d.models for rows in m.rows.values()]
        headlines[d.name] = recommend.headlines(shapes)
        nav_children: list[Any] = [_device_src(d)]
        for m in d.models:
            src = _model_src(d, m)
            base = f"devices/{d.slug}/downloads/{m.slug}"
            rows = [row for rs in m.rows.values() for row in rs]
            out.downloads[base + ".csv"] = export.bench_csv(rows).encode()
            tunes = [t for ts in m.tunes.values() for t in ts]
            out.downloads[base + ".json"] = export.records_json(
                {
                    "device": d.name,
                    "provenance": d.provenance,
                    "ceilings": d.ceilings,
                    "model": m.id,
                    "rows": rows,
                    "tuning": tunes,
                }
            ).encode()
            sections = []
            for shape in m.shapes:
                nk = (shape.N, shape.K)
                srows = m.rows.get(nk, [])
                stunes = m.tunes.get(nk, [])
                sections.append(
                    {
                        "shape": shape,
                        "rows": srows,
                        "ranges": recommend.ranges(srows),
                        "tflops": charts.tflops_chart(srows, f"TFLOP/s, N={shape.N} K={shape.K}"),
                        "speedup": charts.tune_speedup_chart(
                            stunes, f"Tuned vs default config, N={shape.N} K={shape.K}"
                        ),
                        "roofline": charts.roofline_chart(
                            srows, f"Percent of roofline, N={shape.N} K={shape.K}"
                        ),
                        "error": charts.error_chart(
                            srows, f"Relative error vs fp32, N={shape.N} K={shape.K}"
                        ),
                        "errors": _error_table(srows),
                        "tunes": [(t, _tune_rows(t)) for t in stunes],
                    }
                )
            out.pages.append(
                r.page(
                    "model.md.j2",
                    src,
                    d=d,
                    m=m,
                    sections=sections,
                    device_src=_device_src(d),
                    csv_src=base + ".csv",
                    json_src=base + ".json",
                    providers_seen=providers.ordered({row.provider for row in rows}),
                )
            )
            nav_children.append({m.slug: src})
        if d.mla_rows:
            base = f"devices/{d.slug}/downloads/a16w8-mla"
            out.downloads[base + ".csv"] = export.bench_csv(d.mla_rows).encode()
            out.downloads[base + ".json"] = export.records_json(
                {
                    "device": d.name,
                    "provenance": d.provenance,
                    "rows": d.mla_rows,
                    "tuning": d.batched_tunes,
                }
            ).encode()
            names, table = _mla_table(d.mla_rows)
            out.pages.append(
                r.page(
                    "mla.md.j2",
                    _mla_src(d),
                    d=d,
                    names=names,
                    table=table,
                    fig=charts.mla_chart(d.mla_rows, "A16W8 batched GEMM, TFLOP/s"),
                    tunes=[(t, _tune_rows(t)) for t in d.batched_tunes],
                    device_src=_device_src(d),
                    csv_src=base + ".csv",
                    json_src=base + ".json",
                )
            )
            nav_children.append({"A16W8 MLA": _mla_src(d)})

        base = f"devices/{d.slug}/downloads/{d.slug}"
        all_rows = [row for rows in d.bench.values() for row in rows]
        out.downloads[base + "-bench.csv"] = export.bench_csv(all_rows).encode()
        out.downloads[base + "-tuning.csv"] = export.tune_csv(d.tunes).encode()
        raw = []
        for path in d.raw_files:
            rel = path.relative_to(d.root).as_posix()
            src = f"devices/{d.slug}/raw/{rel}"
            out.downloads[src] = path.read_bytes()
            raw.append((rel, src))
        if d.has_configs and (d.root / "device.json").exists():
            out.downloads[_bundle_src(d)] = build_bundle(catalog.root, d.name)
        other_sweeps = []
        for sweep, rows in sorted(d.bench.items()):
            if sweep in ("model", "mla"):
                continue
            groups: dict[tuple[int, int] | None, list[BenchRow]] = {}
            square = all(row.M == row.N == row.K for row in rows)
            for row in rows:
                groups.setdefault(None if square else (row.N, row.K), []).append(row)
            for nk, grows in groups.items():
                label = (
                    f"{sweep} sweep (M = N = K)"
                    if nk is None
                    else f"{sweep} sweep, N={nk[0]} K={nk[1]}"
                )
                other_sweeps.append((label, charts.square_chart(grows, label)))
        out.pages.append(
            r.page(
                "device.md.j2",
                _device_src(d),
                d=d,
                model_srcs=[(m, _model_src(d, m)) for m in d.models],
                mla_src=_mla_src(d) if d.mla_rows else None,
                bundle_src=_bundle_src(d) if _bundle_src(d) in out.downloads else None,
                config_counts={fw: len(files) for fw, files in d.configs.items()},
                headlines=headlines[d.name],
                other_sweeps=other_sweeps,
                raw=raw,
                bench_csv=base + "-bench.csv",
                tuning_csv=base + "-tuning.csv",
            )
        )
        out.nav.append({d.name: nav_children})

    summary = io.StringIO()
    writer = csv.writer(summary, lineterminator="\n")
    writer.writerow(["device", "band", "points", "wins", "median_speedup", "top_provider"])
    for name, hs in headlines.items():
        for h in hs:
            writer.writerow([name, h.band, h.points, h.wins, h.median_speedup, h.top_provider])
    out.downloads["downloads/catalog-summary.csv"] = summary.getvalue().encode()
    model_ids = catalog.model_ids
    out.home = r.page(
        "home.md.j2",
        "index.md",
        catalog=catalog,
        model_ids=model_ids,
        cells={(d.name, m.id): _model_src(d, m) for d in catalog.devices for m in d.models},
        mla={d.name: _mla_src(d) for d in catalog.devices if d.mla_rows},
        device_srcs={d.name: _device_src(d) for d in catalog.devices},
        headlines=headlines,
        summary_src="downloads/catalog-summary.csv",
    )
    out.charts = r.n_charts
    return out
