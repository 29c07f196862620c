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

from generator.configs.engine_files import FileFormat
from generator.data.external_figures import mla_figures
from generator.data.records import SEARCH_V1, BenchRow, Status, TuneFile
from generator.site import (
    charts,
    engines,
    export,
    gains,
    mla_page,
    model_page,
    providers,
    verdict,
)
from generator.site.bundles import zip_device_bundle
from generator.site.catalog import Catalog, Device
from generator.site.model_page import ModelTP
from generator.site.providers import ROLE_ORDER, ROLE_TAGS, ROLE_TITLES, Role
from generator.site.runs import BenchRun, bench_runs
from generator.site.runs import summary as runs_summary

TEMPLATES = Path(__file__).parent / "templates"
HOME_MARKER = "<!-- blockgemm:catalog -->"
PROVIDERS_MARKER = "<!-- blockgemm:providers -->"
ENGINES_MARKER = "<!-- blockgemm:engines -->"
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
    # generated parts of other hand-written pages: src_uri -> (marker, page)
    splices: dict[str, tuple[str, Page]] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)  # every figure stated in a sentence
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


def ratio(value: float | None) -> str:
    """A speedup as printed everywhere (two decimals, so 1.66 and 1.70 differ)."""
    return "—" if value is None else f"{value:.2f}"


_DASHES = {
    "solid": "",
    "dot": "2 3",
    "dash": "6 3",
    "longdash": "10 3",
    "dashdot": "6 2 2 2",
    "longdashdot": "10 2 2 2",
}


def _dasharray(dash: str) -> str:
    return _DASHES.get(dash, "")


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
        self.env.filters["ratio"] = ratio
        self.env.filters["dasharray"] = _dasharray
        self.env.filters["css_color"] = providers.css_color
        self.facts: dict[str, str] = {}
        self.env.globals.update(
            style=providers.style,
            m_range=_m_range,
            CONFIG_KEYS=export.CONFIG_KEYS,
            Status=Status,
            BASELINE=providers.BASELINE,
            Role=Role,
            ROLE_TITLES=ROLE_TITLES,
            ROLE_TAGS=ROLE_TAGS,
            BANDS=gains.BANDS,
            search_text=gains.search_text,
            SEARCH_V1=SEARCH_V1,
            ENGINE_NAMES=gains.ENGINE_NAMES,
            fact=self.fact,
            prov_summary=runs_summary,
        )
        # bundle READMEs: plain text, not HTML
        self.text_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self.n_charts = 0

    def fact(self, key: str, value: Any, kind: str = "ratio", digits: int = 3) -> Markup:
        """A figure stated in a sentence: printed inside a span that names what it is, so a test
        can recompute every one of them from the records (and the summary CSV lists them).
        ``kind``: "ratio" (two decimals), "int", "fmt" (``digits`` significant), "raw"."""
        if value is None:
            text = "—"
        elif kind == "int":
            text = str(int(value))
        elif kind == "fmt":
            text = _fmt(float(value), digits)
        elif kind == "raw":
            text = str(value)
        else:
            text = ratio(float(value))
        self.facts[key] = text
        return Markup('<span class="bg-fact" data-fact="{}">{}</span>').format(key, text)

    def text(self, template: str, **context: Any) -> str:
        return self.text_env.get_template(template).render(**context)

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

        def chart(
            spec: dict | None, chart_id: str, title: str, note: str = "", wide: bool = False
        ) -> Markup:
            if spec is None:
                return Markup("")
            self.n_charts += 1
            groups: dict[str, list[tuple[int, dict[str, Any], str]]] = {}
            for k, s in enumerate(spec["series"]):
                desc = (
                    providers.style(s["key"]).description
                    if s.get("key")
                    else "a figure published elsewhere, not measured here"
                )
                groups.setdefault(s["group"], []).append((k, s, desc))
            order = [ROLE_TITLES[role] for role in ROLE_ORDER]
            order.insert(1, providers.NOT_PUBLISHED_TITLE)  # after "Installed by our files"
            order.insert(order.index(ROLE_TITLES[Role.ENGINE]), providers.ENGINE_TODAY_TITLE)
            ordered = sorted(
                groups.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)
            )
            tpl = self.env.get_template("_chart.html.j2")
            return Markup(
                tpl.render(
                    spec=spec,
                    n=len(spec["series"]),
                    shown=sum(1 for s in spec["series"] if s["visible"]),
                    groups=ordered,
                    chart_id=chart_id,
                    title=title,
                    note=note,
                    wide=wide,
                    Markup=Markup,
                )
            )

        def link(to_src: str) -> str:
            return self.href(src_uri, to_src)

        markdown = self.env.get_template(template).render(
            stash=stash, chart=chart, link=link, src_uri=src_uri, **context
        )
        return Page(src_uri=src_uri, markdown=markdown, fragments=fragments)


