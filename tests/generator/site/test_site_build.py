"""The catalog builds from site_data with ``mkdocs build --strict``: pages, links, escaping,
downloads, bundles, empty and corrupt data; and every figure the pages state in a sentence
equals the figure recomputed here, independently, from the raw records (synthetic and the
committed data). (Browser checks are in test_site_browser.py.)"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import statistics
import zipfile
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from generator.data.records import (
    SEARCH_CURRENT,
    AAControl,
    BenchFile,
    BenchRow,
    Measurement,
    Status,
    load,
)
from generator.data.shipped import shipped_set, shipped_sets
from generator.site import charts, gains, providers, recommend
from tests.fixtures.make_synthetic import HOSTILE, provenance, write_catalog
from tests.fixtures.sitebuild import REPO, mkdocs_build

DEVICES = ("SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B", "SYNTHETIC_GPU_C")  # current, old, baselines
PAGES = ("synthetic-dense-00-tp1", "synthetic-dense-01-tp1", "synthetic-mla-02-tp8")
FACT = re.compile(r'<span class="bg-fact" data-fact="([^"]+)">([^<]*)</span>')


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("catalog")
    write_catalog(root / "site_data", n_devices=3, n_models=3, hostile=True)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_page_is_generated(built: tuple[Path, Path]) -> None:
    _, site = built
    for dev in DEVICES:
        for page in ("index", *PAGES, "a16w8-mla"):
            assert (site / "devices" / dev / f"{page}.html").is_file(), (dev, page)
        dl = site / "devices" / dev / "downloads"
        assert (dl / f"{dev}-configs.zip").is_file()
        assert (dl / "synthetic-dense-00-tp1.csv").is_file()
        assert (dl / "synthetic-dense-00-tp1-vllm-configs.zip").is_file()
        assert (dl / "synthetic-dense-00-tp1-sglang-configs.zip").is_file()
    assert (site / "assets" / "javascripts" / "plotly.min.js").stat().st_size > 1_000_000
    # nothing generated is committed: docs/ holds only hand-written pages and assets
    assert {"index.md", "installing.md", "kernels.md", "methodology.md"} <= {
        p.name for p in (REPO / "docs").glob("*.md")
    }
    assert not (REPO / "docs" / "devices").exists()
    # development notes are not published
    assert not (site / "kernel-notes.html").exists()
    nav = (site / "index.html").read_text()
    assert "kernel-notes" not in nav and 'href="kernels.html"' in nav


def test_data_is_escaped(built: tuple[Path, Path]) -> None:
    _, site = built
    seen_escaped = False
    for page in _html_pages(site):
        text = page.read_text()
        assert HOSTILE not in text and "<script>alert(" not in text, page
        seen_escaped |= "&lt;script&gt;alert(" in text or "\\u003cscript\\u003ealert" in text
    assert seen_escaped, "the hostile fixture strings should appear, escaped"


def test_local_links_resolve_and_nothing_external_is_loaded(built: tuple[Path, Path]) -> None:
    _, site = built
    attr = re.compile(r'<(a|script|link|img)\b[^>]*?\b(href|src)="([^"]+)"')
    for page in _html_pages(site):  # 404.html included: its links are relative too
        for tag, _, url in attr.findall(page.read_text()):
            if url.startswith("#") or url.startswith("mailto:"):
                continue
            if re.match(r"^[a-z]+:", url) or url.startswith("//"):
                assert tag == "a", f"{page}: external resource {url}"
                continue
            path = html.unescape(url.split("#")[0].split("?")[0])
            target = (page.parent / path).resolve()
            assert target.exists(), f"{page}: broken link {url}"


def test_404_page_uses_relative_assets(built: tuple[Path, Path]) -> None:
    _, site = built
    text = (site / "404.html").read_text()
    assert not re.search(r'(href|src)="/\w', text)
    assert "assets/stylesheets/" in text and "<base href" in text  # restored over HTTP


def test_plotly_is_loaded_once_per_page(built: tuple[Path, Path]) -> None:
    _, site = built
    page = site / "devices" / "SYNTHETIC_GPU_A" / "synthetic-dense-00-tp1.html"
    assert page.read_text().count("plotly.min.js") == 1


def test_home_matrix_links_every_model_page(built: tuple[Path, Path]) -> None:
    _, site = built
    home = (site / "index.html").read_text()
    for dev in DEVICES:
        for page in PAGES:
            assert f'href="devices/{dev}/{page}.html"' in home
    assert "What our files give" in home and "Kernels our files do not install" in home


def test_csv_download_matches_rows(built: tuple[Path, Path]) -> None:
    site_data, site = built
    text = (site / "devices/SYNTHETIC_GPU_A/downloads/synthetic-dense-00-tp1.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    bench = load(site_data / "devices/SYNTHETIC_GPU_A/bench/model.json", BenchFile)
    assert len(rows) == sum(1 for r in bench.rows if r.model == "synthetic-dense-00" and r.tp == 1)
    assert {r["status"] for r in rows} >= {"ok", "unsupported", "incorrect"}
    raw = json.loads((site / "devices/SYNTHETIC_GPU_A/raw/bench/model.json").read_text())
    assert raw["sweep"] == "model"
    tuning = list(
        csv.DictReader(
            io.StringIO(
                (site / "devices/SYNTHETIC_GPU_A/downloads/SYNTHETIC_GPU_A-tuning.csv").read_text()
            )
        )
    )
    seeded = [r for r in tuning if r["kernel"] == "w8a8_block" and r["input_type"] == "fp8"]
    assert seeded and all(r["vllm-default_us"] and r["search"] for r in seeded)
    assert any(r["vllm-0.33.0_us"] for r in seeded)


def _expected_files(site_data: Path, dev: str, model: str, tp: int, engine: str) -> set[str]:
    """The engine's file names of the model's weight shapes at this TP that the device has."""
    from generator.configs.engine_files import file_name

    bench = load(site_data / f"devices/{dev}/bench/model.json", BenchFile)
    nks = {(r.N, r.K) for r in bench.rows if r.model == model and r.tp == tp}
    names = {file_name(engine, n, k, dev, "fp8") for n, k in nks}
    return {n for n in names if (site_data / f"devices/{dev}/configs/{engine}/{n}").is_file()}


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_model_bundle_holds_exactly_the_models_files(built: tuple[Path, Path], engine: str) -> None:
    site_data, site = built
    dev, model, tp = "SYNTHETIC_GPU_A", "synthetic-dense-00", 1
    path = site / f"devices/{dev}/downloads/{model}-tp{tp}-{engine}-configs.zip"
    zf = zipfile.ZipFile(path)
    expected = _expected_files(site_data, dev, model, tp, engine)
    configs = {n.split("/", 1)[1] for n in zf.namelist() if n.startswith(f"{engine}/")}
    assert configs == expected and expected
    assert set(zf.namelist()) == {f"{engine}/{n}" for n in expected} | {
        "README.txt",
        "manifest.json",
    }
    manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["device"], manifest["model"], manifest["tp"]) == (dev, model, tp)
    for f in manifest["files"]:
        assert f["sha256"] == hashlib.sha256(zf.read(f["path"])).hexdigest()
        if f["path"].startswith(engine):
            assert f["layers"] and "replaces_shipped_file" in f
            assert [run["search"] for run in f["tuned"]] == [[SEARCH_CURRENT]]
            assert (
                site_data / f"devices/{dev}/configs/{engine}/{f['path'].split('/', 1)[1]}"
            ).read_bytes() == zf.read(f["path"])
    readme = zf.read("README.txt").decode()
    assert "for W8A8 Block FP8 kernel." in readme and "fused-moe" in readme.lower()
    # the README's gains are the page's (which a test recomputes from the records)
    release = next(s.id for s in shipped_sets() if s.engine == engine)
    facts = _stated((site / f"devices/{dev}/{model}-tp{tp}.html").read_text())
    told = re.findall(r"^  (\w+) \([^)]*\): ([\d.]+)x over (\d+) points", readme, re.M)
    assert len(told) >= 3
    for band, median, n in told[:3]:
        assert facts[f"{dev}|{model}@tp{tp}|{release}|{band}|median"] == median
        assert facts[f"{dev}|{model}@tp{tp}|{release}|{band}|n"] == n
    assert zipfile.ZipFile(path).read("manifest.json") == zf.read("manifest.json")
    # the single-file links on the page serve the same bytes
    page = (site / f"devices/{dev}/{model}-tp{tp}.html").read_text()
    for name in expected:
        assert f'download="{html.escape(name)}"' in page


def test_pages_cite_the_runs_of_their_rows(tmp_path: Path) -> None:
    """Every page that says where and when its numbers were measured cites the runs named by
    its rows' own provenance: never the device's first run, never a bench file's provenance
    (its last writer's), on the model, MLA, device and home pages and in the downloads."""
    write_catalog(tmp_path / "site_data", n_devices=1, n_models=2, mla=True)
    dev = tmp_path / "site_data/devices/SYNTHETIC_GPU_A"
    raw = json.loads((dev / "device.json").read_text())
    raw["provenance"]["git_sha"] = "d3v1ce0"
    (dev / "device.json").write_text(json.dumps(raw))
    for sweep in ("model", "square", "mla"):
        path = dev / f"bench/{sweep}.json"
        raw = json.loads(path.read_text())
        raw["provenance"]["git_sha"] = "f1le000"  # the last writer, who measured none of these
        # each run of the file split in two, odd rows citing the one and even rows the other
        shas = ("r0w0002", "r0w0001")
        raw["runs"] = [{**run, "git_sha": sha} for run in raw["runs"] for sha in shas]
        for i, row in enumerate(raw["rows"]):
            row["run"] = 2 * row["run"] + i % 2
        path.write_text(json.dumps(raw))
    result = mkdocs_build(tmp_path / "site_data", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    pages = {
        name: (site / name).read_text()
        for name in (
            "index.html",
            "devices/SYNTHETIC_GPU_A/index.html",
            "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html",
            "devices/SYNTHETIC_GPU_A/a16w8-mla.html",
            "devices/SYNTHETIC_GPU_A/downloads/a16w8-mla.json",
            "devices/SYNTHETIC_GPU_A/downloads/synthetic-dense-00-tp1.json",
        )
    }
    for name, text in pages.items():
        assert "r0w0001" in text and "r0w0002" in text, name
        if name != "devices/SYNTHETIC_GPU_A/index.html":  # its data-files table lists files
            assert "f1le000" not in text and "d3v1ce0" not in text, name
    # the data-files table lists a bench file by the runs of its rows, not by its provenance
    table = pages["devices/SYNTHETIC_GPU_A/index.html"].split('id="data-files"')[1]
    assert "f1le000" not in table
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                (site / "devices/SYNTHETIC_GPU_A/downloads/synthetic-dense-00-tp1.csv").read_text()
            )
        )
    )
    assert {r["git_sha"] for r in csv_rows} == {"r0w0001", "r0w0002"}


