"""What a first-time reader of the built catalog stumbled on (review of 2026-12-03), checked on the
synthetic catalog: a log check that says what each engine log line means and what its absence
means (D12), GPU names rather than folder names in titles (D15), and provenance folded into a
one-line summary (D16). The browser-only ones (copy button, charts drawn on load: D14, D17)
are in test_site_browser.py."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import pytest

from generator.data.records import load
from generator.site import engines
from generator.site.catalog import load_catalog
from tests.fixtures.make_synthetic import write_catalog
from tests.fixtures.sitebuild import mkdocs_build

DEVICES = ["SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B", "SYNTHETIC_GPU_C"]
MODEL_PAGE = "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reading")
    assert write_catalog(root / "site_data", n_devices=3, n_models=3) == DEVICES
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# --- D12: the log check ------------------------------------------------------------------------


def _log_checks(page: str) -> dict[str, str]:
    """Each engine's log-check block on a page, as text, by engine id."""
    blocks = re.findall(
        r'<div class="bg-log-check" data-engine="(\w+)">(.*?)</div>', page, flags=re.S
    )
    return {engine: _text(body) for engine, body in blocks}


def _says_what_each_line_means(engine_id: str, text: str) -> None:
    eng = engines.engine(engine_id)
    file, function = eng.loader
    # both lines as the engine's lookup writes them, the default one with the path it looked at
    assert engines.LOADED_LOG.format(file="<folder>/N=…,K=…,….json") in text, text
    assert engines.DEFAULT_LOG_FULL.format(file="<folder>/N=…,K=…,….json") in text, text
    # the source: the lookup function, its file and the release
    assert f"Source: {function} in {file} of {eng.name} {eng.release.version}" in text, text
    assert "which only the Triton kernel calls" in text
    # what each line and the absence of both mean, per weight shape, never for the whole server
    assert "the Triton kernel ran that shape with the file at that path" in text
    assert "the Triton kernel ran that shape but found no file at that path" in text
    assert "Neither line naming a shape's N and K" in text
    assert f"the Triton kernel has not run that shape; {eng.name} ran another backend" in text
    # and when the lines are missing although the kernel ran
    assert eng.log.hidden and all(h in text for h in eng.log.hidden)
    assert "neither line means the Triton kernel did not run" not in text.lower()


def test_log_check_says_what_each_line_and_its_absence_mean(built: tuple[Path, Path]) -> None:
    _, site = built
    for rel in (MODEL_PAGE, "installing.html"):
        checks = _log_checks((site / rel).read_text())
        assert sorted(checks) == ["sglang", "vllm"], rel
        for engine_id, text in checks.items():
            _says_what_each_line_means(engine_id, text)


def test_log_check_facts_follow_the_engines_sources() -> None:
    """vLLM logs the first line from every worker, SGLang from TP rank 0 only; the exceptions
    name the switches their sources read."""
    vllm, sglang = engines.engine("vllm"), engines.engine("sglang")
    assert "each worker process" in vllm.log.who
    assert "rank 0 only" in sglang.log.who and "log_info_on_rank0" in sglang.log.who
    assert any("VLLM_LOGGING_LEVEL" in h for h in vllm.log.hidden)
    assert any("VLLM_BATCH_INVARIANT=1" in h for h in vllm.log.hidden)
    assert any("torch._dynamo.is_compiling()" in h for h in sglang.log.hidden)


def test_bundle_readme_log_check(built: tuple[Path, Path]) -> None:
    _, site = built
    for engine_id in ("vllm", "sglang"):
        path = (
            site
            / f"devices/SYNTHETIC_GPU_A/downloads/synthetic-dense-00-tp1-{engine_id}-configs.zip"
        )
        with zipfile.ZipFile(path) as zf:
            readme = zf.read("README.txt").decode()
        section = readme[readme.index("How to see that they are used") :]
        section = " ".join(section[: section.index("When the Triton kernel runs")].split())
        _says_what_each_line_means(engine_id, section)


# --- D15: the GPU's name in titles, the folder name in URLs ------------------------------------


def _h1(page: str) -> str:
    return _text(re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S).group(1)).replace("¶", "").strip()


def test_titles_name_the_gpu_as_recorded(built: tuple[Path, Path]) -> None:
    site_data, site = built
    catalog = load_catalog(site_data)
    for d in catalog.devices:
        gpu = d.provenance.gpu_name  # "SYNTHETIC GPU A", as the run recorded it
        assert gpu != d.name and d.title == gpu
        page = (site / f"devices/{d.name}/index.html").read_text()  # the URL keeps the folder
        assert _h1(page) == gpu
        assert f"<title>{gpu} - " in page
        model = next((site / f"devices/{d.name}").glob("synthetic-dense-*.html")).read_text()
        assert _h1(model).endswith(f" on {gpu}")
        # the navigation's section of the device
        nav = [
            _text(t)
            for t in re.findall(r'<label class="md-nav__title"[^>]*>(.*?)</label>', page, re.S)
        ]
        assert gpu in nav and d.name not in nav, nav
    home = (site / "index.html").read_text()
    heads = [_text(h) for h in re.findall(r'<h3 class="bg-h3">(.*?)</h3>', home, re.S)]
    assert heads and not any(d in h for h in heads for d in DEVICES), heads