def _device_src(d: Device) -> str:
    return f"devices/{d.slug}/index.md"


def _model_src(d: Device, mt: ModelTP) -> str:
    return f"devices/{d.slug}/{mt.slug}.md"


def _mla_src(d: Device) -> str:
    return f"devices/{d.slug}/a16w8-mla.md"


def _bundle_src(d: Device) -> str:
    return f"devices/{d.slug}/downloads/{d.slug}-configs.zip"


# Links for the external reference figures the benchmark records (by their recorded label).
REFERENCE_LINKS = {mla_figures().label: mla_figures().source}


def _provider_table() -> list[dict[str, Any]]:
    """Every provider the loaded data has metadata for, grouped by role, for the methodology
    page."""
    out = []
    for n in sorted(providers.known(), key=lambda n: ROLE_ORDER.index(providers.style(n).role)):
        st = providers.style(n)
        out.append({"name": n, "style": st, "role": ROLE_TITLES[st.role]})
    return out


SUMMARY_SRC = "downloads/catalog-summary.csv"


def render_site(catalog: Catalog, use_directory_urls: bool = False) -> SiteOutput:
    """Every generated page and download of the catalog, made from what
    :func:`generator.site.catalog.load_catalog` read: nothing here touches the disk, so what is
    rendered is what was validated."""
    r = _Renderer(use_directory_urls)
    out = SiteOutput()
    summaries = [_render_device(r, out, catalog, d) for d in catalog.devices]
    out.home = _home_page(r, catalog, summaries)
    out.splices["methodology.md"] = (
        PROVIDERS_MARKER,
        r.page("providers.md.j2", "methodology.md", table=_provider_table()),
    )
    out.splices["installing.md"] = (
        ENGINES_MARKER,
        r.page(
            "engines.md.j2",
            "installing.md",
            engines=engines.engines(),
            forcing_measured=_forcing_measured(summaries),
        ),
    )
    out.facts = dict(r.facts)  # every page is rendered: every figure has been stated
    out.downloads[SUMMARY_SRC] = _summary_csv(out.facts)
    out.charts = r.n_charts
    return out


# the verdicts that weigh forcing Triton against the engine's default (measured cells where
# forcing acts); "install" and the others draw nothing about forcing
_FORCING_DECISIONS = (verdict.Decision.KEEP, verdict.Decision.MIXED, verdict.Decision.FORCE)


def _forcing_measured(
    summaries: list[dict[str, Any]],
) -> dict[str, list[tuple[Device, str, list[tuple[verdict.Decision, int]], int]]]:
    """Per engine id, the GPUs where forcing Triton was measured against the default: (device,
    its page, the model pages' verdicts that weigh forcing with their counts, its model
    pages). Computed from the verdicts, so that the installing page's word on forcing is what
    was measured, per GPU, never typed."""
    out: dict[str, list[tuple[Device, str, list[tuple[verdict.Decision, int]], int]]] = {}
    for s in summaries:
        for name, counts in s["verdicts"]:
            weighed = [(dec, n) for dec, n in counts if dec in _FORCING_DECISIONS]
            if weighed:
                engine = s["engines"][name]
                total = sum(n for _, n in counts)
                out.setdefault(engine, []).append((s["d"], _device_src(s["d"]), weighed, total))
    return out


