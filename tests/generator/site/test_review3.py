"""The third first-time reader's review (2026-12-03): each defect of the text, the verdicts and
the gain tables that it found, checked on a built synthetic catalog or on the modules that
compute what the pages say. Every expectation is read from the dispatch rules or recomputed
from the rows, never typed as a page's figure."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from generator.data import dispatch
from generator.site import engines, verdict
from tests.fixtures.make_synthetic import write_catalog
from tests.fixtures.sitebuild import mkdocs_build
from tests.generator.site.test_verdict import DEEPGEMM, TUNED, VLLM_DEFAULT, points, vllm


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("review3")
    write_catalog(root / "site_data", n_devices=3, n_models=3)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def _section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("<h2", start)
    return page[start : end if end > 0 else None]


# --- 2: what each engine runs by default, per engine from its rules ----------------------------


def test_home_says_per_engine_what_runs_on_hopper_from_the_rules(built: tuple[Path, Path]) -> None:
    """The home page's sentence on what runs by default is each engine's own rules: for vLLM
    fp16 output runs CUTLASS (its last Hopper rule), not Triton; for SGLang the Triton
    fallback. No sentence pools the engines ("Triton runs ... for fp16 output")."""
    _, site = built
    text = _visible(
        _section((site / "index.html").read_text(), "what-each-engine-runs-by-default-per-gpu")
    )
    assert "for fp16 output" not in text
    for e in engines.engines():
        assert f"{e.name} {e.rules.version} runs {e.runs_on(engines.HOPPER)}" in text, e.id
    vllm_hopper = [
        r
        for r in dispatch.engine_rules("vllm").rules
        if r.when.arch and engines.HOPPER in r.when.arch
    ]
    assert vllm_hopper[-1].backend == "cutlass"
    assert "CUTLASS for any other layer: the Triton kernel only when forced" in text


# --- 3: "not measured" is about this model's shapes ---------------------------------------------


def test_an_unmeasured_verdict_is_about_this_models_shapes() -> None:
    """DeepGEMM measured on a GPU for one model's shapes gives another model's page no verdict:
    it says its shapes are not measured, never that the default is not measured on the GPU."""
    v = vllm(points({TUNED: 10.0, VLLM_DEFAULT: 12.0}))
    assert v.decision is verdict.Decision.UNMEASURED
    for said in (v.decision.short, v.reason):
        assert "this model's shapes" in said
        assert not said.endswith("on this GPU") or "shapes on this GPU" in said


# --- 4: stand-ins are said where they are used ---------------------------------------------------


def test_a_stand_in_row_is_named_in_the_band_heading_and_the_decision() -> None:
    """vLLM's decode band on Hopper is FlashInfer swap-AB by its rules; with no FlashInfer row
    every ratio there is against DeepGEMM standing in, and the heading, each cell and the
    decision's list of backends say so."""
    v = vllm(points({TUNED: 10.0, VLLM_DEFAULT: 12.0, DEEPGEMM: 8.0}, ms=(4, 16, 64)))
    decode = next(b for b in verdict.BANDS if b.holds(4))
    heading = v.band_backends(decode)
    assert heading and all("stands in" in h for h in heading if h.startswith("FlashInfer"))
    assert "FlashInfer swap-AB (DeepGEMM stands in)" in v.default_labels
    assert v.stand_ins and v.stand_ins[0][0] == DEEPGEMM


def test_sglang_deepgemm_is_a_stand_in_until_measured_as_sglang_calls_it() -> None:
    """The DeepGEMM row is DeepGEMM called as vLLM 0.33.0 calls it (the provider's own
    description): SGLang's verdict uses it as a stand-in, says why, and names it in its
    cells, so that its figures equal vLLM's only with that said."""
    from tests.generator.site.test_verdict import sglang

    rules = dispatch.engine_rules("sglang")
    deepgemm = rules.backends["deepgemm"]
    assert deepgemm.provider is None and deepgemm.stand_in == DEEPGEMM
    assert "as vLLM 0.33.0 calls it" in (deepgemm.stand_in_reason or "")
    v = sglang(points({TUNED: 10.0, "triton-fp8-block-sglang-default": 12.0, DEEPGEMM: 8.0}))
    assert v.decision is verdict.Decision.KEEP
    assert dict(v.stand_ins)[DEEPGEMM] == deepgemm.stand_in_reason
    assert all("stands in" in h for b in verdict.BANDS for h in v.band_backends(b))
    assert v.default_labels == ["DeepGEMM (vLLM's DeepGEMM call stands in)"]


# --- 6: the methodology names the statistic the model pages compute ------------------------------


