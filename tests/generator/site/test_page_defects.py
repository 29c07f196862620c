"""What a first-time reader of the catalog ran into (issue 23, item 4), each checked on a built
synthetic catalog or on the modules that compute what the pages say: one config folder per
engine (the one its loader opens), charts whose providers can be told apart, captions that name
the statistic the number is, stand-ins said as such, provider lists that can be read back,
providers called installed only where a file of theirs is, and an MLA page about this GPU.
(The first table column staying in view on a phone is a browser check: test_site_browser.py.)"""

from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path

import pytest

from generator.data import dispatch
from generator.site import engines
from tests.fixtures.make_synthetic import write_catalog
from tests.fixtures.sitebuild import mkdocs_build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("defects")
    write_catalog(root / "site_data", n_devices=3, n_models=3)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _texts(site: Path) -> dict[str, str]:
    """Every page and every README of every zip the site serves, by path."""
    out = {str(p.relative_to(site)): html.unescape(p.read_text()) for p in site.rglob("*.html")}
    for z in site.rglob("*.zip"):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                if name.endswith("README.txt"):
                    out[f"{z.relative_to(site)}:{name}"] = zf.read(name).decode()
    return out


# a folder inside the sglang package that ends in "configs" (path segments without dots, so a
# GitHub URL's "sglang/tree/v0.5.23/..." is passed over)
_SGLANG_FOLDER = re.compile(r"(?<![\w-])sglang/((?:\w+/)*?configs)\b")


def test_sglang_config_folder_is_the_one_its_loader_opens(built: tuple[Path, Path]) -> None:
    """SGLang 0.5.23's get_w8a8_block_fp8_configs (sglang/kernels/ops/gemm/fp8_kernel.py of
    the wheel) opens ``configs/`` beside itself and nothing else: every page, bundle README and
    the installer's help name that one folder, the one the dispatch rules name."""
    _, site = built
    rules = dispatch.engine_rules("sglang", "0.5.23").backends["triton"].kernel
    (from_rules,) = set(_SGLANG_FOLDER.findall(rules))
    sglang = engines.engine("sglang")
    assert sglang.folder == from_rules == "kernels/ops/gemm/configs"
    assert sglang.loader == ("sglang/kernels/ops/gemm/fp8_kernel.py", "get_w8a8_block_fp8_configs")
    seen: dict[str, set[str]] = {}
    for where, text in _texts(site).items():
        for folder in _SGLANG_FOLDER.findall(text):
            seen.setdefault(folder, set()).add(where)
    assert set(seen) == {from_rules}, {f: sorted(w)[:3] for f, w in seen.items()}
    # named on every model page's install card, on the installing page, in every SGLang README
    texts = _texts(site)
    assert "sglang/kernels/ops/gemm/configs/" in texts["installing.html"]
    readmes = [t for w, t in texts.items() if w.endswith("-sglang-configs.zip:README.txt")]
    assert readmes and all("sglang/kernels/ops/gemm/configs/" in t for t in readmes)


def test_no_page_sends_block_fp8_files_to_a_folder_vllm_does_not_read(
    built: tuple[Path, Path],
) -> None:
    """vLLM 0.33.0 reads VLLM_TUNED_CONFIG_FOLDER for fused-MoE, Mamba and LoRA configs only
    (vllm/envs.py); its block-FP8 loader opens its own configs/ folder."""
    _, site = built
    for where, text in _texts(site).items():
        assert "VLLM_TUNED_CONFIG_FOLDER" not in text, where
    assert engines.engine("vllm").folder == "model_executor/layers/quantization/utils/configs"


def test_installer_help_names_the_same_folders() -> None:
    import argparse

    from generator.site import install_cli

    parser = argparse.ArgumentParser()
    install_cli.add_parser(parser.add_subparsers(), "install-configs")
    text = parser._subparsers._group_actions[0].choices["install-configs"].description  # type: ignore[union-attr]
    assert "<site-packages>/sglang/kernels/ops/gemm/configs/" in text
    assert "<site-packages>/vllm/model_executor/layers/quantization/utils/configs/" in text
    assert set(_SGLANG_FOLDER.findall(text)) == {"kernels/ops/gemm/configs"}


# --- captions name the statistic the number is --------------------------------------------------

TUNED = "triton-fp8-block-tuned"
DECODE = (1, 2, 4, 8, 16)  # the fixture's batch sizes in the decode band