def _render_device(r: _Renderer, out: SiteOutput, catalog: Catalog, d: Device) -> dict[str, Any]:
    """One device's pages (its models', its MLA page, its own) and downloads, added to ``out``,
    and its navigation entry; returns its row of the home page."""
    vllm_files = {f.name: f.data for f in d.configs.get(FileFormat.VLLM.value, [])}
    installed = gains.installed_tunes(d.name, d.tunes, vllm_files)
    model_rows = d.bench.get("model", [])
    # a device's summary pools what plain TP deployments run, as its model pages' medians do:
    # shapes that run only with data-parallel attention are left out (model_page.dp_only_keys)
    dp = model_page.dp_only_keys(catalog, model_rows)
    tp_rows = [r for r in model_rows if (r.model, r.tp, r.N, r.K) not in dp]
    dev_gains = gains.gains(tp_rows, installed, device=d.name)
    dev_others = gains.others(tp_rows)
    nav_children: list[Any] = [_device_src(d)]
    pages: list[tuple[ModelTP, str, model_page.ModelPage]] = []
    for m in d.models:
        for mt in model_page.model_tps(catalog, d, m):
            src = _model_src(d, mt)
            pages.append((mt, src, _render_model(r, out, catalog, d, mt, installed)))
            nav_children.append({mt.title: src})
    if d.mla_rows:
        out.downloads.update(_mla_downloads(d))
        out.pages.append(_mla_page(r, d, catalog))
        nav_children.append({"A16W8 MLA": _mla_src(d)})
    out.downloads.update(_device_downloads(d))
    # how the device's and the home page's rows name each engine's Triton kernel with its
    # shipped files: by what the dispatch rules say it runs on the device's pages
    refs = verdict.combine(v.reference for _, _, mp in pages for v in mp.verdicts)
    out.pages.append(_device_page(r, d, pages, refs))
    out.nav.append({_title(d.title): nav_children})
    return {
        "d": d,
        "gains": dev_gains,
        "others": dev_others,
        "pages": pages,
        "bench_runs": bench_runs(model_rows),
        "runs": model_page.tune_runs(list(installed.values())),
        "scope": f"{d.name}|all",
        "verdicts": verdict.tally(mp.verdicts for _, _, mp in pages),
        "engines": {v.name: v.engine for _, _, mp in pages for v in mp.verdicts},
        "refs": refs,
    }


def _render_model(
    r: _Renderer,
    out: SiteOutput,
    catalog: Catalog,
    d: Device,
    mt: ModelTP,
    installed: dict[tuple[int, int], TuneFile],
) -> model_page.ModelPage:
    """One (device, model, TP) page and its downloads (bundles, single config files, the
    page's rows as CSV and JSON), added to ``out``."""
    src = _model_src(d, mt)
    mp = model_page.build(
        catalog,
        d,
        mt,
        installed,
        lambda **ctx: r.text("bundle_readme.txt.j2", **ctx),
    )
    out.downloads.update(mp.downloads)
    for path, data in _config_downloads(d, mp).items():
        out.downloads.setdefault(path, data)  # several pages link one file: served once
    base = f"{model_page.downloads_dir(d)}/{mt.slug}"
    out.downloads.update(_model_records(d, mt, mp, base))
    out.pages.append(
        r.page(
            "model.md.j2",
            src,
            d=d,
            mt=mt,
            p=mp,
            device_src=_device_src(d),
            csv_src=base + ".csv",
            json_src=base + ".json",
            hopper=engines.is_hopper(d.name),
            scope=f"{d.name}|{mt.scope}",
        )
    )
    return mp