def test_pages_say_which_rows_were_timed_the_earlier_way(built: tuple[Path, Path]) -> None:
    """Rows of runs before 2026-12-02 record no timing method: their pages say that those rows
    were timed with the earlier method and link the methodology; pages of rows whose runs
    record their method name it instead."""
    _, site = built
    page = "synthetic-dense-00-tp1.html"
    current = (site / "devices/SYNTHETIC_GPU_A" / page).read_text()  # rows with a method
    old = (site / "devices/SYNTHETIC_GPU_B" / page).read_text()  # rows without one
    note = "their rows were timed with the"
    link = '<a href="../../methodology.html#timing">earlier method</a>'
    assert note in old and link in old
    method = '(<a href="../../methodology.html#timing">timing</a>: synthetic: interleaved, made-up'
    assert note not in current and method in current
    home = (site / "index.html").read_text()
    assert '<a href="methodology.html#timing">earlier method</a>' in home
    assert (site / "methodology.html").read_text().count('id="timing"') == 1


def test_contributed_devices_say_so(tmp_path: Path) -> None:
    """A GPU contributed by pull request (device.json's contributed_by) is marked as such on
    its device page and in the home matrix; the project's own devices are not."""
    write_catalog(tmp_path / "site_data", n_devices=2, n_models=1, mla=False)
    path = tmp_path / "site_data/devices/SYNTHETIC_GPU_A/device.json"
    raw = json.loads(path.read_text())
    raw["contributed_by"] = "gpu-owner"
    path.write_text(json.dumps(raw))
    result = mkdocs_build(tmp_path / "site_data", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    assert "@gpu-owner" in (site / "devices/SYNTHETIC_GPU_A/index.html").read_text()
    assert "@gpu-owner" not in (site / "devices/SYNTHETIC_GPU_B/index.html").read_text()
    home = (site / "index.html").read_text()
    assert home.count("contributed by") == 1 and "@gpu-owner" in home


def test_eras_are_told_apart(built: tuple[Path, Path]) -> None:
    _, site = built
    page = "synthetic-dense-00-tp1.html"
    current = (site / "devices/SYNTHETIC_GPU_A" / page).read_text()
    old = (site / "devices/SYNTHETIC_GPU_B" / page).read_text()
    tuning = (site / "devices/SYNTHETIC_GPU_C" / page).read_text()
    current, old, tuning = (html.unescape(t) for t in (current, old, tuning))
    # A is a Hopper (DeepGEMM by default): the row is the engine's Triton kernel, never "today";
    # C is an AMD Instinct, where the engines run Triton: there it is what they run today
    assert ">vLLM 0.33.0's Triton kernel, its shipped files<br>" in current
    assert "from the benchmark" in current and "vLLM 0.33.0 today" not in current
    assert "Measured before the comparison with the shipped files" not in current
    assert "Measured before the comparison with the shipped files" in old
    assert gains.search_text(1) in old
    assert ">vLLM 0.33.0's Triton kernel, its shipped files<br><small>from" not in old  # a stand-in
    assert ">vLLM 0.33.0 today (its Triton kernel, its shipped files)<br>" in tuning
    assert "while tuning</a> our files" in tuning


def test_methodology_lists_every_provider_and_defines_terms(built: tuple[Path, Path]) -> None:
    site_data, site = built
    text = html.unescape((site / "methodology.html").read_text())
    for path in site_data.glob("devices/*/bench/*.json"):
        for name, info in json.loads(path.read_text())["providers"].items():
            assert f"<code>{name}</code>" in text and info["label"] in text
    for term in ("<strong>M</strong>", "<strong>N</strong>", "<strong>K</strong>"):
        assert term in text
    assert "<strong>B</strong>" in text and "<strong>TP</strong>" in text
    for band in gains.BANDS:  # the bands the pages use are the ones defined here
        assert band.bounds in text
    assert f"at least {gains.NOISE_FLOOR:.0%}".replace("%", " %") in text


def test_mla_page_keeps_the_other_vendor_apart(built: tuple[Path, Path]) -> None:
    _, site = built
    text = (site / "devices/SYNTHETIC_GPU_A/a16w8-mla.html").read_text()
    assert "fastest / reference" not in text
    assert "published TFLOP/s, another GPU" in text and "Another vendor's GPU" in text
    assert 'href="https://github.com/ROCm/aiter/pull/2297"' in text
    assert "× bf16 bmm, same GPU" in text


def test_wide_tables_scroll_in_their_own_box(built: tuple[Path, Path]) -> None:
    _, site = built
    for page in _html_pages(site):
        text = page.read_text()
        for m in re.finditer(r"<table class=\"(bg-[^\"]*)\"", text):
            before = text[max(0, m.start() - 40) : m.start()]
            assert 'class="bg-table-wrap"' in before, (page, m.group(1))


def _specs(page: Path) -> list[dict[str, Any]]:
    raw = re.findall(r'<script type="application/json">(.*?)</script>', page.read_text())
    return [json.loads(s) for s in raw]


def test_charts_draw_at_most_six_providers_by_default(built: tuple[Path, Path]) -> None:
    _, site = built
    n = 0
    for page in _html_pages(site):
        for spec in _specs(page):
            shown = [s for s in spec["series"] if s["visible"]]
            assert 0 < len(shown) <= providers.MAX_SHOWN, (page, [s["name"] for s in shown])
            for view in spec["views"]:
                assert len(view["ys"]) == len(spec["series"])
            n += 1
    assert n > 20
    spec = _specs(site / "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html")[0]
    shown = {s["key"] for s in spec["series"] if s["visible"]}
    assert {
        "torch-bf16",
        "triton-fp8-block-tuned",
        "triton-fp8-block-vllm-0.33.0",
        "triton-fp8-block-sglang-0.5.23",
        "triton-fp8-block-default",
    } <= shown
    assert [v["id"] for v in spec["views"]][:2] == ["tflops", "bf16"]
    assert any(v["id"].startswith("today-") for v in spec["views"])
    assert spec["views"][0]["log"], "TFLOP/s spans decades: log axis"


def test_colours_stand_out_in_both_palettes() -> None:
    from generator.bench import registry

    for p in registry.all_providers():
        st = providers.style(p.name)
        assert providers.contrast(st.color_light, providers.LIGHT_BG) >= providers.MIN_CONTRAST
        assert providers.contrast(st.color_dark, providers.DARK_BG) >= providers.MIN_CONTRAST


def test_empty_site_data_builds(tmp_path: Path) -> None:
    (tmp_path / "site_data" / "devices").mkdir(parents=True)
    result = mkdocs_build(tmp_path / "site_data", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "No measurements yet" in (tmp_path / "site" / "index.html").read_text()


def test_corrupt_site_data_names_file_and_field(tmp_path: Path) -> None:
    write_catalog(tmp_path / "site_data", n_devices=1, n_models=1, mla=False)
    path = tmp_path / "site_data/devices/SYNTHETIC_GPU_A/bench/model.json"
    raw = json.loads(path.read_text())
    raw["rows"][3]["measurement"]["status"] = "fast"
    path.write_text(json.dumps(raw))
    result = mkdocs_build(tmp_path / "site_data", tmp_path / "site")
    assert result.returncode != 0
    assert str(path) in result.stderr and "rows.3.measurement.status" in result.stderr


def test_bad_config_file_fails_the_build(tmp_path: Path) -> None:
    write_catalog(tmp_path / "site_data", n_devices=1, n_models=1, mla=False)
    cfg = next((tmp_path / "site_data/devices/SYNTHETIC_GPU_A/configs/vllm").iterdir())
    cfg.write_text('{"16": {"BLOCK_SIZE_M": "big"}}')
    result = mkdocs_build(tmp_path / "site_data", tmp_path / "site")
    assert result.returncode != 0
    assert cfg.name in result.stderr and "16.BLOCK_SIZE_M" in result.stderr


@pytest.fixture
def recorded_metadata():
    """A new catalog: the registered providers' metadata is the registry's (rows built by
    hand need nothing learned from a file)."""
    providers.forget()
    yield
    providers.forget()


def _row(
    provider: str, m: int, us: float | None, status: Status = Status.OK, spread: float = 0.0
) -> BenchRow:
    meas = Measurement(
        status=status,
        latency_us=us,
        p20_us=None if us is None else us * (1 - spread / 2),
        p80_us=None if us is None else us * (1 + spread / 2),
        tflops=None if us is None else 100.0 / us,
    )
    return BenchRow(provider=provider, sweep="model", M=m, N=128, K=128, measurement=meas)


def test_invalid_rows_never_win_and_ties_merge(recorded_metadata) -> None:
    rows = [
        _row("torch-bf16", 1, 10.0),
        _row("triton-fp8-block-tuned", 1, 8.0),
        _row("cublas-fp8-block", 1, 1.0, Status.UNSUPPORTED),
        _row("torch-bf16", 2, 10.0),
        _row("triton-fp8-block-tuned", 2, 9.0),
        _row("cublas-fp8-block", 2, 0.5, Status.INCORRECT),
        _row("fp8-tensor", 2, 0.1),  # not a drop-in for block-scaled weights
        _row("torch-bf16", 4, 10.0),
        _row("cublas-fp8-block", 4, 5.0),
        _row("triton-fp8-block-tuned", 4, 8.0),
        # two cuBLAS calls within the noise of each other: a tie, named together
        _row("torch-bf16", 8, 10.0),
        _row("cublas-fp8-block", 8, 5.0, spread=0.04),
        _row("cublas-fp8-block-v2", 8, 5.05, spread=0.04),
        _row("triton-fp8-block-tuned", 8, 9.0),
    ]
    got = recommend.ranges(rows)
    assert [(r.m_lo, r.m_hi, r.tied) for r in got] == [
        (1, 2, ("triton-fp8-block-tuned",)),
        (4, 8, ("cublas-fp8-block",)),
    ]
    assert got[0].speedup_lo == pytest.approx(10 / 9) and got[0].speedup_hi == pytest.approx(1.25)
    assert recommend.picks(rows)[-1].tied == ("cublas-fp8-block", "cublas-fp8-block-v2")
    decode = recommend.advice(rows)[0]
    assert decode.installed is not None and decode.installed.provider == "triton-fp8-block-tuned"
    # cuBLAS fails at M = 1 and 2: it cannot be the answer for the whole band
    assert decode.fastest is not None and decode.fastest.provider == "triton-fp8-block-tuned"


def _with_control(row: BenchRow, spread: float) -> BenchRow:
    us = row.measurement.latency_us or 1.0
    return row.model_copy(
        update={"control": AAControl(provider="x", a_us=us, b_us=us * (1 + spread))}
    )


@pytest.mark.parametrize("control, tie", [(0.02, True), (0.003, False)])
def test_the_points_aa_control_is_the_tie_threshold(recorded_metadata, control, tie) -> None:
    """Two rows 1.5 % apart, p20-p80 spreads of zero: beyond the 1 % floor, so faster, unless
    identical work timed 2 % apart at that point (the A/A control, carried by either row); the
    gain tables, the per-M picks and the band advice all decide so."""
    rows = [
        _row("torch-bf16", 8, 20.0),
        _with_control(_row("triton-fp8-block-tuned", 8, 10.0), control),
        _row("triton-fp8-block-default", 8, 10.15),
        _row("cublas-fp8-block", 8, 10.15),
    ]
    rows = [r.model_copy(update={"model": "m", "tp": 1}) for r in rows]
    vs_default = gains.gains(rows).get("default")
    assert vs_default is not None
    st = vs_default.stat(gains.BANDS[0])
    assert (st.ties, st.faster) == ((1, 0) if tie else (0, 1))
    tuned, default = rows[1], rows[2]
    assert gains.judge_rows(tuned, default)[1] == (0 if tie else 1)
    assert gains.judge_rows(default, tuned)[1] == (0 if tie else -1)  # from either row
    same = {"triton-fp8-block-default", "cublas-fp8-block"}  # 1.5 % behind the tuned row
    tied = {"triton-fp8-block-tuned", *(same if tie else ())}
    assert set(recommend.picks(rows)[0].tied) == tied
    fastest = recommend.advice(rows)[0].fastest
    assert fastest is not None and set(fastest.tied) == tied


def test_invalid_rows_are_not_line_points(recorded_metadata) -> None:
    rows = [_row("cublas-fp8-block", m, 2.0) for m in (1, 2, 4)]
    rows[1] = _row("cublas-fp8-block", 2, 1.0, Status.INCORRECT)
    spec = charts.model_chart(rows)
    assert spec is not None
    (series,) = spec["series"]
    assert series["lat"][1] is None and all(v["ys"][0][1] is None for v in spec["views"])
    assert series["bad"] == [[1, "incorrect"]]


def test_site_config_keys_match_the_kernels():
    """The site takes the config keys from configs.keys, which restates the kernels' keys to
    stay torch-free; they must not drift apart."""
    from generator.configs import keys
    from generator.site import export
    from kernels.tiling import CONFIG_KEYS

    assert export.CONFIG_KEYS is keys.CONFIG_KEYS
    assert tuple(keys.CONFIG_KEYS) == tuple(CONFIG_KEYS)


def test_site_noise_margin_is_the_tuners() -> None:
    from generator.tune.search import AA_TARGET

    assert gains.NOISE_FLOOR == AA_TARGET


# --- every figure stated in a sentence, recomputed from the raw records ----------------------


def _band(m: int) -> str:
    return "decode" if m <= 16 else "mid" if m < 1024 else "prefill"


def _spread(m: dict) -> float:
    if m.get("p20_us") is not None and m.get("p80_us") is not None and m.get("latency_us"):
        return max(0.0, (m["p80_us"] - m["p20_us"]) / m["latency_us"])
    return 0.0


def _good(m: dict | None) -> bool:
    return bool(m) and m["status"] == "ok" and bool(m.get("latency_us"))


def _control(*rows: dict | None) -> float:
    """The point's A/A control spread, from whichever row carries one."""
    spreads = [
        abs(c["a_us"] - c["b_us"]) / min(c["a_us"], c["b_us"])
        for c in (r.get("control") for r in rows if r)
        if c
    ]
    return max(spreads, default=0.0)


def _runoff_pair(rec: dict, mine: dict | None, ref: dict | None) -> tuple:
    """A tuning record's two measurements as its runoff timed them (its medians, no
    percentiles), where the runoff timed both configs; else as they are."""
    if not (_good(mine) and _good(ref)):
        return mine, ref
    by_config = []
    for name, us in (rec.get("runoff_us") or {}).items():
        if name == "search":
            won = rec.get("winner_source", "search") == "search"
            m = rec.get("winner") if won else (rec.get("runners_up") or [None])[0]
        else:
            m = rec.get("baselines", {}).get(name)
        if m:
            by_config.append((m.get("config"), us))

    def at_runoff(m: dict) -> dict | None:
        us = next((u for c, u in by_config if c == m.get("config")), None)
        return None if us is None else {**m, "latency_us": us, "p20_us": None, "p80_us": None}

    a, b = at_runoff(mine), at_runoff(ref)
    return (a, b) if a and b else (mine, ref)


def _point(subject: dict, ref: dict, control: float = 0.0) -> tuple[float, int]:
    r = ref["latency_us"] / subject["latency_us"]
    tol = max(_spread(subject), _spread(ref), control, 0.01)
    return r, (1 if r > 1 + tol else -1 if r < 1 / (1 + tol) else 0)


def _stats(
    points: list[tuple[str, float, int]], key: str, totals: dict[str, int] | None = None
) -> dict[str, str]:
    """A comparison's figures per band; ``totals``: the band's points of the whole table (its
    one denominator), where this comparison's are fewer the rest are "not compared"."""
    out = {}
    for band in ("decode", "mid", "prefill"):
        pts = [(r, v) for b, r, v in points if b == band]
        if not pts:
            continue
        if totals and totals.get(band, 0) > len(pts):
            out[f"{key}|{band}|missing"] = str(totals[band] - len(pts))
        out[f"{key}|{band}|n"] = str(len(pts))
        out[f"{key}|{band}|faster"] = str(sum(1 for _, v in pts if v > 0))
        out[f"{key}|{band}|ties"] = str(sum(1 for _, v in pts if v == 0))
        out[f"{key}|{band}|slower"] = str(sum(1 for _, v in pts if v < 0))
        out[f"{key}|{band}|median"] = f"{statistics.median(r for r, _ in pts):.2f}"
    return out


def _fp8(info: dict) -> bool:
    return info["scheme"] == "fp8-block"


def _pick(infos: dict[str, dict], test: Any) -> str | None:
    return next((n for n, i in infos.items() if test(i)), None)


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def _device_facts(dev_dir: Path) -> dict[str, str]:
    """The device page's figures: provenance, file counts, tuning checks."""
    dev = dev_dir.name
    out = {}
    prov = json.loads((dev_dir / "device.json").read_text())["provenance"]
    out[f"{dev}|sm_count"] = str(prov["sm_count"])
    out[f"{dev}|memory_gib"] = _fmt(prov["memory_gib"])
    for fw in ("vllm", "sglang", "a16w8"):
        files = [p for p in (dev_dir / "configs" / fw).glob("*.json") if not p.name.startswith(".")]
        out[f"{dev}|configs|{fw}"] = str(len(files))
    pruning = dev_dir / "checks" / "pruning.json"
    if pruning.is_file():
        raw = json.loads(pruning.read_text())
        out[f"{dev}|pruning|geomean"] = _fmt(raw["geomean_ratio"], 4)
        out[f"{dev}|pruning|points"] = str(len(raw["points"]))
        if raw.get("worst_ratio"):
            out[f"{dev}|pruning|worst"] = _fmt(raw["worst_ratio"], 4)
    for i, path in enumerate(sorted((dev_dir / "checks").glob("tune_time*.json"))):
        raw = json.loads(path.read_text())
        k = f"{dev}|tune_time|{i}"
        out[f"{k}|tasks"] = str(raw["tasks"])
        out[f"{k}|wall_s"] = _fmt(raw["wall_s"])
        out[f"{k}|gpus"] = str(raw["provenance"].get("gpu_count", 1))
        if raw.get("compile_s") is not None:
            out[f"{k}|compile_s"] = _fmt(raw["compile_s"])
    return out


DISPATCH_RULES = REPO / "generator/data/reference/dispatch_rules.json"


def _rule_arch(device: str, recorded: str | None) -> str | None:
    """The rules' architecture of a device, straight from dispatch_rules.json."""
    raw = json.loads(DISPATCH_RULES.read_text())["device_archs"]
    if recorded:
        return "rocm" if recorded.startswith("gfx") else raw["recorded"].get(recorded)
    return next(
        (a for a, pre in raw["name_prefixes"].items() if device.startswith(tuple(pre))), None
    )


ENGINE_LABELS = {"vllm": "vLLM", "sglang": "SGLang"}


def _state(votes: set[int]) -> str:
    """A cell's state from its points' verdicts (+1 Triton faster, 0 tie, -1 slower)."""
    if not votes:
        return "not measured"
    if votes == {1}:
        return "faster"
    if votes == {-1}:
        return "slower"
    return "tie" if votes == {0} else "mixed"


def _holds(when: dict, arch: str, n: int, k: int, m: int, out_dtype: str) -> bool:
    return (
        arch in when.get("arch", [arch])
        and out_dtype in when.get("out_dtype", [out_dtype])
        and n % when.get("n_multiple", 1) == 0
        and k % when.get("k_multiple", 1) == 0
        and m >= when.get("m_min", m)
        and m <= when.get("m_max", m)
    )


def _verdict_facts(
    pre: str,
    keys: list,
    grid: dict,
    infos: dict[str, dict],
    arch: str | None,
    out_dtype: str,
    decisions: dict[str, str],
) -> dict[str, str]:
    """A model page's verdict figures (generator.site.verdict), recomputed from the records and
    the raw rule table: per engine, each layer x band cell of the points where the engine's
    default backend is not Triton, judged like every comparison."""
    if arch is None:
        for e in json.loads(DISPATCH_RULES.read_text())["engines"]:
            decisions[f"{ENGINE_LABELS[e['engine']]} {e['version']}"] = "uncovered"
        return {}
    table = json.loads(DISPATCH_RULES.read_text())
    newest: dict[str, dict] = {}
    for e in table["engines"]:
        old = newest.get(e["engine"])
        version = tuple(int(x) for x in e["version"].split("."))
        if old is None or version > tuple(int(x) for x in old["version"].split(".")):
            newest[e["engine"]] = e
    tuned = _pick(infos, lambda i: i.get("installable") and not i.get("baseline") and _fp8(i))
    out: dict[str, str] = {}
    for engine, rules in newest.items():
        source = f"shipped:{engine}-{rules['version']}"
        shipped = _pick(infos, lambda i, src=source: i.get("config_source") == src)
        want = "default" if engine == "vllm" else f"default:{engine}"
        default = _pick(infos, lambda i, w=want: _fp8(i) and i.get("config_source") == w)
        k = f"{pre}|verdict|{engine}"
        cells: list[tuple[str, tuple, str, list[float]]] = []  # band, key, state, ratios
        installs: list[str] = []  # the states of the cells where Triton runs by default
        for key in keys:
            for band in ("decode", "mid", "prefill"):
                votes, ratios, forced, points = set(), [], False, 0
                for m, at in grid[key].items():
                    if _band(m) != band:
                        continue
                    points += 1
                    rule = next(
                        r
                        for r in rules["rules"]
                        if _holds(r["when"], arch, key[2], key[3], m, out_dtype)
                    )
                    backend = rules["backends"][rule["backend"]]
                    triton_today = at.get(shipped) if shipped else None
                    if triton_today and triton_today["measurement"]["status"] == "unsupported":
                        triton_today = at.get(default)
                    elif triton_today is None and not shipped:
                        triton_today = at.get(default)
                    if triton_today and not _good(triton_today["measurement"]):
                        triton_today = None
                    mine = at.get(tuned)
                    ours = mine is not None and _good(mine["measurement"])
                    if rule["backend"] == "triton":
                        ref, tri = triton_today, (mine if ours else None)
                    else:
                        forced = True
                        ref = at.get(backend["provider"])
                        if not (ref and _good(ref["measurement"])):
                            ref = at.get(backend.get("stand_in"))
                        if not (ref and _good(ref["measurement"])):
                            ref = None
                        tri = mine if ours else triton_today
                    if ref is None or tri is None:
                        continue
                    run = ("git_sha", "date")
                    if [ref["provenance"][f] for f in run] != [tri["provenance"][f] for f in run]:
                        continue  # rows of two runs are never compared
                    r, v = _point(tri["measurement"], ref["measurement"], _control(tri, ref))
                    votes.add(v)
                    ratios.append(r)
                if ratios:  # the per-layer table states every cell's median
                    ck = f"{k}|{key[2]}x{key[3]}|{band}|median"
                    out[ck] = f"{statistics.median(ratios):.2f}"
                if not forced:  # the counts are of the cells where forcing acts
                    if points:
                        installs.append(_state(votes))
                    continue
                cells.append((band, key, _state(votes), ratios))
        for state, name in (
            ("faster", "faster"),
            ("slower", "slower"),
            ("tie", "tie"),
            ("mixed", "mixed"),
            ("not measured", "missing"),
        ):
            out[f"{k}|{name}"] = str(sum(1 for c in cells if c[2] == state))
            for band in ("decode", "mid", "prefill"):
                n = sum(1 for c in cells if c[0] == band and c[2] == state)
                out[f"{k}|{band}|{name}"] = str(n)
        out[f"{k}|cells"] = str(len(cells))
        for band in ("decode", "mid", "prefill"):  # the band table's "of N layers"
            out[f"{k}|{band}|cells"] = str(sum(1 for c in cells if c[0] == band))
        for state, name in (
            ("faster", "faster"),
            ("slower", "slower"),
            ("tie", "tie"),
            ("mixed", "mixed"),
            ("not measured", "missing"),
        ):
            out[f"{k}|install|{name}"] = str(sum(1 for c in installs if c == state))
        out[f"{k}|install|cells"] = str(len(installs))
        states = {c[2] for c in cells} - {"not measured"}
        if not cells:
            decision = "install" if installs else "unmeasured"
        elif not states:
            decision = "unmeasured"
        elif "faster" not in states:  # no cell faster at every point: keep, unhedged
            decision = "keep"
        elif states <= {"faster", "tie"}:
            decision = "force"
        else:
            decision = "mixed"
        decisions[f"{ENGINE_LABELS[engine]} {rules['version']}"] = decision
        for band in ("decode", "mid", "prefill"):
            meds = [statistics.median(c[3]) for c in cells if c[0] == band and c[3]]
            if meds:
                out[f"{k}|{band}|worst"] = f"{min(meds):.2f}"
    return out


def _raw_rows(raw: dict) -> list[dict]:
    """A bench file's rows with each one's provenance inline: a row names its run by index into
    the file's ``runs`` (files of the older form carry it inline, and are taken as they are)."""
    runs = raw.get("runs")
    if runs is None:
        return raw["rows"]
    return [
        {**{k: v for k, v in row.items() if k != "run"}, "provenance": runs[row["run"]]}
        for row in raw["rows"]
    ]


def expected_facts(site_data: Path) -> dict[str, str]:
    """Every figure a page may state, straight from the JSON records (no catalog code)."""
    from generator.configs.engine_files import file_name

    out: dict[str, str] = {}
    for dev_dir in sorted((site_data / "devices").iterdir()):
        dev = dev_dir.name
        infos: dict[str, dict] = {}
        rows: list[dict] = []
        for path in sorted((dev_dir / "bench").glob("*.json")):
            raw = json.loads(path.read_text())
            if raw["sweep"] == "model":
                infos.update(raw.get("providers", {}))
                rows += _raw_rows(raw)
        out.update(_device_facts(dev_dir))
        model_files = [
            json.loads(p.read_text()) for p in sorted((dev_dir / "bench").glob("*.json"))
        ]
        out_dtype = next(
            (f.get("out_dtype") or "bfloat16" for f in model_files if f["sweep"] == "model"),
            "bfloat16",
        )
        dev_prov = json.loads((dev_dir / "device.json").read_text())["provenance"]
        recorded = dev_prov.get("arch") or next(
            (r["provenance"].get("arch") for r in rows if r["provenance"].get("arch")), None
        )
        arch = _rule_arch(dev, recorded)

        tuned = _pick(infos, lambda i: i.get("installable") and not i.get("baseline") and _fp8(i))
        bf16 = _pick(infos, lambda i: i.get("baseline") and i["scheme"] == "bf16")
        vdefault = _pick(infos, lambda i: i.get("config_source") == "default" and _fp8(i))
        shipped = {
            i["config_source"].split(":", 1)[1]: n
            for n, i in infos.items()
            if (i.get("config_source") or "").startswith("shipped:") and _fp8(i)
        }
        others = [
            n
            for n, i in infos.items()
            if _fp8(i)
            and i.get("quant_timed")
            and i["origin"] in ("library", "ours")
            and not i.get("installable")
            and not i.get("baseline")
        ]
        # rows of our tuned files measured before the entry the engines would load for their M
        # (the nearest tuned M with a winner) was tuned again time an earlier file: the pages
        # leave them out. A record is dated by its own provenance, else by its file's only if
        # no record of the file has its own.
        drop_in = {}
        for path in (dev_dir / "tuning").glob("*.json"):
            t = json.loads(path.read_text())
            if t["kernel"] == "w8a8_block" and t.get("B", 1) == 1 and not t.get("exhaustive"):
                if t["out_dtype"] == out_dtype:
                    drop_in[(t["input_type"], t["N"], t["K"])] = t
        ours = {  # installable provider -> the input dtype of its files
            n: i["scheme"].split("-")[0]
            for n, i in infos.items()
            if i.get("installable") and not i.get("baseline")
        }

        def _stale(r: dict, drop_in: dict = drop_in, ours: dict = ours) -> bool:
            t = drop_in.get((ours.get(r["provider"]), r["N"], r["K"]))
            held = [
                rec
                for rec in (t or {}).get("records", [])
                if (rec.get("winner") or {}).get("config")
            ]
            if not held:
                return False
            rec = min(held, key=lambda rec: abs(rec["M"] - r["M"]))
            if rec.get("provenance"):
                tuned_at = rec["provenance"]["date"]
            elif any(x.get("provenance") for x in t["records"]):
                return False
            else:
                tuned_at = t["provenance"]["date"]
            return datetime.fromisoformat(r["provenance"]["date"]) < datetime.fromisoformat(
                tuned_at
            )

        for r in rows:
            if _stale(r):
                k = f"{dev}|{r['model']}@tp{r['tp']}|stale"
                out[k] = str(int(out.get(k, "0")) + 1)
        rows = [r for r in rows if not _stale(r)]
        grid: dict = defaultdict(lambda: defaultdict(dict))
        for r in rows:
            grid[(r["model"], r["tp"], r["N"], r["K"])][r["M"]].setdefault(r["provider"], r)
        installed = {}
        for path in (dev_dir / "tuning").glob("*.json"):
            t = json.loads(path.read_text())
            if t.get("B", 1) != 1 or t["input_type"] != "fp8":
                continue
            cfg = dev_dir / "configs/vllm" / file_name("vllm", t["N"], t["K"], dev, "fp8")
            table = {str(r["M"]): r["winner"]["config"] for r in t["records"] if r.get("winner")}
            if cfg.is_file() and json.loads(cfg.read_text()) == table:
                installed[(t["N"], t["K"])] = t
        scopes: dict[str, list] = {"all": list(grid)}
        for key in grid:
            scopes.setdefault(f"{key[0]}@tp{key[1]}", []).append(key)
        # shapes only "(unsplit)" layers have at TP > 1 run only with data-parallel attention:
        # left out of every pooled figure, and judged apart (their own "|dp" scope)
        layers_at: dict = defaultdict(set)
        for r in rows:
            layers_at[(r["model"], r["tp"], r["N"], r["K"])].add(r.get("layer") or "")
        dp_keys = {
            k for k, names in layers_at.items()
            if (k[1] or 1) > 1 and all(n.endswith(" (unsplit)") for n in names)
        }  # fmt: skip
        for key in sorted(dp_keys, key=str):
            scopes.setdefault(f"{key[0]}@tp{key[1]}|dp", []).append(key)
        engines = {s.id: s.engine for s in shipped_sets()}

        def row_meas(at: dict, name: str | None) -> dict | None:
            return at[name]["measurement"] if name and name in at else None

        def ctrl(at: dict, *names: str | None) -> float:
            return _control(*(at.get(n) for n in names if n))

        tally: Counter = Counter()  # (engine, decision) -> model pages
        for scope, keys in scopes.items():
            pre = f"{dev}|{scope}"
            cmp: dict[str, list] = defaultdict(list)
            source: dict[str, list[str]] = defaultdict(list)
            dflt_shapes: list[tuple[int, int]] = []  # the (N, K) of each "default" point
            # the (key, M) points compared with anything, per band: the gain table's one
            # denominator; ``at_point`` holds the point being compared
            compared: dict[str, set] = defaultdict(set)
            at_point: dict[str, Any] = {}

            def add(
                cid: str,
                band: str,
                mine: dict,
                ref: dict | None,
                how: str,
                control: float,
                cmp=cmp,
                src=source,
                compared=compared,
                at_point=at_point,
            ) -> None:
                if _good(mine) and _good(ref):
                    cmp[cid].append((band, *_point(mine, ref, control)))
                    src[cid].append(how)
                    compared[band].add(at_point["point"])

            apart = scope.endswith("|dp")
            pooled = keys if apart else [k for k in keys if k not in dp_keys]
            for key in pooled:
                t = installed.get((key[2], key[3]))
                records = {r["M"]: r for r in t["records"]} if t else {}
                for m in sorted(set(grid[key]) | set(records)):
                    at_point["point"] = (key, m)
                    at = grid[key].get(m, {})
                    rec = records.get(m)
                    aa = (rec or {}).get("runoff_aa_spread") or 0.0  # the tuning session's A/A
                    mine = row_meas(at, tuned)
                    for set_id, engine in engines.items():
                        name = shipped.get(set_id)
                        want = "default" if engine == "vllm" else f"default:{engine}"
                        own_default = _pick(
                            infos, lambda i, w=want: _fp8(i) and i.get("config_source") == w
                        )
                        # the release's reference files: where it ships none for the (GPU,
                        # shape), its default config is what runs (on every GPU alike)
                        no_file = shipped_set(set_id).table(
                            dev, key[2], key[3]
                        ) is None and not any(
                            r.get("baselines", {}).get(set_id) for r in (t or {}).get("records", [])
                        )  # none in its reference files, none timed for it while tuning
                        if tuned in at and (name in at or (no_file and own_default in at)):
                            today, today_name = row_meas(at, name), name
                            if today is None or today["status"] == "unsupported":
                                today_name = own_default if no_file else None
                                today = row_meas(at, today_name)
                            add(set_id, _band(m), mine, today, "bench", ctrl(at, tuned, today_name))
                        elif rec:
                            b = rec.get("baselines", {})
                            # the default only where the release ships no file (never in
                            # place of one)
                            ships_file = shipped_set(set_id).table(dev, key[2], key[3]) is not None
                            ref = b.get(set_id) or (
                                None if ships_file else b.get(f"{engine}-default")
                            )
                            pair = _runoff_pair(rec, rec.get("winner"), ref)
                            add(set_id, _band(m), *pair, "tuning", aa)
                    n_before = len(cmp["default"])
                    if tuned in at and vdefault in at:
                        dflt = row_meas(at, vdefault)
                        add("default", _band(m), mine, dflt, "bench", ctrl(at, tuned, vdefault))
                    elif rec:
                        pair = _runoff_pair(rec, rec.get("winner"), rec["default"])
                        add("default", _band(m), *pair, "tuning", aa)
                    if len(cmp["default"]) > n_before:
                        dflt_shapes.append((key[2], key[3]))
                    if tuned in at and bf16 in at:
                        c = ctrl(at, tuned, bf16)
                        add("bf16", _band(m), mine, row_meas(at, bf16), "bench", c)
            totals = {band: len(pts) for band, pts in compared.items()}
            for band, n in totals.items():
                out[f"{pre}|points|{band}"] = str(n)
            # an engine with no comparison of its own: vLLM's default stands in, only at the
            # shapes its release ships no file for on this device (elsewhere: not measured)
            for set_id in engines:
                if cmp.get(set_id):
                    continue
                d_src = source.get("default", [])
                d_how = "bench" if "bench" in d_src else "tuning"  # the default's one source
                stand = [
                    p
                    for p, nk, how in zip(cmp.get("default", []), dflt_shapes, d_src, strict=True)
                    if how == d_how and shipped_set(set_id).table(dev, *nk) is None
                ]
                if stand:
                    out.update(_stats(stand, f"{pre}|{set_id}-stand-in", totals))
            for cid, pts in list(cmp.items()):
                # one source per figure: the benchmark's points where it compared the pair,
                # the tuner's apart ("<id>-tuning"); tuning alone where the bench has none
                bench = [p for p, how in zip(pts, source[cid], strict=True) if how == "bench"]
                tuning = [p for p, how in zip(pts, source[cid], strict=True) if how == "tuning"]
                parts = [(cid, bench, "bench"), (f"{cid}-tuning", tuning, "tuning")]
                if not bench:
                    parts = [(cid, tuning, "tuning")]
                for pid, ppts, how in parts:
                    if not ppts:
                        continue
                    out.update(_stats(ppts, f"{pre}|{pid}", totals))
                    out[f"{pre}|{pid}|compared"] = str(len(ppts))
                    out[f"{pre}|{pid}|from_bench"] = str(len(ppts) if how == "bench" else 0)
                    out[f"{pre}|{pid}|from_tuning"] = str(len(ppts) if how == "tuning" else 0)
            if scope == "all" and others and bf16:
                vs_bf16, vs_tuned = [], []
                others_at: dict[str, set] = defaultdict(set)  # points compared, per band
                for key in pooled:
                    for m, at in grid[key].items():
                        good = [n for n in others if _good(row_meas(at, n))]
                        if not good:
                            continue
                        top = min(good, key=lambda n: row_meas(at, n)["latency_us"])
                        best = row_meas(at, top)
                        if _good(row_meas(at, bf16)):
                            c = ctrl(at, top, bf16)
                            vs_bf16.append((_band(m), *_point(best, row_meas(at, bf16), c)))
                            others_at[_band(m)].add((key, m))
                        if _good(row_meas(at, tuned)):
                            c = ctrl(at, top, tuned)
                            vs_tuned.append((_band(m), *_point(best, row_meas(at, tuned), c)))
                            others_at[_band(m)].add((key, m))
                others_totals = {band: len(pts) for band, pts in others_at.items()}
                for band, n in others_totals.items():
                    out[f"{pre}|others-points|{band}"] = str(n)
                out.update(_stats(vs_bf16, f"{pre}|others-bf16", others_totals))
                out.update(_stats(vs_tuned, f"{pre}|others-installed", others_totals))
            if apart:
                out.update(_verdict_facts(pre, keys, grid, infos, arch, out_dtype, {}))
                continue
            # the runs behind the page's rows and files (its provenance line): each row's own
            runs: dict[str, int] = defaultdict(int)
            for key in keys:
                for at in grid[key].values():
                    for r in at.values():
                        pv = r["provenance"]
                        runs[f"{pre}|rows|{pv['git_sha']}|{pv['date'][:10]}"] += 1
            nks_all = {(k[2], k[3]) for k in keys}
            tuned_runs: dict[str, dict] = {}
            for nk, t in installed.items():
                if scope != "all" and nk not in nks_all:
                    continue
                for rec in t["records"]:
                    pv = rec.get("provenance") or t["provenance"]
                    run = tuned_runs.setdefault(
                        f"{pre}|tuned|{pv['git_sha']}|{pv['date'][:10]}",
                        {"records": 0, "files": set(), "search": set()},
                    )
                    run["records"] += 1
                    run["files"].add(nk)
                    run["search"].add(rec.get("search", 1))
            out.update({k: str(v) for k, v in runs.items()})
            for k, run in tuned_runs.items():
                out[k + "|records"] = str(run["records"])
                out[k + "|files"] = str(len(run["files"]))
                out[k + "|search"] = ", ".join(str(v) for v in sorted(run["search"]))
            if scope != "all":
                decisions: dict[str, str] = {}
                out.update(_verdict_facts(pre, pooled, grid, infos, arch, out_dtype, decisions))
                for name, decision in decisions.items():
                    tally[(name, decision)] += 1
                nks = list(dict.fromkeys((k[2], k[3]) for k in keys))
                out[f"{pre}|shapes"] = str(len(nks))
                for s in shipped_sets():
                    names = [file_name(s.engine, n, k, dev, "fp8") for n, k in nks]
                    have = [n for n in names if (dev_dir / "configs" / s.engine / n).is_file()]
                    out[f"{pre}|files|{s.engine}"] = str(len(have))
                    out[f"{pre}|missing|{s.engine}"] = str(len(names) - len(have))
                    replaced = [
                        1
                        for n, k in nks
                        if (
                            dev_dir / "configs" / s.engine / file_name(s.engine, n, k, dev)
                        ).is_file()
                        and s.table(dev, n, k)
                    ]
                    out[f"{pre}|replaces|{s.engine}"] = str(len(replaced))
        for (name, decision), n in tally.items():
            out[f"{dev}|all|verdicts|{name}|{decision}"] = str(n)
            pages = sum(c for (other, _), c in tally.items() if other == name)
            out[f"{dev}|all|verdicts|{name}|pages"] = str(pages)  # the counts' denominator
    return out


def _stated(text: str) -> dict[str, str]:
    return {html.unescape(k): v for k, v in FACT.findall(text)}


def _check(stated: dict[str, str], expected: dict[str, str]) -> None:
    assert stated, "no figure found"
    wrong = {k: (v, expected.get(k)) for k, v in stated.items() if expected.get(k) != v}
    assert not wrong, wrong


def test_every_stated_figure_is_the_records(built: tuple[Path, Path]) -> None:
    site_data, site = built
    expected = expected_facts(site_data)
    stated: dict[str, str] = {}
    for page in [site / "index.html", *sorted(site.glob("devices/*/*.html"))]:
        stated.update(_stated(page.read_text()))
    _check(stated, expected)
    # each era's comparisons are stated
    for key in (
        "SYNTHETIC_GPU_A|all|vllm-0.33.0|decode|median",
        # device B's engines ship no file: vLLM's row is its default config at every point,
        # stated once under vLLM's name, the default-config row not repeating it
        "SYNTHETIC_GPU_B|all|vllm-0.33.0|decode|median",
        "SYNTHETIC_GPU_C|all|sglang-0.5.23|prefill|n",
        "SYNTHETIC_GPU_A|all|others-bf16|mid|faster",
        "SYNTHETIC_GPU_A|synthetic-dense-00@tp1|files|vllm",
        "SYNTHETIC_GPU_A|synthetic-dense-00@tp1|rows|synthetic|2025-01-01",
        "SYNTHETIC_GPU_A|all|tuned|synthetic|2025-01-01|records",
        "SYNTHETIC_GPU_B|configs|sglang",
        "SYNTHETIC_GPU_B|pruning|geomean",
        "SYNTHETIC_GPU_B|tune_time|0|wall_s",
    ):
        assert key in stated, key
    assert "SYNTHETIC_GPU_B|all|default|decode|median" not in stated


def test_sentences_state_no_number_of_their_own(built: tuple[Path, Path]) -> None:
    """In a sentence that states results, every number is a recomputed figure."""
    _, site = built
    n = 0
    for page in [site / "index.html", *sorted(site.glob("devices/*/*.html"))]:
        for claim in re.findall(r'<p class="bg-claim">(.*?)</p>', page.read_text(), re.S):
            bare = re.sub(r"<[^>]+>", "", FACT.sub("", claim))
            bare = re.sub(r"\b(bf16|fp8|int8)\b", "", bare, flags=re.I)
            assert not re.search(r"\d", bare), (page, bare)
            n += 1
    assert n >= 6


def test_committed_data_figures_are_the_records() -> None:
    """The real catalog: the home page and every model page state what the records say."""
    from generator.site.catalog import load_catalog
    from generator.site.render import render_site

    out = render_site(load_catalog(REPO / "site_data"))
    expected = expected_facts(REPO / "site_data")
    stated: dict[str, str] = {}
    assert out.home is not None
    for page in [out.home, *out.pages]:
        for fragment in page.fragments.values():
            stated.update(_stated(fragment))
    _check(stated, expected)
    assert any(k.startswith("NVIDIA_H200|deepseek-v3@tp8|bf16|decode") for k in stated)


def _of_run(row: BenchRow, sha: str) -> BenchRow:
    prov = provenance("SYNTHETIC_GPU", "Synthetic GPU").model_copy(update={"git_sha": sha})
    return row.model_copy(update={"provenance": prov})


def test_advice_compares_rows_of_one_run_and_says_why_ours_is_missing(recorded_metadata) -> None:
    """At M = 2 our row is of an older run than bf16's and cuBLAS's: it is not ranked against
    them (it would win there), and the band says it was not benchmarked in their run; a band
    where it is incorrect says so, with the M."""
    new, old = "aaaaaaa", "bbbbbbb"
    rows = [
        _of_run(_row("torch-bf16", 1, 10.0), new),
        _of_run(_row("triton-fp8-block-tuned", 1, 8.0), new),
        _of_run(_row("cublas-fp8-block", 1, 9.0), new),
        _of_run(_row("torch-bf16", 2, 10.0), new),
        _of_run(_row("triton-fp8-block-tuned", 2, 1.0), old),
        _of_run(_row("cublas-fp8-block", 2, 9.0), new),
        _of_run(_row("torch-bf16", 32, 10.0), new),
        _of_run(_row("triton-fp8-block-tuned", 32, 5.0, Status.INCORRECT), new),
        _of_run(_row("cublas-fp8-block", 32, 9.0), new),
    ]
    assert [p.tied for p in recommend.picks(rows)] == [
        ("triton-fp8-block-tuned",),
        ("cublas-fp8-block",),
        ("cublas-fp8-block",),
    ]
    decode, mid = recommend.advice(rows)[:2]
    assert decode.installed is None and decode.fastest is not None
    assert decode.fastest.provider == "cublas-fp8-block"
    assert decode.why_not_installed == (
        "ours not benchmarked in the run that measured the others at M = 2"
    )
    assert mid.installed is None and mid.why_not_installed == "ours incorrect at M = 32"
    fresh = [r for r in rows if r.M != 2] + [
        _of_run(_row("triton-fp8-block-tuned", 2, 1.0), new),
        _of_run(_row("torch-bf16", 2, 10.0), new),
        _of_run(_row("cublas-fp8-block", 2, 9.0), new),
    ]
    decode = recommend.advice(fresh)[0]
    assert decode.installed is not None and decode.why_not_installed is None
    # our row at M = 2 left out as stale (the file was re-tuned after it): the reason says so
    stale = [_of_run(_row("triton-fp8-block-tuned", 2, 1.0), new)]
    rest = [r for r in fresh if not (r.M == 2 and r.provider == "triton-fp8-block-tuned")]
    decode = recommend.advice(rest, stale)[0]
    assert decode.why_not_installed == (
        "ours re-tuned after its benchmark at M = 2 (not measured again yet)"
    )