def test_methodology_names_the_recommendations_statistic_the_page_uses(
    built: tuple[Path, Path],
) -> None:
    """The model page's recommendation cells say (and compute: model_page's geomean) the
    geometric mean of an engine's time over ours; the methodology says the same, and no longer
    calls it "the same statistic as the gain tables" (which are medians)."""
    _, site = built
    methodology = _visible((site / "methodology.html").read_text())
    section = methodology[methodology.index("Recommendations") :]
    assert "the same statistic as the gain tables" not in section
    assert "geometric mean of that engine's time over ours" in section
    model = _visible((site / "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text())
    assert "geometric mean" in model


# --- 12: names a reader can find, no internal machinery ----------------------------------------


def test_installing_names_the_table_as_titled_and_pages_hide_machinery(
    built: tuple[Path, Path],
) -> None:
    """The installing page names the gains table by the heading it has on the model pages;
    no page tells a reader about the lent GPU machine's transfer limits or a lab script; the
    folded provenance's "earlier timing method" links the methodology's Timing."""
    _, site = built
    installing = _visible((site / "installing.html").read_text())
    model = (site / "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text()
    title = re.search(r"<th>(Our files' speedup over) <small>", model)
    assert title and f"table {title.group(1)} gives" in installing
    earlier = 0
    for page in site.rglob("*.html"):
        if page.name == "kernel-notes.html":  # the research notes cite their lab scripts
            continue
        raw = page.read_text()
        text = _visible(raw)
        for machinery in ("lent GPU machine", "64 MiB a call", "lab/tune_vs_bench.py"):
            assert machinery not in text, (page, machinery)
        for summary in re.findall(r'<summary class="bg-prov-summary">(.*?)</summary>', raw, re.S):
            if "earlier timing method" in summary:
                earlier += 1
                assert re.search(r'<a href="[^"]*methodology.html#timing">earlier timing', summary)
    assert earlier


# --- 8: the data-parallel-attention gains table is captioned -------------------------------------


def test_the_dp_attention_gains_table_has_a_caption_with_its_shape_count(
    built: tuple[Path, Path],
) -> None:
    """The gains of the "(unsplit)" shapes sit right above "What to install" with other
    numbers: their table says what it is and over how many weight shapes (the shapes the
    section lists)."""
    _, site = built
    pages = [p for p in site.rglob("*.html") if 'class="bg-dp-apart"' in p.read_text()]
    assert pages
    for page in pages:
        raw = page.read_text()
        listed = re.search(r'<p class="bg-dp-only">(.*?)</p>', raw, re.S)
        n = len(re.findall(r"<code>", listed.group(1)))
        apart = raw[raw.index('class="bg-dp-apart"') :]
        apart = apart[: apart.index('id="what-to-install"')]
        tables = re.findall(r'<table class="bg-gains">(.*?)</table>', apart, re.S)
        assert tables, page
        for t in tables:
            cap = re.search(r'<caption class="bg-gains-caption">(.*?)</caption>', t, re.S)
            assert cap, page
            shapes = "weight shape" if n == 1 else "weight shapes"
            assert f"at the {n} {shapes} that run only with data-parallel attention" in cap.group(1)


# --- 5: one source per figure ---------------------------------------------------------------------


def test_bench_and_tuning_points_are_never_pooled_into_one_median() -> None:
    """Where the benchmark compared our file with the default at some points and only the
    tuner's runoff timed the pair at others, the page's figure is the benchmark's, and the
    tuner's points are a comparison of their own (its id ends in "-tuning"), never one
    median over both."""
    from generator.data.records import Measurement, Status, TuneFile, TuneRecord
    from generator.site import gains
    from tests.generator.site.test_verdict import KEY, row

    def meas(us: float) -> Measurement:
        return Measurement(
            status=Status.OK, latency_us=us, p20_us=us * 0.999, p80_us=us * 1.001, rel_error=1e-3
        )

    rows = [row(TUNED, 1, 10.0), row(VLLM_DEFAULT, 1, 20.0)]  # bench: 2.00x at M = 1
    # synthetic tuning records, only the fields gains reads (model_construct: no run to record)
    records = [
        TuneRecord.model_construct(
            M=m, winner=meas(10.0), default=meas(11.0), baselines={}, runoff_us={},
            runoff_aa_spread=None, search=6, winner_source="search",
        )
        for m in (1, 2)
    ]  # fmt: skip
    tune = TuneFile.model_construct(
        N=KEY[2], K=KEY[3], B=1, input_type="fp8", block_n=128, block_k=128, records=records
    )
    g = gains.gains(rows, {(KEY[2], KEY[3]): tune}, [KEY])
    dflt, tuned = g.get("default"), g.get("default-tuning")
    assert dflt is not None and dflt.source == "bench" and [p.M for p in dflt.points] == [1]
    assert dflt.stat(gains.BANDS[0]).median == pytest.approx(2.0)
    assert tuned is not None and tuned.source == "tuning" and [p.M for p in tuned.points] == [2]
    assert all(c.source != "both" for c in g.versus)


def test_where_a_release_ships_no_file_its_default_is_what_runs_on_every_gpu() -> None:
    """H200-like rows: at a shape vLLM 0.33.0 ships no file for on the GPU, its shipped
    provider was not run, but vLLM's default config was: that row is what vLLM runs (its own
    comparison, not a stand-in, not "not compared"); at a shape it ships a file for whose row
    is missing: not measured, never the default."""
    from generator.site import gains
    from tests.generator.site.test_gains_stand_in import H100, SHIPPED, UNSHIPPED, _row

    rows = [
        _row(p, nk, m, us)
        for nk in (SHIPPED, UNSHIPPED)
        for m in (1, 64)
        for p, us in ((TUNED, 10.0), (VLLM_DEFAULT, 15.0))
    ]
    g = gains.gains(rows, None, [("m", 8, *SHIPPED), ("m", 8, *UNSHIPPED)], H100)
    own = g.get("vllm-0.33.0")
    assert own is not None and own.shapes == {UNSHIPPED} and own.all_default
    # the page's other shape has a shipped file, never compared: "it ships no file for these
    # shapes" would be false for the page, so the row's label counts it
    assert g.shipped_uncompared(own) == 1
    assert not g.has_shipped  # every point of it is the default: no shipped file compared
    t = g.today("vllm")
    assert t.comparison is own and t.stand_in is None and t.unmeasured == (SHIPPED,)


# --- 7: an engine's row that is its default config says so ------------------------------------


def test_an_engine_row_that_is_its_default_config_says_so(built: tuple[Path, Path]) -> None:
    """Device B has no rows of the shipped files, and the engines ship no file for it: vLLM's
    row is its default config at every point, and the row says that (not "its shipped files",
    repeating the default-config row's figures under another name)."""
    _, site = built
    page = (site / "devices/SYNTHETIC_GPU_B/synthetic-dense-00-tp1.html").read_text()
    table = page[page.index('id="what-to-install"') :]
    table = table[: table.index("</table>")]
    row = re.search(
        r'<tr class="bg-engine-default" data-engine="vllm"><th[^>]*>(.*?)</th>', table, re.S
    )
    assert row, "vLLM's row is not marked as its default config"
    text = _visible(row.group(1))
    assert "its default config" in text and "ships no file for these shapes" in text
    assert "were not compared" not in text  # it ships no file for any shape of the page
    assert "its shipped files" not in text


# --- 9: the decision where the install is offered ----------------------------------------------


def test_forcing_is_said_from_the_verdicts_per_gpu(built: tuple[Path, Path]) -> None:
    """The installing page's word on forcing each engine is the model pages' verdicts per GPU
    (the home page's tally of them), never typed: a GPU is named with its count of pages for
    each verdict that weighs forcing (keep, mixed, force), and no other GPU is."""
    from generator.site.verdict import Decision

    _, site = built
    home = (site / "index.html").read_text()
    table = home[home.index('<table class="bg-verdict-home">') :]
    table = table[: table.index("</table>")]
    weighs = {d.short: d for d in (Decision.KEEP, Decision.MIXED, Decision.FORCE)}
    expected: dict[str, list[str]] = {}
    for engine, row in re.findall(r'<tr data-engine="(\w+)"[^>]*>(.*?)</tr>', table, re.S):
        gpu = _visible(re.search(r"<th><a [^>]*>(.*?)</a>", row).group(1)).strip()
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        for n, total, short in re.findall(r"(\d+) of (\d+) pages: ([^;]+)", _visible(cells[1])):
            if short.strip() in weighs:
                expected.setdefault(engine, []).append(
                    f"{gpu}, {n} of {total} model pages: {short.strip()}"
                )
    assert expected, "the synthetic catalog has no verdict that weighs forcing"
    installing = (site / "installing.html").read_text()
    for e in engines.engines():
        li = re.search(
            rf'<li class="bg-forcing-measured" data-engine="{e.id}">(.*?)</li>', installing, re.S
        )
        assert li, e.id
        text = re.sub(r"\s+,", ",", _visible(li.group(1)))
        for said in expected.get(e.id, []):
            assert said in text, (e.id, said, text)
        if e.id not in expected:
            assert "not yet on any GPU" in text


def test_the_device_install_table_shows_each_pages_verdict(built: tuple[Path, Path]) -> None:
    """Beside each model's zip, the device page says what the model page's verdict is for
    each engine (the default backend may be faster than anything the zip changes)."""
    _, site = built
    for dev in ("SYNTHETIC_GPU_A", "SYNTHETIC_GPU_C"):
        device = (site / f"devices/{dev}/index.html").read_text()
        table = device[device.index("bg-install-index") :]
        table = table[: table.index("</table>")]
        rows = re.findall(r"<tr><td><a href=\"([^\"]+)\">.*?</tr>", table, re.S)
        assert rows
        for href in rows:
            page = (site / f"devices/{dev}" / href).resolve().read_text()
            for e in engines.engines():
                want = re.search(
                    rf'<section class="bg-verdict" data-engine="{e.id}" data-decision="(\w+)">',
                    page,
                ).group(1)
                row = table[table.index(f'href="{href}"') :]
                row = row[: row.index("</tr>")]
                assert f'data-engine="{e.id}" data-decision="{want}"' in row, (dev, href, e.id)


def test_a_default_config_row_no_engine_runs_says_so() -> None:
    """Where every release ships a file for every shape (vLLM and SGLang on the H100 at
    576 x 7168), the default-config row compares with what no engine runs there, and
    :attr:`Gains.default_runs_nowhere` says so; with one shape shipped by none, it is not."""
    from generator.site import gains
    from tests.generator.site.test_gains_stand_in import H100, SHIPPED, UNSHIPPED, _rows

    only_shipped = [r for r in _rows() if (r.N, r.K) == SHIPPED]
    assert gains.gains(only_shipped, None, [("m", 8, *SHIPPED)], H100).default_runs_nowhere
    both = gains.gains(_rows(), None, [("m", 8, *SHIPPED), ("m", 8, *UNSHIPPED)], H100)
    assert not both.default_runs_nowhere


# --- 12: nothing to install for A16W8 ------------------------------------------------------------


def test_no_bundle_or_command_installs_the_a16w8_tables(built: tuple[Path, Path]) -> None:
    """The MLA page says the A16W8 kernel is research, nothing to install, and no engine's
    dispatch rules cover an A16W8 scheme: the device zips hold no a16w8/ file and the CLI's
    --framework offers only the engines' folders."""
    import argparse
    import zipfile

    from generator.site import install_cli

    _, site = built
    assert all(t == "fp8" for t in dispatch.rule_table().input_types)  # W8A8 only
    zips = list(site.glob("devices/*/downloads/*-configs.zip"))
    assert zips
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            assert not any(n.startswith("a16w8/") for n in zf.namelist()), z
    parser = argparse.ArgumentParser()
    install_cli.add_parser(parser.add_subparsers(), "install-configs")
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(
            ["install-configs", "--device", "X", "--framework", "a16w8", "--dest", str(site)]
        )
    assert exc.value.code == 2


def test_a_model_page_opens_with_each_engines_decision(built: tuple[Path, Path]) -> None:
    """Above the provenance and the verdict section, one line gives each engine's decision,
    the same as the section draws for it, and links to it."""
    _, site = built
    pages = sorted((site / "devices").glob("*/synthetic-*-tp*.html"))
    assert pages
    for path in pages:
        page = path.read_text()
        brief = re.search(r'<p class="bg-verdict-brief">(.*?)</p>', page, re.S)
        assert brief, path
        assert page.index("bg-verdict-brief") < page.index('id="what-your-engine-runs-here"')
        assert 'href="#what-your-engine-runs-here"' in brief.group(1)
        for e in engines.engines():
            want = re.search(
                rf'<section class="bg-verdict" data-engine="{e.id}" data-decision="(\w+)">', page
            ).group(1)
            assert f'data-engine="{e.id}" data-decision="{want}"' in brief.group(1), (path, e.id)


def test_a_device_page_gives_each_sweep_files_own_ceilings(built: tuple[Path, Path]) -> None:
    """Each bench run computes its rows' % of roofline from the ceilings it measured: the
    device page shows those of every sweep file (one column each, with its run), not one
    file's as the device's."""
    site_data, site = built
    for dev in sorted((site_data / "devices").iterdir()):
        files = sorted((dev / "bench").glob("*.json"))
        if not files:
            continue
        page = (site / f"devices/{dev.name}/index.html").read_text()
        table = re.search(r'<table class="bg-kv bg-ceilings">(.*?)</table>', page, re.S)
        assert table, dev.name
        heads = re.findall(r"<th>(\w+) sweep<br>", table.group(1))
        raws = [json.loads(p.read_text()) for p in files]
        assert heads == sorted(r["sweep"] for r in raws), dev.name
        copy = re.search(r"copy bandwidth, GB/s.*?</tr>", table.group(1), re.S).group(0)
        cells = re.findall(r"<td>([^<]+)</td>", copy)
        by_sweep = {r["sweep"]: r["ceilings"]["copy_gbps"] for r in raws}
        for sweep, cell in zip(heads, cells, strict=True):
            assert float(cell) == pytest.approx(by_sweep[sweep], rel=1e-3), (dev.name, sweep)