def _config_downloads(d: Device, mp: model_page.ModelPage) -> dict[str, bytes]:
    """The single config files a model page links, by download path, as the catalog read
    them."""
    out: dict[str, bytes] = {}
    for inst in mp.installs:
        for f in inst.files:
            published = d.config_file(inst.engine.id, f.name)
            if f.src and published is not None:
                out.setdefault(f.src, published.data)
    return out


def _model_records(d: Device, mt: ModelTP, mp: model_page.ModelPage, base: str) -> dict[str, bytes]:
    """A model page's rows as CSV, and its rows, tuning records and runs as JSON."""
    rows = mt.rows
    tunes = [t for s in mt.shapes for t in s.tunes]
    records = {
        "device": d.name,
        "model": mt.model.id,
        "tp": mt.tp,
        "runs": [run.provenance for run in mp.bench_runs],
        "ceilings": d.ceilings,
        "rows": rows,
        "tuning": tunes,
    }
    return {
        base + ".csv": export.bench_csv(rows).encode(),
        base + ".json": export.records_json(records).encode(),
    }


def _mla_base(d: Device) -> str:
    return f"devices/{d.slug}/downloads/a16w8-mla"


def _mla_downloads(d: Device) -> dict[str, bytes]:
    """The MLA sweep's rows as CSV, and with the runs that measured them and the batched tuning
    records as JSON."""
    base = _mla_base(d)
    records = {
        "device": d.name,
        "runs": [run.provenance for run in bench_runs(d.mla_rows)],
        "rows": d.mla_rows,
        "tuning": d.batched_tunes,
    }
    return {
        base + ".csv": export.bench_csv(d.mla_rows).encode(),
        base + ".json": export.records_json(records).encode(),
    }


def _mla_page(r: _Renderer, d: Device, catalog: Catalog) -> Page:
    """The batched A16W8 (MLA) page: this GPU's table and chart (each point with its TP and
    layer), another vendor's published figures apart, and the tuning records."""
    base = _mla_base(d)
    names, table = mla_page.table(d.mla_rows, catalog.specs)
    ref_label = next((row.reference_label for row in d.mla_rows if row.reference_label), None)
    return r.page(
        "mla.md.j2",
        _mla_src(d),
        d=d,
        names=names,
        table=table,
        heads=mla_page.heads(catalog.specs, d.mla_rows),
        base=next((n for n in names if providers.style(n).is_baseline), None),
        spec=charts.mla_chart(d.mla_rows, ref_label),
        ref_label=ref_label,
        ref_link=REFERENCE_LINKS.get(ref_label or ""),
        external=mla_page.external(d.mla_rows),
        tunes=[model_page.tune_table(t) for t in d.batched_tunes],
        verdict=mla_page.verdict(d.mla_rows),
        before=mla_page.measured_before(d.mla_rows, d.batched_tunes, catalog.specs),
        model_files=catalog.models,
        facts=mla_page.engine_facts(d.name),
        runs=bench_runs(d.mla_rows),
        device_src=_device_src(d),
        csv_src=base + ".csv",
        json_src=base + ".json",
    )


def _device_base(d: Device) -> str:
    return f"devices/{d.slug}/downloads/{d.slug}"


def _raw_src(d: Device, rel: str) -> str:
    return f"devices/{d.slug}/raw/{rel}"


def _device_downloads(d: Device) -> dict[str, bytes]:
    """A device's own downloads: all its rows and tuning records as CSV, every record file as
    it is, and its config bundle."""
    base = _device_base(d)
    all_rows = [row for rows in d.bench.values() for row in rows]
    out = {
        base + "-bench.csv": export.bench_csv(all_rows).encode(),
        base + "-tuning.csv": export.tune_csv(d.tunes).encode(),
    }
    out.update((_raw_src(d, rel), data) for rel, data in d.raw_files.items())
    if d.bundle is not None:
        out[_bundle_src(d)] = zip_device_bundle(d.bundle)
    return out