def test_title_falls_back_to_the_folder_name(tmp_path: Path) -> None:
    """Two devices with one recorded name, or a name that is not plain text, are told apart by
    their folder names."""
    from generator.data.records import DeviceFile, save

    write_catalog(tmp_path / "site_data", n_devices=3, n_models=1, mla=False)
    names = {"SYNTHETIC_GPU_A": "Same GPU", "SYNTHETIC_GPU_B": "Same GPU", "SYNTHETIC_GPU_C": "<b>"}
    for dev, name in names.items():
        path = tmp_path / "site_data/devices" / dev / "device.json"
        df = load(path, DeviceFile)
        df.provenance = df.provenance.model_copy(update={"gpu_name": name})
        save(path, df)
    titles = {d.name: d.title for d in load_catalog(tmp_path / "site_data").devices}
    assert titles == {d: d for d in DEVICES}


# --- D16: provenance folded into one line -------------------------------------------------------

_SUMMARY = re.compile(
    r"^Benchmark: (\d+) rows?, (\d+) runs?, (\d{4}-\d\d-\d\d)(?: to (\d{4}-\d\d-\d\d))?"
    r"(?:, (?:all|some) by the earlier timing method)?\."
    r"(?: Tuned files: (\d+) runs?, \d{4}-\d\d-\d\d(?: to \d{4}-\d\d-\d\d)?\.)?$"
)


def test_provenance_is_folded_behind_a_one_line_summary(built: tuple[Path, Path]) -> None:
    _, site = built
    pages = [MODEL_PAGE, "index.html", "devices/SYNTHETIC_GPU_A/a16w8-mla.html"]
    for rel in pages:
        page = (site / rel).read_text()
        boxes = re.findall(
            r'<details class="bg-prov-box"><summary class="bg-prov-summary">(.*?)</summary>'
            r"(.*?)</details>",
            page,
            re.S,
        )
        assert boxes, rel
        for summary, full in boxes:
            # tags dropped, not spaced: "earlier timing method" is a link (review3 12)
            m = _SUMMARY.match(_text(re.sub(r"</?a\b[^>]*>", "", summary)))
            assert m, (rel, summary)
            assert "git" not in summary  # the hashes are inside
            # the summary's figures are the full text's: rows summed, one date per run
            rows = [int(n) for n in re.findall(r'data-fact="[^"]*\|rows\|[^"]*">(\d+)<', full)]
            if rows:
                assert int(m.group(1)) == sum(rows), (rel, summary)
            full_text = _text(full)
            runs = re.findall(r"measured at git \S+ ?, (\d{4}-\d\d-\d\d)", full_text)
            assert int(m.group(2)) == len(runs), (rel, summary, full_text)
            assert m.group(3) == min(runs) and (m.group(4) or m.group(3)) == max(runs)
        # no provenance paragraph is left unfolded (the MLA page's "measured before these files"
        # warning names its runs on purpose: it is a warning, shown open)
        outside = re.sub(r'<details class="bg-prov-box">.*?</details>', "", page, flags=re.S)
        outside = re.sub(
            r'<div class="admonition warning bg-measured-before">.*?</div>', "", outside, flags=re.S
        )
        assert "measured at git" not in outside, rel
        assert "tuned at git" not in outside, rel


def test_summary_counts_rows_runs_and_dates() -> None:
    from datetime import datetime, timezone

    from generator.site.runs import BenchRun, summary
    from tests.fixtures.make_synthetic import provenance

    def run(day: int, rows: int, method: str | None) -> BenchRun:
        p = provenance("SYNTHETIC_GPU_A", "SYNTHETIC GPU A", method)
        p = p.model_copy(update={"date": datetime(2026, 11, day, 12, tzinfo=timezone.utc)})
        return BenchRun(p, rows=rows, timed=rows)

    one = [run(3, 2700, "interleaved")]
    assert summary(one) == "Benchmark: 2700 rows, 1 run, 2026-11-03."
    two = [run(22, 60, None), run(21, 3, None)]
    assert summary(two) == (
        "Benchmark: 63 rows, 2 runs, 2026-11-21 to 2026-11-22, all by the earlier timing method."
    )
    mixed = one + two
    tuned = [r.provenance for r in two]
    assert summary(mixed, tuned) == (
        "Benchmark: 2763 rows, 3 runs, 2026-11-03 to 2026-11-22, some by the earlier timing "
        "method. Tuned files: 2 runs, 2026-11-21 to 2026-11-22."
    )
    assert summary([], tuned) == "Tuned files: 2 runs, 2026-11-21 to 2026-11-22."
