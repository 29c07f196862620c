"""The built catalog in headless Chromium (Debian's, driven by Playwright; no browser download).

Checks what a reader relies on: every page loads with no JavaScript error and no request
outside the site, fits a 420 px wide screen without scrolling sideways, and every chart draws
(Plotly's SVG, one trace per provider, at most six of them drawn before the reader asks for
more); the view buttons and the legend work, charts follow the dark palette, sortable tables
sort, the per-model bundle downloads with exactly that model's files under the engine's names,
the device bundle matches its manifest, navigation works, and the site also works from file://
(offline search, a styled 404 page).

Without Chromium or Playwright these tests skip with one line saying how to install it, except
in CI (``CI=true``), where a skip would hide a broken pipeline, so they fail instead.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.make_synthetic import write_catalog
from tests.fixtures.sitebuild import mkdocs_build

pytestmark = pytest.mark.browser

INSTALL = "install Chromium: apt-get install chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests must run in CI: {reason}; {INSTALL}")
    pytest.skip(INSTALL)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    write_catalog(root / "site_data", n_devices=3, n_models=3, hostile=True)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site"


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    exe = _chromium()
    if exe is None:
        _missing("no chromium executable")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watch:
    """A page that records JavaScript errors and blocks (and records) foreign requests."""

    def __init__(self, browser: Any, origin: str, **context: Any) -> None:
        self.context = browser.new_context(accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(origin) or url.startswith("data:") or url.startswith("blob:"):
                r.continue_()
            else:
                self.foreign.append(url)
                r.abort()

        self.context.route("**/*", route)

    def close(self) -> None:
        self.context.close()


def _pages(site: Path) -> list[str]:
    return sorted(
        p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html"
    )


CHECK_CHARTS = """async () => {
  const n = await window.bgCharts.renderAll();
  return Array.from(document.querySelectorAll('.bg-chart')).map(el => {
    const gd = el.querySelector('.js-plotly-plot');
    return {
      id: el.closest('.bg-figure').id,
      expected: Number(el.dataset.traces),
      shown: Number(el.dataset.shown),
      data: gd ? gd.data.length : -1,
      visible: gd ? gd.data.filter(t => t.visible === true).length : -1,
      svg: gd ? gd.querySelectorAll('svg.main-svg').length : 0,
      drawn: gd ? gd.querySelectorAll('.cartesianlayer g.trace').length : 0,
    };
  });
}"""

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
MODEL_PAGE = "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html"


def test_every_page_loads_clean_and_charts_draw(browser: Any, server: str, site: Path) -> None:
    w = Watch(browser, server)
    total = 0
    try:
        for rel in _pages(site):
            w.page.goto(f"{server}/{rel}", wait_until="load")
            assert w.page.evaluate("typeof Plotly") == "object", rel
            for c in w.page.evaluate(CHECK_CHARTS):
                assert c["svg"] > 0, (rel, c)
                assert c["data"] == c["expected"], (rel, c)  # one trace per provider
                assert c["visible"] == c["drawn"] == c["shown"], (rel, c)
                assert 0 < c["visible"] <= 6, (rel, c)
                total += 1
            assert not w.errors, (rel, w.errors)
            assert not w.foreign, (rel, w.foreign)
    finally:
        w.close()
    assert total > 50


CARD_TABLES_FIT = """() => Array.from(document.querySelectorAll('table[data-cards]')).map(t => {
  const wrap = t.closest('.bg-table-wrap');
  return [t.className, wrap.scrollWidth - wrap.clientWidth];
}).filter(([, over]) => over > 0)"""


@pytest.mark.parametrize("width", [420, 390, 360])
def test_no_page_scrolls_sideways(browser: Any, server: str, site: Path, width: int) -> None:
    """No page scrolls sideways; on a phone the tables laid out as cards (the MLA page's)
    fit their box too, with nothing to scroll inside it."""
    w = Watch(browser, server, viewport={"width": width, "height": 900})
    pages = _pages(site)
    if width < 420:  # the widest kinds of page, once each
        pages = [
            "index.html",
            MODEL_PAGE,
            "devices/SYNTHETIC_GPU_A/index.html",
            "devices/SYNTHETIC_GPU_A/a16w8-mla.html",
            "methodology.html",
            "installing.html",
        ]
    try:
        for rel in pages:
            w.page.goto(f"{server}/{rel}", wait_until="load")
            w.page.evaluate("window.bgCharts.renderAll()")
            w.page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert w.page.evaluate(OVERFLOW) <= 0, rel
            if width < 420:
                assert w.page.evaluate(CARD_TABLES_FIT) == [], rel
            assert not w.errors, (rel, w.errors)
    finally:
        w.close()


# Words of a table's cells wider than their cell (a word the browser must split inside to fit;
# a hyphenated name may still break at its hyphen), measured in each text's own font.
SPLIT_WORDS = r"""sel => {
 const bad = []; const ctx = document.createElement('canvas').getContext('2d');
 const t = document.querySelector(sel); if (!t) return ['no ' + sel];
 const walk = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
 for (let n = walk.nextNode(); n; n = walk.nextNode()) {
   const cell = n.parentElement.closest('td, th');
   if (!cell || !n.textContent.trim()) continue;
   const cs = getComputedStyle(cell); ctx.font = getComputedStyle(n.parentElement).font;
   const room = cell.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
   for (const w of n.textContent.split(/\s+|(?<=-)/).filter(Boolean))
     if (ctx.measureText(w).width > room + 1) bad.push(w);
 } return bad; }"""


def test_the_install_table_splits_no_word_on_a_phone(browser: Any, server: str) -> None:
    """At 420 px the device page's install table scrolls sideways rather than split a verdict
    or a header inside a word (Material lets a link break anywhere: "keep the defaul|t")."""
    w = Watch(browser, server, viewport={"width": 420, "height": 900})
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/index.html", wait_until="load")
        assert w.page.evaluate(SPLIT_WORDS, "table.bg-install-index") == []
        # the synthetic table's words fit as it is; what keeps the real one's whole is the
        # style: no cell, and no link in one, may break inside a word
        breaking = """() => [...document.querySelectorAll(
            'table.bg-install-index :is(td, th, td a)')].map(e => getComputedStyle(e))
            .filter(cs => cs.wordBreak !== 'normal' || cs.overflowWrap !== 'normal').length"""
        assert w.page.evaluate(breaking) == 0
        assert not w.errors, w.errors
    finally:
        w.close()


def test_views_and_legend(browser: Any, server: str) -> None:
    w = Watch(browser, server)
    gd = "document.querySelector('#chart-N4096-K2048 .js-plotly-plot')"
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}")
        w.page.evaluate("window.bgCharts.renderAll()")
        fig = w.page.locator("#chart-N4096-K2048")
        visible = f"() => {gd}.data.filter(t => t.visible === true).length"
        title = f"() => {gd}.layout.yaxis.title.text"
        assert w.page.evaluate(title).startswith("TFLOP/s")
        n0 = w.page.evaluate(visible)
        fig.locator("button.bg-view", has_text="× bf16").click()
        w.page.wait_for_function(f"({title})().startsWith('speedup over bf16')")
        assert w.page.evaluate(visible) == n0
        fig.locator("button.bg-view", has_text="× vLLM 0.33.0 default").click()
        w.page.wait_for_function(f'({title})().includes("vLLM 0.33.0\'s default")')
        fig.locator("button.bg-view", has_text="× vLLM 0.33.0's Triton").click()
        w.page.wait_for_function(f"({title})().includes('vLLM 0.33.0')")
        hidden = fig.locator("input[data-series]:not(:checked)").first
        hidden.check()
        w.page.wait_for_function(f"({visible})() === {n0 + 1}")
        fig.locator("button[data-legend=all]").click()
        w.page.wait_for_function(f"({visible})() === {gd}.data.length")
        fig.locator("button[data-legend=default]").click()
        w.page.wait_for_function(f"({visible})() === {n0}")
        assert not w.errors
    finally:
        w.close()


def test_charts_follow_dark_palette(browser: Any, server: str) -> None:
    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}")
        w.page.evaluate("window.bgCharts.renderAll()")
        gd = "document.querySelector('.bg-chart .js-plotly-plot')"
        colors = f"() => [{gd}.layout.font.color, ...{gd}.data.map(t => t.line.color)]"
        before = w.page.evaluate(colors)
        w.page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
        w.page.wait_for_function(f"({colors})()[0] !== {json.dumps(before[0])}")
        after = w.page.evaluate(colors)
        assert after[0] != before[0]
        assert after[1:] != before[1:], "the lines too take their dark-palette colours"
        assert not w.errors
    finally:
        w.close()


def test_sortable_table(browser: Any, server: str) -> None:
    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/a16w8-mla.html")
        table = w.page.locator("table.bg-mla")
        assert table.locator("tbody tr").count() == 24
        table.locator("th", has_text="B").first.click()
        table.locator("th", has_text="B").first.click()  # descending
        first_b = table.locator("tbody tr").first.locator("td").first.inner_text()
        assert first_b == "128"
    finally:
        w.close()


def _download(w: Watch, selector: str, dest: Path) -> zipfile.ZipFile:
    with w.page.expect_download() as info:
        w.page.click(selector)
    info.value.save_as(dest)
    return zipfile.ZipFile(dest)


def test_bundle_download_matches_manifest(browser: Any, server: str, tmp_path: Path) -> None:
    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_B/index.html")
        zf = _download(w, "a.bg-bundle", tmp_path / "bundle.zip")
    finally:
        w.close()
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["device"] == "SYNTHETIC_GPU_B"
    assert {f["path"] for f in manifest["files"]} == set(zf.namelist()) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["path"])).hexdigest() == f["sha256"]
    assert any(n.startswith("vllm/") for n in zf.namelist())
    assert any(n.startswith("sglang/") for n in zf.namelist())


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_model_bundle_download_holds_exactly_the_models_files(
    browser: Any, server: str, site: Path, tmp_path: Path, engine: str
) -> None:
    from generator.configs.engine_files import file_name

    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}")
        zf = _download(w, f"a.bg-bundle-model[data-engine={engine}]", tmp_path / "m.zip")
        # the shapes of the page: its section headings
        shapes = w.page.eval_on_selector_all("article h2[id^=n]", "hs => hs.map(h => h.id)")
    finally:
        w.close()
    nks = [tuple(int(x[1:]) for x in s.split("-")) for s in shapes if re.match(r"n\d+-k\d+$", s)]
    dev = "SYNTHETIC_GPU_A"
    served = site.parent / "site_data" / "devices" / dev / "configs" / engine
    expected = {
        file_name(engine, n, k, dev, "fp8")
        for n, k in nks
        if (served / file_name(engine, n, k, dev, "fp8")).is_file()
    }
    assert expected
    assert set(zf.namelist()) == {f"{engine}/{n}" for n in expected} | {
        "manifest.json",
        "README.txt",
    }
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["model"] == "synthetic-dense-00" and manifest["tp"] == 1
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["path"])).hexdigest() == f["sha256"]
        if f["path"] != "README.txt":
            assert f["layers"], f


def test_navigation(browser: Any, server: str) -> None:
    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/index.html")
        w.page.locator("table.bg-matrix a", has_text="SYNTHETIC GPU B").click()  # its title
        w.page.wait_for_url("**/devices/SYNTHETIC_GPU_B/index.html")
        w.page.locator("article a", has_text="synthetic-mla-02, TP 8").first.click()
        w.page.wait_for_url("**/devices/SYNTHETIC_GPU_B/synthetic-mla-02-tp8.html")
        assert (
            w.page.locator("article h1")
            .inner_text()
            .startswith("synthetic-mla-02, TP 8 on SYNTHETIC GPU B")  # the GPU's recorded name
        )
        w.page.locator("nav.md-nav a", has_text="Methodology").first.click()
        w.page.wait_for_url("**/methodology.html")
        assert not w.errors and not w.foreign
    finally:
        w.close()


def test_file_url_with_offline_search(browser: Any, site: Path) -> None:
    w = Watch(browser, "file://")
    try:
        w.page.goto((site / "devices/SYNTHETIC_GPU_A/synthetic-dense-01-tp1.html").as_uri())
        charts = w.page.evaluate(CHECK_CHARTS)
        assert charts and all(c["data"] == c["expected"] for c in charts)
        assert all(c["visible"] == c["drawn"] <= 6 for c in charts)
        w.page.goto((site / "index.html").as_uri())
        w.page.locator("label.md-search__icon, .md-search__input").first.click()
        w.page.locator("input.md-search__input").press_sequentially("methodology", delay=20)
        w.page.wait_for_selector(".md-search-result__item", timeout=15000)
        assert not w.errors, w.errors
        assert not w.foreign, w.foreign
    finally:
        w.close()


def test_404_page_is_styled_over_file_url(browser: Any, site: Path) -> None:
    w = Watch(browser, "file://")
    try:
        w.page.goto((site / "404.html").as_uri())
        header = "getComputedStyle(document.querySelector('.md-header'))"
        assert w.page.evaluate(f"{header}.position") == "sticky"  # Material's stylesheet
        assert w.page.evaluate("document.querySelector('h1').textContent").startswith("404")
        w.page.locator("nav.md-nav a", has_text="Methodology").first.click()
        w.page.wait_for_url("**/methodology.html")
        assert not w.errors and not w.foreign, (w.errors, w.foreign)
    finally:
        w.close()


VERDICTS = """() => {
  const heads = Array.from(document.querySelectorAll('article h2')).map(h => h.id);
  return {
    heads,
    // the page's own verdict: not that of the shapes shown apart (data-parallel attention only)
    verdicts: Array.from(document.querySelectorAll('.bg-verdict'))
      .filter(v => !v.closest('.bg-dp-apart')).map(v => ({
      engine: v.dataset.engine,
      decision: v.dataset.decision,
      text: v.querySelector('.bg-decision') ? v.querySelector('.bg-decision').innerText : '',
      visible: v.getBoundingClientRect().height > 0,
    })),
  };
}"""
# what the fixture's devices come to (tests/fixtures/make_synthetic.py, ARCHS): A is a Hopper
# where the synthetic DeepGEMM is faster at large M and slower at small M; C is an AMD Instinct
# (the engines run Triton); B matches no rule
DECISIONS = {
    "SYNTHETIC_GPU_A": "mixed",
    "SYNTHETIC_GPU_B": "uncovered",
    "SYNTHETIC_GPU_C": "install",
}


def test_every_model_page_opens_with_the_verdict(browser: Any, server: str, site: Path) -> None:
    """Every model page's first section is the verdict, one per engine, each with a visible
    decision; the device page's verdict links land on it."""
    w = Watch(browser, server)
    pages = [
        p
        for p in _pages(site)
        if p.startswith("devices/") and not p.endswith(("index.html", "a16w8-mla.html"))
    ]
    assert len(pages) >= 6
    try:
        for rel in pages:
            w.page.goto(f"{server}/{rel}", wait_until="load")
            got = w.page.evaluate(VERDICTS)
            assert got["heads"][:2] == ["what-your-engine-runs-here", "what-to-install"], rel
            assert [v["engine"] for v in got["verdicts"]] == ["vllm", "sglang"], rel
            want = DECISIONS[rel.split("/")[1]]
            for v in got["verdicts"]:
                assert v["decision"] == want and v["visible"] and v["text"], (rel, v)
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/index.html", wait_until="load")
        link = w.page.locator(".bg-verdict-index td[data-engine='vllm'] a").first
        link.click()
        w.page.wait_for_load_state("load")
        assert w.page.url.endswith("#what-your-engine-runs-here")
        assert w.page.locator("#what-your-engine-runs-here").is_visible()
        assert not w.errors, w.errors
    finally:
        w.close()


STICKY = """(sel) => {
  const wraps = Array.from(document.querySelectorAll('.bg-table-wrap'))
    .filter(w => w.querySelector(sel) && w.scrollWidth > w.clientWidth + 20);
  return wraps.map(w => {
    w.closest('details')?.setAttribute('open', '');
    w.scrollLeft = w.scrollWidth;
    return Array.from(w.querySelectorAll('tr')).slice(0, 4).map(tr => {
      window.scrollBy(0, tr.getBoundingClientRect().top - 300);  // into the viewport
      const c = tr.firstElementChild.getBoundingClientRect();
      const x = c.left + Math.min(8, c.width / 2);
      const hit = document.elementFromPoint(x, c.top + c.height / 2);
      const left = c.left - w.getBoundingClientRect().left;
      return {scrolled: w.scrollLeft, left: left, visible: tr.firstElementChild.contains(hit)};
    });
  });
}"""


@pytest.mark.parametrize(
    "rel, table",
    [
        (MODEL_PAGE, "table.bg-recommend"),
        (MODEL_PAGE, "table.bg-sortable"),  # the gains tables now fit (next test)
    ],
)
def test_first_column_stays_in_view_on_a_phone(
    browser: Any, server: str, rel: str, table: str
) -> None:
    """At 390 px a wide table scrolls inside its box; after scrolling it to the end, the first
    cell of each row is still at the box's left edge and is what a tap there hits."""
    w = Watch(browser, server, viewport={"width": 390, "height": 844})
    try:
        w.page.goto(f"{server}/{rel}", wait_until="load")
        wraps = w.page.evaluate(STICKY, table)
        assert wraps, f"{rel}: {table} does not overflow at 390 px"
        for cells in wraps:
            for c in cells:
                assert c["scrolled"] > 0, (rel, c)
                assert abs(c["left"]) <= 1, (rel, c)
                assert c["visible"], (rel, c)
        assert not w.errors
    finally:
        w.close()


CARDS = """(sel) => {
  const t = document.querySelector(sel);
  const wrap = t.closest('.bg-table-wrap');
  const heads = Array.from(t.querySelectorAll('thead th')).map(th => th.textContent.trim());
  const vw = document.documentElement.clientWidth;
  const cells = Array.from(t.querySelectorAll('tbody tr')).slice(0, 6).flatMap(tr =>
    Array.from(tr.children).map((td, i) => {
      td.scrollIntoView({block: 'center'});
      const r = td.getBoundingClientRect();
      const x = r.left + Math.min(6, r.width / 2);
      const hit = document.elementFromPoint(x, r.top + r.height / 2);
      return {i: i, label: td.dataset.label, head: heads[i], left: r.left, right: r.right,
              width: r.width, hit: td.contains(hit),
              before: getComputedStyle(td, '::before').content};
    }));
  return {overflow: wrap.scrollWidth - wrap.clientWidth, vw: vw, n: heads.length, cells: cells};
}"""


def test_mla_table_columns_are_reachable_on_a_phone(browser: Any, server: str) -> None:
    """At 390 px the MLA table (shape, four providers, the fastest, the ratio) is one card per
    row: every cell of a row lies on screen without scrolling sideways, is what a tap there
    hits, and shows its column's name (the header's text) beside its value."""
    w = Watch(browser, server, viewport={"width": 390, "height": 844})
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/a16w8-mla.html", wait_until="load")
        got = w.page.evaluate(CARDS, "table.bg-mla")
        assert got["overflow"] <= 0, got["overflow"]
        assert got["cells"] and {c["i"] for c in got["cells"]} == set(range(got["n"]))
        for c in got["cells"]:
            assert c["width"] > 0 and c["left"] >= 0 and c["right"] <= got["vw"], c
            assert c["hit"], c
            assert c["label"] and c["head"].startswith(c["label"].split(", TFLOP/s")[0]), c
            assert c["before"] == json.dumps(c["label"], ensure_ascii=False), c
        assert not w.errors
    finally:
        w.close()


@pytest.mark.parametrize("width", [390, 360])
def test_mla_external_figures_fit_a_phone(browser: Any, server: str, width: int) -> None:
    """The other vendor's published figures (B, TP, layer, M, N, K and the figure), opened,
    are one card per row on a phone like this GPU's table: nothing sticks out of its box (it
    was 8 px wider than a 390 px screen's), every cell on screen under its column's name."""
    w = Watch(browser, server, viewport={"width": width, "height": 844})
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/a16w8-mla.html", wait_until="load")
        w.page.evaluate("document.querySelector('details.bg-external').open = true")
        got = w.page.evaluate(CARDS, "table.bg-mla-external")
        assert got["overflow"] <= 0, got["overflow"]
        assert got["cells"] and {c["i"] for c in got["cells"]} == set(range(got["n"]))
        for c in got["cells"]:
            assert c["width"] > 0 and c["left"] >= 0 and c["right"] <= got["vw"], c
            assert c["hit"], c
            assert c["label"] and c["head"] == c["label"], c
            assert c["before"] == json.dumps(c["label"], ensure_ascii=False), c
        assert w.page.evaluate(OVERFLOW) <= 0
        assert not w.errors
    finally:
        w.close()


def test_hover_shows_every_line_at_that_x(browser: Any, server: str) -> None:
    """Plotly draws the charts with unified hover along x: every provider's value at the M
    under the pointer, not the one nearest to it."""
    w = Watch(browser, server)
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        modes = w.page.evaluate(
            """async () => { await window.bgCharts.renderAll();
            return Array.from(document.querySelectorAll('.bg-chart .js-plotly-plot'))
              .map(gd => gd.layout.hovermode); }"""
        )
        assert modes and set(modes) == {"x unified"}
        assert not w.errors
    finally:
        w.close()


# --- charts drawn without scrolling (D17); the copy button beside the command (D14) -----------

DRAWN = """() => Array.from(document.querySelectorAll('.bg-chart')).map(
  el => !!el.querySelector('.js-plotly-plot svg.main-svg'))"""
NO_IDLE = (
    "window.requestIdleCallback = function () { return 0; };"  # the background pass never runs
)


@pytest.mark.parametrize("width", [390, 1280])
def test_charts_draw_on_load_without_scrolling(browser: Any, server: str, width: int) -> None:
    """Every chart of a page is drawn soon after it loads, the reader scrolling nowhere: none
    is left blank below the fold (and a page printed or read from an anchor shows them all)."""
    w = Watch(browser, server, viewport={"width": width, "height": 800})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        drawn = w.page.evaluate(DRAWN)
        assert len(drawn) >= 4
        below = w.page.evaluate(
            "() => Array.from(document.querySelectorAll('.bg-chart'))"
            ".filter(el => el.getBoundingClientRect().top > 3 * window.innerHeight).length"
        )
        assert below > 0  # charts far below the fold: the ones a lazy page would leave blank
        w.page.wait_for_function(f"({DRAWN})().every(Boolean)", timeout=20000)
        assert w.page.evaluate("window.scrollY") == 0
        assert not w.errors, w.errors
    finally:
        w.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_printing_draws_every_chart_at_once(browser: Any, server: str, width: int) -> None:
    """With the background pass held back, the charts on screen are drawn; ``beforeprint``
    draws every other chart before the print layout is taken (synchronously)."""
    w = Watch(browser, server, viewport={"width": width, "height": 800})
    try:
        w.context.add_init_script(NO_IDLE)
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        w.page.wait_for_timeout(300)
        assert not all(w.page.evaluate(DRAWN))  # at most what is on screen
        after = w.page.evaluate(
            f"() => {{ window.dispatchEvent(new Event('beforeprint')); return ({DRAWN})(); }}"
        )
        assert all(after), after
        assert not w.errors, w.errors
    finally:
        w.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_anchor_draws_its_chart(browser: Any, server: str, width: int) -> None:
    """Opened at a shape's section, or sent there by a link on the page (``hashchange``), the
    chart of that section is drawn, the background pass held back."""
    w = Watch(browser, server, viewport={"width": width, "height": 800})
    try:
        w.context.add_init_script(NO_IDLE)
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        heads = w.page.eval_on_selector_all(
            "article h2[id^=n]", "hs => hs.map(h => h.id).filter(id => /^n\\d+-k\\d+$/.test(id))"
        )
        assert len(heads) >= 3
        last, middle = heads[-1], heads[len(heads) // 2]
        chart_of = """(id) => { const h = document.getElementById(id);
          for (let n = h.nextElementSibling; n && n.tagName !== 'H2'; n = n.nextElementSibling) {
            const c = n.matches('.bg-chart') ? n : n.querySelector('.bg-chart');
            if (c) return !!c.querySelector('.js-plotly-plot svg.main-svg'); }
          return null; }"""
        assert w.page.evaluate(chart_of, middle) is False
        w.page.evaluate(f"() => {{ location.hash = '{middle}'; }}")
        w.page.wait_for_function(chart_of, arg=middle)
        w.page.goto(f"{server}/{MODEL_PAGE}#{last}", wait_until="load")
        w.page.wait_for_function(chart_of, arg=last)
        assert not w.errors, w.errors
    finally:
        w.close()


COPY_BUTTONS = """() => Array.from(document.querySelectorAll('article pre')).map(pre => {
  const button = pre.querySelector('.md-code__nav, .md-clipboard');
  const code = pre.querySelector(':scope > code');
  if (!button || !code) return null;
  pre.scrollIntoView({block: 'center'});
  const text = document.createRange();
  text.selectNodeContents(code);
  const t = text.getBoundingClientRect(), c = code.getBoundingClientRect();
  // the command's text where it can be seen: the code box clips what scrolls sideways
  const seen = {left: Math.max(t.left, c.left), right: Math.min(t.right, c.right),
                top: Math.max(t.top, c.top), bottom: Math.min(t.bottom, c.bottom)};
  const b = button.getBoundingClientRect(), p = pre.getBoundingClientRect();
  const overlap = Math.min(seen.right, b.right) - Math.max(seen.left, b.left) > 0
    && Math.min(seen.bottom, b.bottom) - Math.max(seen.top, b.top) > 0;
  const inside = b.left >= p.left - 1 && b.right <= p.right + 1 && b.top >= p.top - 1;
  return {text: code.textContent.slice(0, 40), overlap, inside, width: b.width};
}).filter(Boolean)"""


@pytest.mark.parametrize("width", [390, 1280])
def test_copy_button_does_not_cover_the_command(browser: Any, server: str, width: int) -> None:
    """Material's copy button sits beside a code block's text, not over it, on a phone and on a
    desktop, however long the command (the long ones scroll sideways under the button's
    gutter, never under the button)."""
    w = Watch(browser, server, viewport={"width": width, "height": 800})
    try:
        seen = 0
        for rel in ("installing.html", MODEL_PAGE, "devices/SYNTHETIC_GPU_A/index.html"):
            w.page.goto(f"{server}/{rel}", wait_until="load")
            for block in w.page.evaluate(COPY_BUTTONS):
                seen += 1
                assert block["width"] > 0 and block["inside"], (rel, block)
                assert not block["overlap"], (rel, width, block)
        assert seen >= 4
    finally:
        w.close()


VERDICT_FIT = """() => {
  document.querySelectorAll('details.bg-verdict-layers').forEach(d => d.setAttribute('open', ''));
  const vw = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('table[class^="bg-verdict"]')).map(t => {
    const w = t.closest('.bg-table-wrap');
    const heads = () => Array.from(t.querySelectorAll('thead th'))
      .map(h => h.getBoundingClientRect());
    const box = w.getBoundingClientRect();
    const before = heads();
    const overflow = getComputedStyle(w).overflowX;
    w.scrollLeft = w.scrollWidth;
    const after = heads();
    const wbox = w.getBoundingClientRect();
    const res = {
      cls: t.className, fits: w.scrollWidth <= w.clientWidth + 1, overflow: overflow,
      offscreen: before.filter(r => r.right > vw + 1).length,
      lastReachable: after[after.length - 1].right <= wbox.right + 1,
      boxInView: box.left >= -1 && box.right <= vw + 1,
    };
    w.scrollLeft = 0;
    return res;
  });
}"""


def test_verdict_tables_fit_or_scroll_in_their_box_on_a_phone(browser: Any, server: str) -> None:
    """At 390 px the page never scrolls sideways; the verdict's band table fits (every column,
    "not measured" included, on screen without scrolling); the per-layer table fits, or
    scrolls inside its own box, whose last column scrolling brings into view (D3, D4)."""
    w = Watch(browser, server, viewport={"width": 390, "height": 844})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        tables = w.page.evaluate(VERDICT_FIT)
        assert {t["cls"] for t in tables} == {"bg-verdict-bands", "bg-verdict-cells"}, tables
        for t in tables:
            assert t["boxInView"], t
            if t["cls"] == "bg-verdict-bands":
                assert t["fits"] and t["offscreen"] == 0, t
            else:
                assert t["fits"] or t["overflow"] in ("auto", "scroll"), t
                assert t["lastReachable"], t
        assert w.page.evaluate(OVERFLOW) <= 0
        w.page.goto(f"{server}/index.html", wait_until="load")
        assert w.page.evaluate(OVERFLOW) <= 0
        assert not w.errors, w.errors
    finally:
        w.close()


# --- hover labels (review 1, 4), plot height beside the legend, bar labels, scroll hints and
# flags (review 10) ----------------------------------------------------------------------------

HOVER_AT = """async ([sel, frac]) => {
  const gd = document.querySelector(sel + ' .js-plotly-plot');
  const drag = gd.querySelector('.nsewdrag').getBoundingClientRect();
  const x = drag.left + drag.width * frac, y = drag.top + drag.height / 2;
  gd.querySelector('.nsewdrag').dispatchEvent(new MouseEvent('mousemove',
    {clientX: x, clientY: y, bubbles: true}));
  await new Promise(r => setTimeout(r, 150));
  const legend = gd.querySelector('.hoverlayer .legend');
  if (!legend) return null;
  const box = legend.getBoundingClientRect(), svg = gd.getBoundingClientRect();
  const bg = legend.querySelector('rect.bg');
  return {left: box.left - svg.left, right: svg.right - box.right, width: box.width,
          fill: bg ? getComputedStyle(bg).fill : null,
          opacity: bg ? Number(getComputedStyle(bg).fillOpacity) : null,
          text: legend.textContent,
          widest: Array.from(legend.querySelectorAll('text'))
            .map(t => [t.getBBox().width, t.textContent]).sort((a, b) => b[0] - a[0])[0]};
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_hover_label_is_opaque_and_inside_the_chart(browser: Any, server: str, width: int) -> None:
    """The unified hover label has an opaque background (the plot's is transparent: its text
    sat on the lines) and lies inside the chart wherever the pointer is, on a phone too (its
    lines lost their first letters); in the engine-default view the stand-in's point says it
    stands in (review 1, 4)."""
    w = Watch(browser, server, viewport={"width": width, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        w.page.evaluate("window.bgCharts.renderAll()")
        fig = w.page.locator(
            ".bg-figure", has=w.page.locator("button.bg-view", has_text="× vLLM 0.33.0 default")
        ).first
        fid = fig.get_attribute("id")
        fig.locator("button.bg-view", has_text="× vLLM 0.33.0 default").click()
        w.page.wait_for_function(
            f"document.querySelector('#{fid} .js-plotly-plot').layout.yaxis.title.text"
            '.includes("default")'
        )
        fig.scroll_into_view_if_needed()
        seen = []
        for frac in (0.01, 0.5, 0.99):
            got = w.page.evaluate(HOVER_AT, [f"#{fid}", frac])
            assert got is not None, frac
            assert got["left"] >= -1 and got["right"] >= -1, (
                width,
                frac,
                got["widest"],
                got["width"],
            )
            assert got["opacity"] == 1 and got["fill"] not in ("none", "rgba(0, 0, 0, 0)"), got
            seen.append(got["text"])
        shown = w.page.evaluate(
            f"document.querySelector('#{fid} .js-plotly-plot').data"
            ".filter(t => t.visible === true).map(t => t.name)"
        )
        if any(n.startswith("DeepGEMM") for n in shown):
            assert "stands in for FlashInfer swap-AB, not measured" in seen[0], seen[0]
            assert "stands in" not in seen[2], seen[2]  # the largest M: DeepGEMM runs there
        assert not any("Unsupported: Unsupported" in t for t in seen)
        assert not w.errors, w.errors
    finally:
        w.close()


@pytest.mark.parametrize("width", [420, 1280])
def test_the_toolbar_never_covers_the_plot(browser: Any, server: str, width: int) -> None:
    """Plotly's toolbar, shown while the pointer is on a chart (a tap on a phone), sits above
    the plot area: it lay over the top right of the plot, on the highest point at the
    largest M (review of 2026-12-04, at 420 px)."""
    w = Watch(browser, server, viewport={"width": width, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        w.page.evaluate("window.bgCharts.renderAll()")
        plots = w.page.locator(".bg-figure .js-plotly-plot")
        assert plots.count() > 0
        for i in range(plots.count()):
            plot = plots.nth(i)
            plot.scroll_into_view_if_needed()
            area = plot.locator(".draglayer .nsewdrag").first.bounding_box()
            w.page.mouse.move(area["x"] + area["width"] - 2, area["y"] + 2)
            bar = plot.locator(".modebar").first
            bar.wait_for(state="visible")
            box = bar.bounding_box()
            assert box["y"] + box["height"] <= area["y"] + 0.5, (i, box, area)
        assert not w.errors, w.errors
    finally:
        w.close()


def test_plot_beside_its_legend_takes_its_height(browser: Any, server: str) -> None:
    """On a desktop the plot (under 480 px wide beside its legend) is as tall as the legend
    (within 380-620 px), not the phone's 300 px beside a legend of 800 (review 10)."""
    w = Watch(browser, server, viewport={"width": 1280, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        got = w.page.evaluate(
            """async () => { await window.bgCharts.renderAll();
            return Array.from(document.querySelectorAll('.bg-figure:not(.bg-wide)')).map(f => {
              const c = f.querySelector('.bg-chart'), l = f.querySelector('.bg-legend');
              return {beside: l.offsetTop < c.offsetTop + 40, width: c.clientWidth,
                      plot: f.querySelector('.js-plotly-plot').offsetHeight,
                      legend: l.offsetHeight}; }); }"""
        )
        beside = [g for g in got if g["beside"]]
        assert beside and any(g["width"] < 480 for g in beside), got
        for g in beside:
            assert g["plot"] >= min(620, max(380, g["legend"])) - 1, g
        assert not w.errors, w.errors
    finally:
        w.close()


def test_mla_bars_label_every_category_on_a_phone(browser: Any, server: str) -> None:
    """The MLA chart's 24 bars each have their label at 390 px (Plotly skipped every other)."""
    w = Watch(browser, server, viewport={"width": 390, "height": 844})
    try:
        w.page.goto(f"{server}/devices/SYNTHETIC_GPU_A/a16w8-mla.html", wait_until="load")
        got = w.page.evaluate(
            """async () => { await window.bgCharts.renderAll();
            const gd = document.querySelector('.bg-chart .js-plotly-plot');
            return {cats: gd.data[0].x.length,
                    labels: gd.querySelectorAll('.xaxislayer-above .xtick text').length}; }"""
        )
        assert got["cats"] == 24 and got["labels"] == got["cats"], got
        assert w.page.evaluate(OVERFLOW) <= 0
        assert not w.errors, w.errors
    finally:
        w.close()


SCROLL_HINTS = """() => Array.from(document.querySelectorAll('.bg-table-wrap')).filter(
  w => w.getBoundingClientRect().width > 0).map(w => {
  const hint = w.previousElementSibling;
  const over = w.scrollWidth > w.clientWidth + 1;
  const res = {over, hint: !!hint && hint.classList.contains('bg-scroll-hint')
                 && hint.getBoundingClientRect().height > 0,
               before: w.dataset.more || null};
  w.scrollLeft = w.scrollWidth;
  w.dispatchEvent(new Event('scroll'));
  res.after = w.dataset.more || null;
  w.scrollLeft = 0;
  w.dispatchEvent(new Event('scroll'));
  return res;
})"""


@pytest.mark.parametrize("width", [390, 1280])
def test_a_table_that_scrolls_in_its_box_says_so(browser: Any, server: str, width: int) -> None:
    """A table wider than its box (the per-layer one at 1280 px, several on a phone) has a line
    above it saying it scrolls and a faded right edge until scrolled to its end; a table that
    fits has neither (review 10)."""
    w = Watch(browser, server, viewport={"width": width, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        w.page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        w.page.wait_for_timeout(100)  # the resize observers run
        got = w.page.evaluate(SCROLL_HINTS)
        assert got
        for t in got:
            if t["over"]:
                assert t["hint"] and t["before"] == "right" and t["after"] == "end", t
            else:
                assert not t["hint"] and t["before"] is None, t
        if width == 390:
            assert any(t["over"] for t in got)
        assert not w.errors, w.errors
    finally:
        w.close()


FLAGS = """() => Array.from(document.querySelectorAll('article code')).filter(
  c => !c.closest('pre') && /^--[a-z]/.test(c.textContent)).map(c => {
  c.scrollIntoView({block: 'center'});
  const tops = (node) => {
    const r = document.createRange();
    r.selectNodeContents(node);
    return new Set(Array.from(r.getClientRects()).filter(b => b.width > 0)
      .map(b => Math.round(b.top))).size;
  };
  // the flag itself (up to its first space) and every other word: each on one line
  const words = c.querySelectorAll('.bg-nobr');
  return {text: c.textContent, words: words.length,
          broken: Array.from(words).filter(s => tops(s) > 1).map(s => s.textContent),
          short: c.textContent.length <= 32 ? tops(c) : 1};
})"""


@pytest.mark.parametrize("width", [360, 390])
def test_a_flag_never_breaks_across_lines(browser: Any, server: str, width: int) -> None:
    """A command-line flag (``--fp8-gemm-backend triton``) stays on one line: it wrapped as
    "-" / "-fp8-gemm-backend triton", which copies wrong (review 10)."""
    w = Watch(browser, server, viewport={"width": width, "height": 900})
    try:
        seen = 0
        for rel in (MODEL_PAGE, "installing.html"):
            w.page.goto(f"{server}/{rel}", wait_until="load")
            for f in w.page.evaluate(FLAGS):
                seen += 1
                assert f["words"] >= 1 and not f["broken"], (rel, f)
                assert f["short"] == 1, (rel, f)  # a short flag and its value: one line
            assert w.page.evaluate(OVERFLOW) <= 0, rel
        assert seen >= 2
        assert not w.errors, w.errors
    finally:
        w.close()


def test_gains_tables_fit_a_phone(browser: Any, server: str) -> None:
    """At 390 px every gains table fits its box: its prefill column was off-screen behind a
    sideways scroll (review 10)."""
    w = Watch(browser, server, viewport={"width": 390, "height": 844})
    try:
        for rel in (MODEL_PAGE, "index.html"):
            w.page.goto(f"{server}/{rel}", wait_until="load")
            got = w.page.evaluate(
                """() => Array.from(document.querySelectorAll('table.bg-gains')).map(t => {
                  const w = t.closest('.bg-table-wrap');
                  const last = t.querySelector('thead tr').lastElementChild.getBoundingClientRect();
                  return {over: w.scrollWidth - w.clientWidth,
                          right: last.right - document.documentElement.clientWidth}; })"""
            )
            assert got, rel
            for t in got:
                assert t["over"] <= 1 and t["right"] <= 1, (rel, t)
        assert not w.errors, w.errors
    finally:
        w.close()


def test_hover_label_follows_a_new_width(browser: Any, server: str) -> None:
    """Drawn at 1280 px, then the window narrowed to a phone's 390 (a phone turned): the chart
    is drawn again for its new width, and its hover label still lies inside it."""
    w = Watch(browser, server, viewport={"width": 1280, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        w.page.evaluate("window.bgCharts.renderAll()")
        fid = w.page.locator(".bg-figure").first.get_attribute("id")
        w.page.set_viewport_size({"width": 390, "height": 900})
        w.page.wait_for_function(
            f"document.querySelector('#{fid} .js-plotly-plot')._fullLayout.width < 400"
        )
        w.page.wait_for_timeout(400)  # the redraw after the width settles
        w.page.locator(f"#{fid}").scroll_into_view_if_needed()
        for frac in (0.01, 0.99):
            got = w.page.evaluate(HOVER_AT, [f"#{fid}", frac])
            assert got is not None and got["left"] >= -1 and got["right"] >= -1, (frac, got)
        assert not w.errors, w.errors
    finally:
        w.close()


# --- the methodology page's provider table and the device page's ceilings on a phone ----------


@pytest.mark.parametrize("width", [390, 360])
def test_provider_table_fits_a_phone(browser: Any, server: str, width: int) -> None:
    """The methodology page's provider table (the provider, its id, role, what it computes and
    what it is) fits a phone: it was 372 px wider than its box at 390 px. One card per provider,
    every column kept: each cell on screen under its column's name, what a tap there hits."""
    w = Watch(browser, server, viewport={"width": width, "height": 844})
    try:
        w.page.goto(f"{server}/methodology.html", wait_until="load")
        got = w.page.evaluate(CARDS, "table.bg-providers")
        assert got["overflow"] <= 0, got["overflow"]
        assert got["n"] == 5 and {c["i"] for c in got["cells"]} == set(range(got["n"]))
        for c in got["cells"]:
            assert c["width"] > 0 and c["left"] >= 0 and c["right"] <= got["vw"], c
            assert c["hit"], c
            assert c["label"] == c["head"], c
            assert c["before"] == json.dumps(c["label"], ensure_ascii=False), c
        assert w.page.evaluate(OVERFLOW) <= 0
        assert not w.errors, w.errors
    finally:
        w.close()


KV_FIT = """() => {
  const vw = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('table.bg-kv')).map(t => {
    const wrap = t.closest('.bg-table-wrap');
    const r = t.getBoundingClientRect();
    return {wrapped: !!wrap, over: wrap ? wrap.scrollWidth - wrap.clientWidth : null,
            left: r.left, right: r.right - vw, own: t.scrollWidth - t.clientWidth};
  });
}"""


@pytest.mark.parametrize("width", [390, 360])
def test_device_ceilings_table_fits_a_phone(
    browser: Any, server: str, site: Path, width: int
) -> None:
    """Every device page's table of measured ceilings (a key / value table) sits in its own
    box like every other data table, and that box fits a phone with nothing to scroll: it was
    the one table outside a box, so a probe of its box read the text column's overflow (16 px,
    Material's code blocks reaching the screen's edges) as its own."""
    w = Watch(browser, server, viewport={"width": width, "height": 844})
    pages = [p for p in _pages(site) if re.fullmatch(r"devices/[^/]+/index\.html", p)]
    assert len(pages) == 3
    try:
        for rel in pages:
            w.page.goto(f"{server}/{rel}", wait_until="load")
            got = w.page.evaluate(KV_FIT)
            assert len(got) == 1, (rel, got)
            for t in got:
                assert t["wrapped"], (rel, t)
                assert t["over"] <= 0 and t["own"] <= 0, (rel, t)
                assert t["left"] >= 0 and t["right"] <= 0, (rel, t)
            assert w.page.evaluate(OVERFLOW) <= 0, rel
        assert not w.errors, w.errors
    finally:
        w.close()


HOSTILE_HOVER = """async () => {
  await window.bgCharts.renderAll();
  for (const fig of document.querySelectorAll('.bg-figure')) {
    const spec = JSON.parse(fig.querySelector('.bg-chart script').textContent);
    const k = spec.series.findIndex(s => (s.bad || []).some(b => b[1].includes('xss')));
    if (k < 0 || spec.type !== 'lines') continue;
    const box = fig.querySelector(`input[data-series="${k}"]`);
    if (!box.checked) box.click();
    return {id: fig.id, k: k, x0: spec.x[spec.series[k].bad[0][0]], x: spec.x};
  }
  return null;
}"""


def test_hover_shows_quotes_and_markup_as_written(browser: Any, server: str) -> None:
    """A hover label shows a message holding ``"``, ``'``, ``<`` and ``&`` as written (the
    fixture's hostile text), escaped once for Plotly: no ``&quot;`` (Plotly decodes only a few
    named entities, and printed that one as it is), no ``&amp;``, and no tag drawn."""
    w = Watch(browser, server, viewport={"width": 1280, "height": 900})
    try:
        w.page.goto(f"{server}/{MODEL_PAGE}", wait_until="load")
        found = w.page.evaluate(HOSTILE_HOVER)
        assert found is not None and found["x0"] == found["x"][0], found
        fid = found["id"]
        w.page.wait_for_function(
            f"document.querySelector('#{fid} .js-plotly-plot').data[{found['k']}].visible === true"
        )
        w.page.locator(f"#{fid}").scroll_into_view_if_needed()
        got = w.page.evaluate(HOVER_AT, [f"#{fid}", 0.01])
        assert got is not None
        text = got["text"].replace("\u00a0", " ")
        assert "xss" in text, text
        assert "<script>alert('xss')</script>&\"'" in text.replace("\n", ""), text
        for entity in ("&quot;", "&amp;", "&lt;", "&#"):
            assert entity not in text, (entity, text)
        assert not w.page.evaluate(f"!!document.querySelector('#{fid} .hoverlayer script')")
        assert not w.errors, w.errors
    finally:
        w.close()
