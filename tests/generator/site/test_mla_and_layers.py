"""The MLA page and the layer names of the 2026-12-03 review (D4-D6, D10, D11, D13), each
checked on the built synthetic catalog or on the functions that compute what the pages say:

* D10: a measured shape is named from the model's config, whatever name its run recorded
  (the fixture's rows carry the old "unattributed (vLLM list)" for q_a_proj, as the real
  DeepSeek-V3 rows do);
* D11: shapes that run only with data-parallel attention ("(unsplit)") are never pooled into a
  TP page's (or its device's) medians and counts, and are shown apart with what they are;
* D5: MLA rows measured before their shape's A16W8 file was re-tuned are said to be so, with
  both dates, computed from the rows' and the records' provenance;
* D6: the MLA page says that no engine loads A16W8 files, from the engine data, and gives a
  verdict against bf16 bmm recomputed here from the raw rows;
* D13: the MLA bars differ in colour (not in dash), and their legend keys are swatches.
(D4, the MLA table on a phone, is a browser check: test_site_browser.py.)"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from generator.data import dispatch, models
from generator.data.records import BenchFile, load
from generator.site import charts, engines, gains, mla_page, model_page, providers
from generator.site.catalog import load_catalog
from generator.site.render import render_site
from tests.fixtures.make_synthetic import (
    LEGACY_LAYER_NAMES,
    MLA_RETUNE_DAYS,
    MLA_RETUNED_B,
    write_catalog,
)
from tests.fixtures.sitebuild import mkdocs_build

GPU = "SYNTHETIC_GPU_A"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mla-layers")
    write_catalog(root / "site_data", n_devices=2, n_models=3)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _mla_model(site_data: Path) -> models.ModelSpec:
    rows = load(site_data / f"devices/{GPU}/bench/mla.json", BenchFile).rows
    return models.load_model(rows[0].model, site_data)


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text()))


# --- D10: layer names from the config ----------------------------------------------------------


def test_measured_shapes_are_named_from_the_config(built: tuple[Path, Path]) -> None:
    """The rows of 1536 x 7168 record "unattributed (vLLM list)"; the pages call it
    q_a_proj (q_lora_rank x hidden of the model's config) and nowhere the old name."""
    site_data, site = built
    spec = _mla_model(site_data)
    assert spec.mla is not None
    rows = load(site_data / f"devices/{GPU}/bench/model.json", BenchFile).rows
    old = LEGACY_LAYER_NAMES[models.Q_A_UNFUSED]
    qa = (spec.mla.q_lora_rank, spec.hidden_size)
    assert {r.layer for r in rows if r.model == spec.id and (r.N, r.K) == qa} == {old}
    page = _text(site / f"devices/{GPU}/{spec.id}-tp8.html")
    assert f"{models.Q_A_UNFUSED} {qa[0]} × {qa[1]}" in re.sub(r"\s+", " ", page)
    for p in (site / "devices").rglob("*.html"):  # methodology.md defines the old name
        assert old not in _text(p), p


# --- D11: data-parallel-only shapes apart -------------------------------------------------------


def test_dp_attention_shapes_are_not_pooled_into_the_tp_page(built: tuple[Path, Path]) -> None:
    """The TP 8 page's gains and verdict cover only the shapes a plain TP 8 deployment runs;
    the "(unsplit)" ones have their own, and the page says what they are."""
    site_data, site = built
    spec = _mla_model(site_data)
    dp = models.dp_attention_only(models.weight_shapes(spec, 8))
    assert dp, "the fixture's MLA model has unsplit shapes at TP 8"
    catalog = load_catalog(site_data)
    d = next(x for x in catalog.devices if x.name == GPU)
    (m,) = [m for m in d.models if m.id == spec.id]
    (mt,) = model_page.model_tps(catalog, d, m)
    assert {(s.N, s.K) for s in mt.dp_shapes} == dp
    assert all(all(layer.endswith(models.UNSPLIT) for layer in s.layers) for s in mt.dp_shapes)
    p = model_page.build(catalog, d, mt, {}, lambda **ctx: "")
    pooled = {(pt.key[2], pt.key[3]) for c in p.gains.versus for pt in c.points}
    assert pooled and not pooled & dp
    for v in p.verdicts:
        assert not {(layer.N, layer.K) for layer in v.layers} & dp
    assert p.dp is not None
    assert {(pt.key[2], pt.key[3]) for c in p.dp.gains.versus for pt in c.points} == dp
    for v in p.dp.verdicts:
        assert {(layer.N, layer.K) for layer in v.layers} <= dp
    text = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/{spec.id}-tp8.html"))
    assert "Only with data-parallel attention" in text
    assert "each GPU holds the whole weight, which happens only with data-parallel attention" in (
        text
    )


def test_device_summary_leaves_dp_attention_shapes_out(built: tuple[Path, Path]) -> None:
    """The device's headline medians (its "all" scope) are those of the rows without the
    data-parallel-only shapes, recomputed here from the raw rows."""
    site_data, _ = built
    catalog = load_catalog(site_data)
    d = next(x for x in catalog.devices if x.name == GPU)
    rows = d.bench["model"]
    dp = model_page.dp_only_keys(catalog, rows)
    assert dp
    facts = render_site(catalog).facts
    from generator.configs.engine_files import FileFormat

    vllm = {f.name: f.data for f in d.configs.get(FileFormat.VLLM.value, [])}
    installed = gains.installed_tunes(d.name, d.tunes, vllm)
    keep = gains.gains([r for r in rows if (r.model, r.tp, r.N, r.K) not in dp], installed)
    every = gains.gains(rows, installed)
    bf16_keep, bf16_all = keep.get("bf16"), every.get("bf16")
    assert bf16_keep is not None and bf16_all is not None
    for band in gains.BANDS:
        n_keep, n_all = bf16_keep.stat(band).n, bf16_all.stat(band).n
        assert n_keep < n_all  # the fixture's data-parallel-only shapes have points here
        assert facts[f"{GPU}|all|bf16|{band.id}|n"] == str(n_keep)


# --- D5: rows measured before the files --------------------------------------------------------


def test_mla_rows_measured_before_their_file_are_said_to_be(built: tuple[Path, Path]) -> None:
    site_data, site = built
    text = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/a16w8-mla.html"))
    assert "Measured before these files" in text
    box = text[text.index("Measured before these files") :]
    box = box[: box.index("The batched GEMMs")]
    rows_day = "2025-01-01"
    file_day = f"2025-01-{1 + MLA_RETUNE_DAYS:02d}"
    assert f"B = {MLA_RETUNED_B} (TP" in box and rows_day in box and file_day in box
    assert not re.search(r"B = 128\b", box)  # tuned in the run that measured its rows


def test_measured_before_is_computed_from_the_provenance(built: tuple[Path, Path]) -> None:
    """The same tuning file, dated back to the rows' run, is no longer "after" them."""
    site_data, _ = built
    catalog = load_catalog(site_data)
    d = next(x for x in catalog.devices if x.name == GPU)
    found = mla_page.measured_before(d.mla_rows, d.batched_tunes)
    assert {(m.B, m.N, m.K) for m in found} == {
        (MLA_RETUNED_B, 512, 128),
        (MLA_RETUNED_B, 128, 512),
    }
    first = d.mla_rows[0].provenance
    assert first is not None
    back = [
        t.model_copy(
            update={
                "provenance": first,
                "records": [r.model_copy(update={"provenance": None}) for r in t.records],
            }
        )
        for t in d.batched_tunes
    ]
    assert mla_page.measured_before(d.mla_rows, back) == []


# --- D6: no engine loads A16W8 files; the verdict ----------------------------------------------


def test_mla_page_says_no_engine_loads_a16w8_files(built: tuple[Path, Path]) -> None:
    """From the engine data: each engine's block-FP8 loader and the names it reads, ours a
    different name, the dispatch rules covering fp8 inputs only, no shipped A16W8 file."""
    _, site = built
    text = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/a16w8-mla.html"))
    assert "No engine loads these A16W8 config files." in text
    facts = mla_page.engine_facts(GPU)
    for e in engines.engines():
        assert e.loader_text in text
        assert e.file_name(512, 128, GPU) in text
    assert "bf16" not in dispatch.rule_table().input_types == facts.rule_inputs
    assert facts.shipped_a16w8 == 0 and "dtype=a16w8" in facts.ours
    assert facts.ours in text


def test_mla_verdict_counts_are_the_rows(built: tuple[Path, Path]) -> None:
    """Recomputed from the raw rows: per (B, M, N, K), the faster of our kernels against
    bf16 bmm, beyond the noise."""
    site_data, site = built
    rows = load(site_data / f"devices/{GPU}/bench/mla.json", BenchFile).rows
    points: dict[tuple[int, int, int, int], dict[str, object]] = {}
    for r in rows:
        points.setdefault((r.B, r.M, r.N, r.K), {})[r.provider] = r
    tally = {1: 0, 0: 0, -1: 0}
    for at in points.values():
        base = at["a16w8-bmm-bf16"]
        ours = min(
            (at[n] for n in ("a16w8-triton",) if n in at), key=lambda r: r.measurement.latency_us
        )
        tally[gains.judge_rows(ours, base)[1]] += 1
    text = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/a16w8-mla.html"))
    said = re.search(
        r"slower at (\d+) , within the noise at (\d+) and faster at (\d+) of the (\d+) points", text
    )
    assert said, text[:3000]
    assert [int(x) for x in said.groups()] == [tally[-1], tally[0], tally[1], len(points)]


# --- D13: bars told apart by colour ------------------------------------------------------------


def _specs(page: Path) -> list[dict]:
    return [
        json.loads(m)
        for m in re.findall(
            r'<div class="bg-chart"[^>]*><script type="application/json">(.*?)</script>',
            page.read_text(),
            re.S,
        )
    ]


def test_mla_bars_differ_in_colour_and_their_keys_are_swatches(built: tuple[Path, Path]) -> None:
    _, site = built
    page = site / f"devices/{GPU}/a16w8-mla.html"
    (spec,) = [s for s in _specs(page) if s["type"] == "bars"]
    series = spec["series"]
    assert len(series) >= 3
    for key in ("color", "color_dark"):
        for i, a in enumerate(series):
            for b in series[i + 1 :]:
                assert charts.delta_e(a[key], b[key]) >= charts.BAR_MIN_DELTA_E, (a, b, key)
    assert {s["dash"] for s in series} == {"solid"}
    legend = page.read_text()
    legend = legend[legend.index('class="bg-legend"') :]
    legend = legend[: legend.index("bg-legend-actions")]
    assert legend.count("<rect") == len(series) and "<line" not in legend


def test_bar_colours_hold_their_distance_on_both_palettes() -> None:
    picked = charts.bar_colours(6)
    assert len(set(picked)) == 6
    for k, bg in ((0, providers.LIGHT_BG), (1, providers.DARK_BG)):
        assert all(providers.contrast(c[k], bg) >= providers.MIN_CONTRAST - 0.01 for c in picked)
        worst = min(
            charts.delta_e(a[k], b[k]) for i, a in enumerate(picked) for b in picked[i + 1 :]
        )
        assert worst >= charts.BAR_MIN_DELTA_E


# --- 2026-12-03: the MLA page names its TP and its model ----------------------------------------


def test_measured_before_names_the_tp_of_its_batch(built: tuple[Path, Path]) -> None:
    """The "measured before these files" box says which TP each re-tuned B is (B = heads /
    TP, as the table's rows), and the layer of each (N, K)."""
    site_data, site = built
    spec = _mla_model(site_data)
    tp = spec.num_attention_heads // MLA_RETUNED_B
    layers = {(s.N, s.K): s.layer for s in models.mla_batched_shapes(spec, tp)}
    text = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/a16w8-mla.html"))
    box = text[text.index("Measured before these files") :]
    box = box[: box.index("The batched GEMMs")]
    items = re.findall(r"B = (\d+) \(TP (\d+)\), N × K = (\d+) × (\d+) \( (.+?) \):", box)
    assert {(int(n), int(k)): (int(b), int(t), layer) for b, t, n, k, layer in items} == {
        nk: (MLA_RETUNED_B, tp, layer) for nk, layer in layers.items()
    }


def test_mla_pages_name_the_model_the_rows_were_measured_for(built: tuple[Path, Path]) -> None:
    """The rows were measured for one model (the synthetic MLA one here, DeepSeek-V3 in the
    real data, whose record says DeepSeek-R1 shares its shapes): the MLA page, the device page
    and the home page name that model, not another one of its family."""
    site_data, site = built
    spec = _mla_model(site_data)
    mla = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/a16w8-mla.html"))
    assert f"absorbed MLA attention of {spec.hf_name} , the model the rows were measured" in mla
    record = json.loads((site_data / f"models/{spec.id}.json").read_text())["source"]
    assert f"Its shapes come from the model's record: {record}." in mla
    device = re.sub(r"\s+", " ", _text(site / f"devices/{GPU}/index.html"))
    home = re.sub(r"\s+", " ", _text(site / "index.html"))
    assert f"MLA attention shapes of {spec.id}:" in device
    assert f"{spec.id}: A16W8 MLA attention" in home
    for text in (mla, device, home):
        assert "DeepSeek-R1" not in text