def _skew(site_data: Path, device: str, n: int, k: int, m: int, factor: float) -> None:
    """Make the tuned provider ``factor`` times faster at one point (consistently: latency,
    percentiles, throughput, bandwidth, roofline), so a band's median and geometric mean of the
    speedups differ."""
    from generator.data.records import BenchFile, load, save

    path = site_data / f"devices/{device}/bench/model.json"
    bf = load(path, BenchFile)
    for r in bf.rows:
        if (r.provider, r.N, r.K, r.M) == (TUNED, n, k, m):
            meas = r.measurement
            meas.latency_us /= factor
            meas.p20_us /= factor
            meas.p80_us /= factor
            meas.tflops *= factor
            r.gbps = r.gbps * factor if r.gbps else r.gbps
            r.roofline_pct = r.roofline_pct * factor if r.roofline_pct else r.roofline_pct
            if r.control is not None:
                r.control = None
    save(path, bf)


def _geomean(xs: list[float]) -> float:
    import math

    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def test_per_layer_cells_use_one_statistic(tmp_path: Path) -> None:
    """A per-layer cell's speedups, over bf16 and over an engine's Triton kernel with its
    shipped files, are both geometric means over the band's batch sizes (D8 of 2026-12-03: a
    geomean beside a median in one cell read as one statistic): with one batch size far
    faster, geomean and median differ, and each number the page prints is the geomean its
    caption and its title name."""
    import statistics

    from generator.data.records import BenchFile, Status, load

    site_data = tmp_path / "site_data"
    write_catalog(site_data, n_devices=1, n_models=1, mla=False)
    dev, page = "SYNTHETIC_GPU_A", "synthetic-dense-00-tp1"
    rows = load(site_data / f"devices/{dev}/bench/model.json", BenchFile).rows
    n, k = rows[0].N, rows[0].K
    _skew(site_data, dev, n, k, 1, 10.0)
    assert mkdocs_build(site_data, tmp_path / "site").returncode == 0
    text = (tmp_path / "site" / f"devices/{dev}/{page}.html").read_text()

    at = {
        (r.provider, r.M): r.measurement
        for r in load(site_data / f"devices/{dev}/bench/model.json", BenchFile).rows
        if (r.N, r.K) == (n, k)
    }
    bf16 = [at[("torch-bf16", m)].latency_us / at[(TUNED, m)].latency_us for m in DECODE]

    def today(shipped: str, default: str) -> list[float]:
        out = []
        for m in DECODE:
            ref = at[(shipped, m)]
            if ref.status == Status.UNSUPPORTED:  # no shipped file: the engine's default runs
                ref = at[(default, m)]
            out.append(ref.latency_us / at[(TUNED, m)].latency_us)
        return out

    vllm = today("triton-fp8-block-vllm-0.33.0", "triton-fp8-block-default")
    for xs in (bf16, vllm):  # the fixture does what it is for: the statistics differ
        assert f"{_geomean(xs):.2f}" != f"{statistics.median(xs):.2f}"

    table = text[text.index('class="bg-recommend"') :]
    row = table[table.index(f'href="#n{n}-k{k}"') :]
    decode = re.search(r'<div class="bg-ours">(.*?)</div>', row, re.S).group(1)
    plain = re.sub(r"<[^>]+>", "", decode)
    got = re.search(r"ours ([0-9.]+)× bf16, ([0-9.]+)× vLLM 0\.33\.0", plain)
    assert got, plain
    assert got.group(1) == f"{_geomean(bf16):.2f}"
    assert got.group(2) == f"{_geomean(vllm):.2f}"
    assert "bg-median" not in decode and "median" not in decode
    assert decode.count('title="geometric mean over the band') >= 2
    caption = re.sub(r"<[^>]+>|\s+", " ", text[text.index('class="bg-caption"') :][:900])
    caption = re.sub(r"\s+", " ", caption)
    assert "are each the geometric mean over the band's batch sizes" in caption
    assert "median" not in caption


# --- the provenance line's providers can be read back -------------------------------------------

_RUN_PROVIDER = re.compile(r'<span class="bg-run-provider" data-provider="([^"]+)">([^<]*)</span>')