def _other_sweeps(
    d: Device, refs: dict[str, verdict.Reference] | None = None
) -> list[tuple[str, dict | None, list[BenchRun], int]]:
    """A chart per sweep other than the model and MLA ones: one for a square sweep, one per
    (N, K) otherwise; each with the runs that measured its rows and how many rows of our tuned
    files it leaves out as stale (``generator.site.stale``; ``refs``: how the device's pages
    name each engine's Triton kernel with its own files)."""
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
            shapes = sorted({(r.N, r.K) for r in grows})
            chart = charts.square_chart(grows, model_page.publishes(d, shapes), refs)
            stale = sum(1 for r in d.stale.get(sweep, []) if nk is None or (r.N, r.K) == nk)
            other_sweeps.append((label, chart, bench_runs(grows), stale))
    return other_sweeps


def _device_page(
    r: _Renderer,
    d: Device,
    pages: list[tuple[ModelTP, str, model_page.ModelPage]],
    refs: dict[str, verdict.Reference] | None = None,
) -> Page:
    """A device's own page: its model pages, other sweeps, record files and bundle."""
    base = _device_base(d)
    # a bench file is listed with the runs of its rows (its own provenance is its last writer's)
    raw = [
        (
            rel,
            _raw_src(d, rel),
            d.sources.get(rel),
            bench_runs(d.file_rows[rel]) if rel in d.file_rows else None,
        )
        for rel in d.raw_files
    ]
    return r.page(
        "device.md.j2",
        _device_src(d),
        d=d,
        pages=pages,
        mla_src=_mla_src(d) if d.mla_rows else None,
        mla_models=sorted({r.model for r in d.mla_rows if r.model}),
        bundle_src=_bundle_src(d) if d.bundle is not None else None,
        config_counts={fw: len(files) for fw, files in d.configs.items()},
        other_sweeps=_other_sweeps(d, refs),
        raw=raw,
        bench_csv=base + "-bench.csv",
        tuning_csv=base + "-tuning.csv",
        hopper=engines.is_hopper(d.name),
        engines=engines.engines(),
        refs=refs or {},
    )


def _home_page(r: _Renderer, catalog: Catalog, summaries: list[dict[str, Any]]) -> Page:
    """The device x model matrix and each device's headline figures (spliced into the
    hand-written home page)."""
    model_ids = sorted({mt.model.id for s in summaries for mt, _, _ in s["pages"]})
    cells: dict[tuple[str, str], list[tuple[ModelTP, str]]] = {}
    for s in summaries:
        for mt, src, _ in s["pages"]:
            cells.setdefault((s["d"].name, mt.model.id), []).append((mt, src))
    return r.page(
        "home.md.j2",
        "index.md",
        catalog=catalog,
        model_ids=model_ids,
        cells=cells,
        mla={d.name: _mla_src(d) for d in catalog.devices if d.mla_rows},
        # the models the MLA sweeps measured (the row's label names them, not a model it
        # shares an architecture with)
        mla_models=sorted({r.model for d in catalog.devices for r in d.mla_rows if r.model}),
        device_srcs={d.name: _device_src(d) for d in catalog.devices},
        summaries=summaries,
        summary_src=SUMMARY_SRC,
        # what each engine runs on Hopper, from its dispatch rules (never typed)
        engine_list=engines.engines(),
        hopper_arch=engines.HOPPER,
    )


def _summary_csv(facts: dict[str, str]) -> bytes:
    """Every figure stated in a sentence, keyed as on the pages (device|scope|what|...)."""
    summary = io.StringIO()
    writer = csv.writer(summary, lineterminator="\n")
    writer.writerow(["figure", "value"])
    for key, value in sorted(facts.items()):
        writer.writerow([key, value])
    return summary.getvalue().encode()
