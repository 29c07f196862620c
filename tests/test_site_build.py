"""The catalog builds from site_data with ``mkdocs build --strict``: pages, links, escaping,
downloads, empty and corrupt data. (Browser checks are in test_site_browser.py.)"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from generator.data.records import BenchFile, BenchRow, Measurement, Status, load
from generator.site import charts, recommend
from tests.fixtures.make_synthetic import HOSTILE, write_catalog
from tests.fixtures.sitebuild import REPO, mkdocs_build


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("catalog")
    write_catalog(root / "site_data", n_devices=2, n_models=3, hostile=True)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _html_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_every_page_is_generated(built: tuple[Path, Path]) -> None:
    _, site = built
    for dev in ("SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B"):
        for page in (
            "index",
            "synthetic-dense-00",
            "synthetic-dense-01",
            "synthetic-mla-02",
            "a16w8-mla",
        ):
            assert (site / "devices" / dev / f"{page}.html").is_file(), (dev, page)
        assert (site / "devices" / dev / "downloads" / f"{dev}-configs.zip").is_file()
        assert (site / "devices" / dev / "downloads" / "synthetic-dense-00.csv").is_file()
    assert (site / "assets" / "javascripts" / "plotly.min.js").stat().st_size > 1_000_000
    # nothing generated is committed: docs/ holds only hand-written pages and assets
    assert sorted(p.name for p in (REPO / "docs").glob("*.md")) == [
        "contributing.md",
        "index.md",
        "installing.md",
        "kernel-notes.md",
        "methodology.md",
    ]
    assert not (REPO / "docs" / "devices").exists()


def test_data_is_escaped(built: tuple[Path, Path]) -> None:
    _, site = built
    seen_escaped = False
    for page in _html_pages(site):
        text = page.read_text()
        assert "<script>alert(" not in text, page
        seen_escaped |= "&lt;script&gt;alert(" in text or "\\u003cscript\\u003ealert" in text
    assert seen_escaped, "the hostile fixture strings should appear, escaped"


def test_local_links_resolve_and_nothing_external_is_loaded(built: tuple[Path, Path]) -> None:
    _, site = built
    attr = re.compile(r'<(a|script|link|img)\b[^>]*?\b(href|src)="([^"]+)"')
    for page in _html_pages(site):
        if page.name == "404.html":  # served at any depth, so MkDocs writes root-absolute URLs
            continue
        for tag, _, url in attr.findall(page.read_text()):
            if url.startswith("#") or url.startswith("mailto:"):
                continue
            if re.match(r"^[a-z]+:", url) or url.startswith("//"):
                assert tag == "a", f"{page}: external resource {url}"
                continue
            target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{page}: broken link {url}"


def test_plotly_is_loaded_once_per_page(built: tuple[Path, Path]) -> None:
    _, site = built
    page = site / "devices" / "SYNTHETIC_GPU_A" / "synthetic-dense-00.html"
    assert page.read_text().count("plotly.min.js") == 1


def test_home_matrix_links_every_model_page(built: tuple[Path, Path]) -> None:
    _, site = built
    home = (site / "index.html").read_text()
    for dev in ("SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B"):
        for model in ("synthetic-dense-00", "synthetic-dense-01", "synthetic-mla-02"):
            assert f'href="devices/{dev}/{model}.html"' in home
    assert "Headline findings" in home


def test_csv_download_matches_rows(built: tuple[Path, Path]) -> None:
    site_data, site = built
    rows = list(
        csv.DictReader(
            io.StringIO(
                (site / "devices/SYNTHETIC_GPU_A/downloads/synthetic-dense-00.csv").read_text()
            )
        )
    )
    bench = load(site_data / "devices/SYNTHETIC_GPU_A/bench/model.json", BenchFile)
    assert len(rows) == sum(1 for r in bench.rows if r.model == "synthetic-dense-00")
    assert {r["status"] for r in rows} >= {"ok", "unsupported", "incorrect"}
    raw = json.loads((site / "devices/SYNTHETIC_GPU_A/raw/bench/model.json").read_text())
    assert raw["sweep"] == "model"


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
    """What the catalog does on load: learn the providers' metadata from the bench files (here
    straight from the registry, for rows built by hand)."""
    from generator.bench import providers as pv
    from generator.site import providers

    providers.forget()
    providers.learn(p.info for p in pv.all_providers())
    yield
    providers.forget()


def _row(provider: str, m: int, us: float | None, status: Status = Status.OK) -> BenchRow:
    meas = Measurement(status=status, latency_us=us, tflops=None if us is None else 100.0 / us)
    return BenchRow(provider=provider, sweep="model", M=m, N=128, K=128, measurement=meas)


def test_invalid_rows_never_win_and_ranges_merge(recorded_metadata) -> None:
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
    ]
    got = recommend.ranges(rows)
    assert [(r.m_lo, r.m_hi, r.provider) for r in got] == [
        (1, 2, "triton-fp8-block-tuned"),
        (4, 4, "cublas-fp8-block"),
    ]
    assert got[0].speedup_lo == pytest.approx(10 / 9) and got[0].speedup_hi == pytest.approx(1.25)


def test_invalid_rows_are_not_line_points() -> None:
    rows = [_row("cublas-fp8-block", m, 2.0) for m in (1, 2, 4)]
    rows[1] = _row("cublas-fp8-block", 2, 1.0, Status.INCORRECT)
    fig = charts.tflops_chart(rows, "t")
    assert fig is not None
    line, invalid = fig["data"]
    assert line["y"][1] is None and line["connectgaps"] is False
    assert invalid["name"] == charts.INVALID_NAME and invalid["x"] == [2]
    assert HOSTILE  # the fixture's hostile string is exercised by the site build tests


def test_site_config_keys_match_the_kernels():
    """The site restates the config keys to stay torch-free; they must not drift apart."""
    from generator.site.export import CONFIG_KEYS as SITE_KEYS
    from kernels.tiling import CONFIG_KEYS

    assert tuple(SITE_KEYS) == tuple(CONFIG_KEYS)