def test_provenance_line_lists_each_provider_in_its_own_element(tmp_path: Path) -> None:
    """Provider labels hold commas ("Triton INT8 block, tuned"), so a comma-joined list cannot
    be split back: each provider of a run is an element with its name in data-provider and
    exactly its label as text."""
    from generator.data import records
    from generator.site import providers

    site_data = tmp_path / "site_data"
    write_catalog(site_data, n_devices=1, n_models=1, mla=False)
    later = {"triton-int8-block-tuned", "cublas-fp8-block", "triton-fp8-block-tuned"}
    path = site_data / "devices/SYNTHETIC_GPU_A/bench/model.json"
    bf = records.load(path, records.BenchFile)
    for row in bf.rows:  # a second run measured three of the providers
        sha = "r0w0002" if row.provider in later else "r0w0001"
        assert row.provenance is not None
        row.provenance = row.provenance.model_copy(update={"git_sha": sha})
    records.save(path, bf)
    assert mkdocs_build(site_data, tmp_path / "site").returncode == 0
    text = (tmp_path / "site/devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text()
    line = text[text.index('<p class="bg-prov">') :]
    line = line[: line.index("</p>")]
    got = [(n, html.unescape(label)) for n, label in _RUN_PROVIDER.findall(line)]
    providers.forget()
    assert sorted(got) == sorted((n, providers.style(n).label) for n in later)
    assert any("," in label for _, label in got)  # the case a comma-joined list cannot parse


# --- the MLA page: this GPU first, each point's TP and layer, the other vendor apart --------------


def _cells(row_html: str) -> list[str]:
    return [
        html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row_html, re.S)
    ]


def test_mla_rows_name_their_tp_and_layer(built: tuple[Path, Path]) -> None:
    """B is the heads per GPU: every row's TP is heads / B and its layer the name
    models.mla_batched_shapes gives that (N, K), for the model the rows were measured for."""
    from generator.data import models
    from generator.data.records import BenchFile, load

    site_data, site = built
    rows = load(site_data / "devices/SYNTHETIC_GPU_A/bench/mla.json", BenchFile).rows
    spec = models.load_model(rows[0].model, site_data)
    text = (site / "devices/SYNTHETIC_GPU_A/a16w8-mla.html").read_text()
    table = text[text.index('class="bg-sortable bg-mla"') :]
    table = table[: table.index("</table>")]
    head = [html.unescape(h) for h in re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", table)]
    assert head[:6] == ["B", "TP", "layer", "M", "N", "K"]
    body = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") :], re.S)
    assert len(body) == len({(r.B, r.M, r.N, r.K) for r in rows})
    seen_tps = set()
    for tr in body:
        b, tp, layer, _, n, k = _cells(tr)[:6]
        assert int(tp) * int(b) == spec.num_attention_heads
        (shape,) = [
            s for s in models.mla_batched_shapes(spec, int(tp)) if (s.N, s.K) == (int(n), int(k))
        ]
        assert layer == shape.layer
        seen_tps.add(int(tp))
    assert seen_tps == {1, 2, 4, 8}
    intro = html.unescape(re.sub(r"<[^>]+>", "", text[text.index("The batched GEMMs") :][:1500]))
    assert f"B = {spec.num_attention_heads} heads / TP" in intro
    assert "B = 128 at TP 1, B = 64 at TP 2, B = 32 at TP 4, B = 16 at TP 8" in intro


def test_mla_page_shows_this_gpu_first_and_the_other_vendor_collapsed(
    built: tuple[Path, Path],
) -> None:
    """The main table and the default chart hold only this GPU's measurements; the MI350X
    figures are in a closed <details> labelled as another vendor's GPU with its source, and off
    in the chart until ticked."""
    from generator.data.external_figures import mla_figures

    _, site = built
    text = (site / "devices/SYNTHETIC_GPU_A/a16w8-mla.html").read_text()
    figures = mla_figures()
    main = text[text.index('class="bg-sortable bg-mla"') :]
    main = main[: main.index("</table>")]
    assert figures.label not in html.unescape(main) and "bg-ref" not in main
    details = re.search(r'<details class="bg-external">(.*?)</details>', text, re.S)
    assert details, "the other vendor's figures belong in a collapsed <details>"
    summary = html.unescape(re.search(r"<summary>(.*?)</summary>", details.group(1)).group(1))
    assert "Another vendor's GPU, not measured here" in summary
    assert figures.device in summary and figures.label in summary
    assert f'href="{figures.source}"' in details.group(1)
    assert 'class="bg-ref"' in details.group(1)
    assert text.index('class="bg-sortable bg-mla"') < text.index('<details class="bg-external">')
    spec = json.loads(
        re.search(r'id="mla".*?<script type="application/json">(.*?)</script>', text, re.S).group(1)
    )
    ref = [s for s in spec["series"] if s["key"] is None]
    assert ref and all(not s["visible"] for s in ref)
    assert all(s["visible"] for s in spec["series"] if s["key"] is not None)


# --- "installed by our files" only where a file of it is -----------------------------------------

INSTALLED = "Installed by our files"
NOT_PUBLISHED = "Tuned by us, no file of it published here"


def _chart_specs(text: str) -> list[dict]:
    return [
        json.loads(m)
        for m in re.findall(
            r'<div class="bg-chart"[^>]*><script type="application/json">(.*?)</script>', text, re.S
        )
    ]


def test_a_provider_is_installed_only_where_a_file_of_it_is(tmp_path: Path) -> None:
    """Like the H100's data: rows of the tuned INT8 kernel, but no INT8 file published. Its
    lines are not under "Installed by our files" on any chart of the device; the FP8 one, whose
    files are there, still is."""
    site_data = tmp_path / "site_data"
    write_catalog(site_data, n_devices=1, n_models=2, mla=False)
    dev = site_data / "devices/SYNTHETIC_GPU_A"
    for p in [*dev.glob("configs/*/*dtype=int8_w8a8*"), *dev.glob("tuning/*__int8__*")]:
        p.unlink()
    result = mkdocs_build(site_data, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    from generator.configs.engine_files import file_name

    checked = 0
    for page in (tmp_path / "site/devices/SYNTHETIC_GPU_A").glob("*-tp*.html"):
        text = page.read_text()
        for n, k, spec in re.findall(
            r'id="chart-N(\d+)-K(\d+)".*?<script type="application/json">(.*?)</script>', text, re.S
        ):
            group = {s["key"]: s["group"] for s in json.loads(spec)["series"] if s["key"]}
            assert group["triton-int8-block-tuned"] == NOT_PUBLISHED
            fp8 = file_name("vllm", int(n), int(k), "SYNTHETIC_GPU_A", "fp8")
            has = (dev / "configs/vllm" / fp8).is_file()
            assert group["triton-fp8-block-tuned"] == (INSTALLED if has else NOT_PUBLISHED)
            checked += has
    assert checked >= 2  # shapes with an FP8 file and none with an INT8 one
    square = (tmp_path / "site/devices/SYNTHETIC_GPU_A/index.html").read_text()
    for spec in _chart_specs(square):  # the square sweep: a file for one of its M = N = K
        has = any(
            (dev / "configs/vllm" / file_name("vllm", x, x, dev.name, "fp8")).is_file()
            for x in spec["x"]
        )
        group = {s["key"]: s["group"] for s in spec["series"] if s["key"]}
        assert group["triton-fp8-block-tuned"] == (INSTALLED if has else NOT_PUBLISHED)
        assert group["triton-int8-block-tuned"] == NOT_PUBLISHED
    text = (tmp_path / "site/devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text()
    legend = html.unescape(text)
    assert "Tuned by us, no file of it published here" in legend


# --- a stand-in baseline says so next to its number ---------------------------------------------


def test_a_stand_in_for_what_an_engine_runs_is_said_next_to_the_number(
    built: tuple[Path, Path],
) -> None:
    """Device B is measured like the H100: no rows of the engines' shipped files or of SGLang's
    default, no tuning baselines. The only "today" figure is vLLM's default config: for SGLang
    (whose own default has another num_stages) and for vLLM (which ships files) it is a
    stand-in, and every page that shows it for them says so beside it; device A, where both
    were measured, shows no stand-in."""
    from generator.data.shipped import shipped_sets

    _, site = built
    stages = {s.engine: s.default_num_stages for s in shipped_sets()}
    assert stages["sglang"] != stages["vllm"]  # why vLLM's default is not SGLang's
    page = "synthetic-dense-00-tp1"
    for dev, expect in (("SYNTHETIC_GPU_B", True), ("SYNTHETIC_GPU_A", False)):
        text = html.unescape((site / f"devices/{dev}/{page}.html").read_text())
        device = html.unescape((site / f"devices/{dev}/index.html").read_text())
        with zipfile.ZipFile(site / f"devices/{dev}/downloads/{page}-sglang-configs.zip") as zf:
            readme = zf.read("README.txt").decode()
        if not expect:  # (the verdict's own stand-ins, DeepGEMM for FlashInfer, are another matter)
            assert "stand-in for" not in text and "bg-stand-in-note" not in text
            assert "only a stand-in" not in text
            assert 'class="bg-stand-in" data-engine=' not in device
            assert "STAND-IN" not in readme
            continue
        gains_table = text[text.index('class="bg-gains"') :]
        # vLLM ships no file for this GPU (its reference files): its default config is what
        # it runs, its own row, not a stand-in (review3 item 5); SGLang's own default differs
        assert 'class="bg-today-missing" data-engine="vllm"' not in gains_table
        for name, engine in (("SGLang 0.5.23", "sglang"),):
            row = gains_table[
                gains_table.index(f'class="bg-today-missing" data-engine="{engine}"') :
            ]
            row = row[: row.index("</th>")]
            assert f"{name}'s Triton kernel, its shipped files" in row
            assert "stand-in: vLLM's default config, at the" in row
            assert f"weight shapes {name} ships no file for here" in row
        note = re.search(r'<p class="bg-stand-in-note" data-engine="sglang">(.*?)</p>', text, re.S)
        assert note and f"own default config ({stages['sglang']} stages)" in note.group(1)
        assert f"vLLM's default config ({stages['vllm']} stages) stands in" in note.group(1)
        card = text[text.index('<section class="bg-engine" data-engine="sglang">') :]
        card = re.sub(r"<[^>]+>", "", card[: card.index("</section>")])
        assert "Gain over SGLang 0.5.23's Triton kernel, its shipped files: not measured" in card
        assert "only a stand-in" in card
        # the device page's "× SGLang today" shows the stand-in's medians, marked as one
        cell = re.search(
            r'<span class="bg-stand-in" data-engine="sglang"[^>]*>(.*?)</span>'
            r"×?<br><small>(.*?)</small>",
            device,
            re.S,
        )
        assert cell and "× vLLM's default config, a stand-in at the" in cell.group(2)
        assert "shapes SGLang ships no file for" in cell.group(2)
        stated = dict(re.findall(r'data-fact="([^"]+)">([^<]*)<', cell.group(1)))
        assert stated and all("|sglang-0.5.23-stand-in|" in k for k in stated)
        assert all(text.count(f'data-fact="{k}">{v}<') == 1 for k, v in stated.items())
        assert "STAND-IN for what" in readme and "SGLang 0.5.23 runs without our files" in readme


# --- every provider its own colour, overlapping lines their own dash, hover on all lines ---------


def _delta_e(a: str, b: str) -> float:
    from generator.site.charts import delta_e

    return delta_e(a, b)


def test_delta_e_is_cie76_in_lab():
    """The distance the colour tests use: black to white is 100 (L* alone), a colour to itself
    0, and pure red to pure green about 170 (CIE76 on D65 sRGB)."""
    assert _delta_e("#000000", "#ffffff") == pytest.approx(100.0, abs=0.01)
    assert _delta_e("#1f77b4", "#1f77b4") == 0.0
    assert _delta_e("#ff0000", "#00ff00") == pytest.approx(170.6, abs=0.5)


def test_every_provider_of_a_chart_has_its_own_colour(built: tuple[Path, Path]) -> None:
    """In every chart the site builds: no two providers share a colour or come close (CIELAB
    Delta-E >= 15 in both palettes; vLLM's and SGLang's shipped files were two dark purples 13
    apart), no two lines of one legend group share a dash, and hovering shows every line at
    that x."""
    _, site = built
    charts_seen = shipped_pairs = 0
    for page in site.rglob("*.html"):
        for spec in _chart_specs(page.read_text()):
            charts_seen += 1
            assert spec["hovermode"] == "x unified", page
            mine = [s for s in spec["series"] if s["key"]]
            for key in ("color", "color_dark"):
                colours = [s[key] for s in mine]
                assert len(set(colours)) == len(colours), (page, key, colours)
                for i, a in enumerate(mine):
                    for b in mine[i + 1 :]:
                        assert _delta_e(a[key], b[key]) >= 15, (page, a["key"], b["key"], key)
            if spec["type"] == "lines":
                by_group: dict[str, list[str]] = {}
                for s in mine:
                    by_group.setdefault(s["group"], []).append(s["dash"])
                for group, dashes in by_group.items():
                    assert len(set(dashes)) == len(dashes), (page, group, dashes)
            names = {s["key"] for s in mine}
            shipped_pairs += {
                "triton-fp8-block-vllm-0.33.0",
                "triton-fp8-block-sglang-0.5.23",
            } <= names
    assert charts_seen > 20 and shipped_pairs > 5


def test_the_palette_is_declared_once_and_its_colours_differ() -> None:
    """Every registered provider's colour is its own entry of providers.PALETTE, and every two
    entries differ by Delta-E >= 19 as drawn on both page palettes."""
    from generator.data.provider_registry import registered
    from generator.site import providers

    providers.forget()
    names = list(registered())
    colours = [providers.style(n).color for n in names]
    assert len(set(colours)) == len(colours) and set(colours) <= set(providers.PALETTE)
    assert len(providers.PALETTE) > len(names)  # slots left for contributed providers
    for bg in (providers.LIGHT_BG, providers.DARK_BG):
        drawn = [providers.legible(c, bg) for c in providers.PALETTE]
        worst = min(_delta_e(a, b) for i, a in enumerate(drawn) for b in drawn[i + 1 :])
        assert worst >= 19, bg
    unknown = providers.style("never-registered@SYNTHETIC_GPU_A").color
    assert unknown in providers.PALETTE and unknown not in colours


# --- 2026-12-03: what the gains compare with, and verdict tables a phone can read ---------------


def test_the_triton_reference_is_named_by_what_the_rules_say_runs(built: tuple[Path, Path]) -> None:
    """Device A is a Hopper (the engines run DeepGEMM / FlashInfer by default), C an AMD
    Instinct (they run Triton): only C's pages call the engine's Triton kernel with its
    shipped files what it runs "today"; A's say it is what runs only if Triton runs (D1)."""
    _, site = built
    page = "synthetic-dense-00-tp1.html"
    for dev, today in (("SYNTHETIC_GPU_A", False), ("SYNTHETIC_GPU_C", True)):
        text = html.unescape((site / f"devices/{dev}/{page}").read_text())
        device = html.unescape((site / f"devices/{dev}/index.html").read_text())
        install = text[text.index('id="what-to-install"') : text.index('id="per-layer"')]
        layers = text[text.index('class="bg-recommend"') :]
        layers = layers[: layers.index("</table>")]
        for where in (install, device, layers):
            assert ("vLLM 0.33.0 today" in where) == today, (dev, where[:300])
            assert "× vLLM today" not in where and "the Triton kernel the engines run" not in where
        refs = re.findall(r'<li data-engine="(\w+)" data-triton-default="(\w+)">', install)
        assert dict(refs) == {e: ("all" if today else "none") for e in ("vllm", "sglang")}
        if not today:
            assert "only if Triton runs" in install and "not what it runs today" in install
    home = html.unescape((site / "index.html").read_text())
    assert "without our files<br>" not in home  # the gains rows name their reference


def test_verdict_band_tables_state_only_what_occurs_with_units(built: tuple[Path, Path]) -> None:
    """Each band row of a verdict table says its counts in layers, lists only the states that
    occur (no column of zeros pushing "not measured" off a phone) and gives the worst layer's
    ratio by name; a verdict with nothing measured shows one line, not a table of zeros (D3)."""
    _, site = built
    text = html.unescape((site / "devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text())
    tables = re.findall(r'<table class="bg-verdict-bands">(.*?)</table>', text, re.S)
    assert len(tables) == 2
    for table in tables:
        rows = re.findall(r'<tr data-band="(\w+)">(.*?)</tr>', table, re.S)
        assert [b for b, _ in rows] == ["decode", "mid", "prefill"]
        for _, row in rows:
            counts = re.findall(r"<td>(.*?)</td>", row, re.S)[0]
            assert re.search(r"\(of <span[^>]*>\d+</span> layers", counts), counts
            stated = re.findall(r'data-fact="[^"]+\|(\w+)">(\d+)<', counts)
            assert stated and all(v != "0" for k, v in stated if k != "cells"), stated
    assert "layer × band cells" in text
    assert "slowest layer" not in text


def test_nothing_measured_is_one_line(tmp_path: Path) -> None:
    """Device A without its DeepGEMM rows: the default is not measured anywhere, so each
    engine's verdict says so in one line and no all-zero band table is drawn (D3)."""
    from generator.data.records import BenchFile, load, save

    site_data = tmp_path / "site_data"
    write_catalog(site_data, n_devices=1, n_models=1, mla=False)
    path = site_data / "devices/SYNTHETIC_GPU_A/bench/model.json"
    bf = load(path, BenchFile)
    bf.rows = [r for r in bf.rows if not r.provider.startswith(("deepgemm", "flashinfer"))]
    bf.providers = {k: v for k, v in bf.providers.items() if k in {r.provider for r in bf.rows}}
    save(path, bf)
    assert mkdocs_build(site_data, tmp_path / "site").returncode == 0
    text = html.unescape(
        (tmp_path / "site/devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html").read_text()
    )
    assert text.count('data-decision="unmeasured"') >= 2
    assert 'class="bg-verdict-bands"' not in text
    lines = re.findall(r'<p class="bg-verdict-none">(.*?)</p>', text, re.S)
    assert len(lines) == 2 and all("layer × band cells is measured" in x for x in lines)


def test_chart_views_and_legend_name_the_triton_reference_by_the_rules(
    built: tuple[Path, Path],
) -> None:
    """The charts' "× vLLM 0.33.0" view and the legend group of the engines' Triton kernel:
    on a Hopper (device A: DeepGEMM / FlashInfer by default) they name the engine's Triton
    kernel with its shipped files and never say "today" or "without our files" (what the
    reader would run); on an AMD Instinct (device C: Triton by default) the group says it is
    what the engines run without our files (D1, the chart toggle)."""
    from generator.site import providers
    from generator.site.providers import ROLE_TITLES, Role

    _, site = built
    views = 0
    for dev, today in (("SYNTHETIC_GPU_A", False), ("SYNTHETIC_GPU_C", True)):
        groups: set[str] = set()
        for page in (site / "devices" / dev).glob("*.html"):
            for spec in _chart_specs(page.read_text()):
                for v in spec["views"]:
                    if not v["id"].startswith("today-"):
                        continue
                    views += 1
                    said = " ".join((v["label"], v["y_title"], v["help"]))
                    assert ("today" in said) == today, (page.name, said)
                    assert "without our files" not in said or today, (page.name, said)
                    if not today:
                        assert v["label"].endswith("'s Triton"), v["label"]
                        assert "only if Triton runs" in v["help"], v["help"]
                groups |= {
                    s["group"]
                    for s in spec["series"]
                    if s["key"] and providers.style(s["key"]).role == Role.ENGINE
                }
        want = providers.ENGINE_TODAY_TITLE if today else ROLE_TITLES[Role.ENGINE]
        assert groups == {want}, (dev, groups)
        assert "run" not in ROLE_TITLES[Role.ENGINE]  # it says what the kernel is, not that it runs
    assert views > 5


def test_a_chart_with_no_reference_claims_nothing_about_the_default(
    built: tuple[Path, Path],
) -> None:
    """A chart built without the page's references names the engine's Triton kernel neutrally
    (no "today"); given a reference that runs Triton everywhere, its view says "today"."""
    from generator.data.records import BenchFile, load
    from generator.site import charts, providers
    from generator.site.verdict import Reference, TritonDefault

    site_data, _ = built
    providers.forget()
    rows = load(site_data / "devices/SYNTHETIC_GPU_A/bench/model.json", BenchFile).rows
    shape = [r for r in rows if (r.N, r.K) == (rows[0].N, rows[0].K) and r.model == rows[0].model]
    for refs, today in (
        (None, False),
        ({"vllm": Reference("vllm", "vLLM 0.33.0", TritonDefault.NONE, ("DeepGEMM",))}, False),
        ({"vllm": Reference("vllm", "vLLM 0.33.0", TritonDefault.ALL)}, True),
    ):
        spec = charts.model_chart(shape, refs=refs)
        assert spec is not None
        (view,) = [v for v in spec["views"] if v["id"] == "today-triton-fp8-block-vllm-0.33.0"]
        assert view["label"] == ("× vLLM 0.33.0 today" if today else "× vLLM 0.33.0's Triton")
        assert ("runs today" in view["help"]) == today, view["help"]


# --- D9: the home page --------------------------------------------------------------------------


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


def test_home_names_gpus_and_says_what_runs_by_default_per_gpu(built: tuple[Path, Path]) -> None:
    """The home page's tables show each GPU by its title (as its own page does), not its
    folder; its section on what the engines run makes no claim that they run Triton today:
    per GPU and engine it says what the dispatch rules give the layers (DeepGEMM on the
    Hopper A, Triton on the AMD Instinct C), and each verdict count is "of N pages" (D9)."""
    from generator.site.catalog import load_catalog

    site_data, site = built
    home = (site / "index.html").read_text()
    devices = load_catalog(site_data).devices
    matrix = home[home.index('<table class="bg-matrix">') :]
    matrix = matrix[: matrix.index("</table>")]
    heads = re.findall(r"<th><a [^>]*>(.*?)</a>", matrix)
    assert heads == [html.escape(d.title) for d in devices] and all(
        d.title != d.name for d in devices
    )
    for d in devices:
        assert f"on {d.name}" not in matrix  # the links' tooltips too
    assert "What your engine runs today" not in _visible(home)
    table = home[home.index('<table class="bg-verdict-home">') :]
    table = table[: table.index("</table>")]
    row_re = r'<tr data-engine="(\w+)" data-triton-default="(\w+)">(.*?)</tr>'
    rows = re.findall(row_re, table, re.S)
    assert len(rows) == 2 * len(devices)
    by_gpu = {}
    for engine, default, row in rows:
        head = re.search(r"<th><a [^>]*>(.*?)</a>", row)
        assert head, row
        gpu = _visible(head.group(1)).strip()
        runs, verdicts = [_visible(c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        by_gpu[(gpu, engine)] = (default, runs)
        counts = re.findall(r"(\d+) of (\d+) pages: ", verdicts)
        assert counts and len({total for _, total in counts}) == 1, verdicts
        assert sum(int(n) for n, _ in counts) == int(counts[0][1]), verdicts
    a, c = (next(d.title for d in devices if d.name.endswith(x)) for x in ("_A", "_C"))
    assert by_gpu[(a, "vllm")][0] == "none" and "DeepGEMM" in by_gpu[(a, "vllm")][1]
    assert "only when forced" in by_gpu[(a, "sglang")][1]
    assert by_gpu[(c, "vllm")][0] == "all" and by_gpu[(c, "vllm")][1].startswith("the Triton")


def test_home_gain_tables_count_every_row_out_of_one_total(built: tuple[Path, Path]) -> None:
    """In each gain table of the home page, every row of a band column counts its points out
    of the same total, the band's points; a reference timed at fewer says where it was not
    compared (device C: vLLM's shipped files only at the tuner's points), so its counts add up
    to that total (D9)."""
    _, site = built
    home = (site / "index.html").read_text()
    tables = re.findall(r'<table class="bg-gains">(.*?)</table>', home, re.S)
    assert len(tables) >= 4
    missing = 0
    for table in tables:
        columns: dict[int, set[int]] = {}
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
            for i, cell in enumerate(re.findall(r"<td>(.*?)</td>", row, re.S)):
                text = _visible(cell)
                total = re.search(r"of (\d+) points", text)
                if not total:
                    continue
                columns.setdefault(i, set()).add(int(total.group(1)))
                counts = [
                    int(n) for n in re.findall(r"(?:faster|tie|slower|not compared) at (\d+)", text)
                ]
                if "tie at" in text:  # our files' table: every point is one of these
                    assert sum(counts) == int(total.group(1)), text
                missing += "not compared at" in text
        assert columns and all(len(t) == 1 for t in columns.values()), columns
    assert missing


def test_home_explains_or_links_its_terms(built: tuple[Path, Path]) -> None:
    """No undefined jargon on the home page: a search version is a link to the methodology's
    list of them, the timing method's text is behind a link to how the timing works, "timed
    while tuning" links the tuning section; no "tuning session", "slowest layer" or bare
    "search 5" (D9)."""
    _, site = built
    home = (site / "index.html").read_text()
    text = _visible(home)
    for term in ("tuning session", "slowest layer", "the tuner", "What your engine runs today"):
        assert term not in text, term
    assert not re.search(r"\(search \d", text)
    searches = re.findall(r'<a href="([^"]+)"[^>]*>search version</a>', home)
    assert searches and all(h.endswith("methodology.html#search-versions") for h in searches)
    methodology = (site / "methodology.html").read_text()
    assert 'id="search-versions"' in methodology
    assert re.search(r'<a href="[^"]*methodology.html#timing">timing</a>: ', home)
    assert re.search(r'<a href="[^"]*methodology.html#tuning">while tuning</a>', home)


def test_when_the_triton_kernel_runs_is_the_dispatch_rules(built: tuple[Path, Path]) -> None:
    """The install cards, the installing page and the READMEs say when each engine runs the
    Triton kernel from its dispatch rules, as the verdicts do: on Hopper vLLM 0.33.0 runs it
    only when forced (the sentence said it "may not run at all", with no way to force it),
    SGLang where DeepGEMM does not take the layer; the flag given is the rules' first forcing
    setting, and the GPUs where it runs by default are the rules' (vLLM: not Ada, where its
    rules give FP8 Marlin)."""
    _, site = built
    table = dispatch.rule_table()
    for e in engines.engines():
        rules = dispatch.engine_rules(e.id)
        assert e.force_triton == rules.backends["triton"].force[0].setting
        hopper = [r for r in rules.rules if r.when.arch is None or "sm_90" in r.when.arch]
        for r in hopper:
            assert rules.backends[r.backend].short in e.hopper, (e.id, r.id)
        forced_only = all(r.backend != "triton" for r in hopper)
        assert ("only when forced" in e.hopper) == forced_only, e.hopper
        by_default = {a for a in table.archs if e.triton_by_default(a)}
        assert by_default == {
            a for a in table.archs for r in rules.rules if r.backend == "triton"
            if r.when.arch is None or a in r.when.arch
        }  # fmt: skip
        gpus = [table.archs[a] for a in table.archs if a in by_default]
        assert len(e.triton_gpus) == len(gpus)
        assert all(g.startswith(f"{what}: ") for g, what in zip(e.triton_gpus, gpus, strict=True))
    assert engines.engine("vllm").force_triton == "--linear-backend triton"
    assert not engines.engine("vllm").triton_by_default("sm_89")  # FP8 Marlin on Ada
    texts = _texts(site)
    for where, text in texts.items():
        assert "may not run at all" not in text, where
    page = texts["devices/SYNTHETIC_GPU_A/synthetic-dense-00-tp1.html"]
    assert "Forced with <code>--linear-backend triton</code>" in page
    installing = _visible(texts["installing.html"])
    assert "(Ada, consumer cards, AMD" not in installing
