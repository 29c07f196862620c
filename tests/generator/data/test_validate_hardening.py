"""``validate`` holds every file to bounds and to the code's provider registry (issue 24).

Each case is a probe of the second hardening round, planted in a copy of the synthetic tree:
inputs that crashed ``validate`` itself (deep nesting, a 5,000-digit integer, a FIFO named as a
record, a config file named with a dtype its folder has no file for), inputs it passed and the
site build then crashed on (dates without a time zone, model ids with markup), and bench files
that redefined what a registered provider is, which changed another device's figures.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from generator.data.records import (
    BenchFile,
    BenchRow,
    Ceilings,
    Measurement,
    ProviderInfo,
    Status,
    save,
)
from generator.data.validate import validate_tree
from tests.fixtures.make_synthetic import provenance, write_catalog

A, B = "SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hardening") / "site_data"
    write_catalog(root, n_devices=2, n_models=1, mla=False)
    assert validate_tree(root).ok
    return root


@pytest.fixture
def tree(pristine, tmp_path) -> Path:
    root = tmp_path / "site_data"
    shutil.copytree(pristine, root)
    return root


def _edit(path: Path, change) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def _dev(root: Path, dev: str = A) -> Path:
    return root / "devices" / dev


def _first(root: Path, sub: str, dev: str = A) -> Path:
    return sorted((_dev(root, dev) / sub).glob("*.json"))[0]


def _problems(root: Path) -> list[str]:
    return [str(p) for p in validate_tree(root).problems]


def _says(root: Path, path: Path, *needles: str) -> None:
    lines = _problems(root)
    hits = [line for line in lines if line.startswith(f"{path}: ")]
    assert hits and any(all(n in line for n in needles) for line in hits), lines


# --- inputs that crashed validate ------------------------------------------------------------


def test_absurd_nesting_is_one_problem(tree):
    path = _dev(tree) / "bench/square.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    _says(tree, path, "field '<root>'", "nested deeper than")


def test_an_integer_of_5000_digits_is_one_problem(tree):
    path = _dev(tree) / "bench/square.json"
    path.write_text('{"schema_version": ' + "9" * 5000 + "}")
    _says(tree, path, "out of range")


@pytest.mark.parametrize("value", [2**70, -(2**70)])
def test_integers_beyond_64_bits_are_refused(tree, value):
    path = _dev(tree) / "bench/square.json"
    _edit(path, lambda raw: raw["rows"][0].update(N=value))
    _says(tree, path, "out of range")


def test_a_config_file_named_with_a_dtype_its_folder_has_no_file_for(tree):
    """``dtype=a16w8_fp8`` in ``configs/vllm/``: the name parser asked for the vLLM name of a
    bf16 table, and the UserError that raised escaped validate."""
    src = _first(tree, "configs/vllm")
    path = src.with_name(src.name.replace("fp8_w8a8", "a16w8_fp8"))
    src.rename(path)
    _says(tree, path, "field '<name>'", "not a name vllm loads")


@pytest.mark.timeout(60)
def test_a_fifo_named_as_a_record_is_refused_not_read(tree):
    """``device.json`` as a FIFO: the read used to wait for a writer forever."""
    path = _dev(tree) / "device.json"
    path.unlink()
    os.mkfifo(path)
    _says(tree, path, "not a regular file")


# --- inputs validate passed and the build crashed on -----------------------------------------


@pytest.mark.parametrize("where", ["row", "run", "record", "device"])
def test_dates_without_a_time_zone_are_refused(tree, where):
    """The pages order runs by date; one naive date among aware ones raised TypeError."""
    naive = "2025-01-01T00:00:00"
    if where == "row":
        path = _dev(tree) / "bench/square.json"
        _edit(path, lambda raw: raw["provenance"].update(date=naive))
    elif where == "run":  # the run the rows cite, in the file's runs table
        path = _dev(tree) / "bench/model.json"
        _edit(path, lambda raw: raw["runs"][0].update(date=naive))
    elif where == "record":
        path = _first(tree, "tuning")

        def change(raw):
            raw["records"][0]["provenance"] = {**raw["provenance"], "date": naive}

        _edit(path, change)
    else:
        path = _dev(tree) / "device.json"
        _edit(path, lambda raw: raw["provenance"].update(date=naive))
    _says(tree, path, "date", "timezone")


@pytest.mark.parametrize("model", ["<b>x</b>", "it's", "a/b", ""])
def test_model_ids_with_markup_or_separators_are_refused(tree, model):
    """A model id becomes a page name and a heading (MkDocs does not escape headings)."""
    path = _dev(tree) / "bench/model.json"
    _edit(path, lambda raw: [row.update(model=model) for row in raw["rows"][:3]])
    _says(tree, path, "field 'rows.0.model'", "pattern")


def test_a_hidden_file_in_a_config_folder_is_refused(tree):
    """validate skipped it, the bundles refused it: the build stopped."""
    path = _dev(tree) / "configs/vllm/.hand-tuned.json"
    path.write_text("{}")
    _says(tree, path, "hidden file in a config folder")


@pytest.mark.parametrize("version, says", [(2, "newer than this code's"), (True, "True is not")])
def test_schema_versions_this_code_does_not_know_are_refused(tree, version, says):
    path = _dev(tree) / "bench/square.json"
    _edit(path, lambda raw: raw.update(schema_version=version))
    _says(tree, path, "field 'schema_version'", says)


@pytest.mark.parametrize(
    "sub, change, field",
    [
        ("bench/model.json", lambda raw: raw["rows"][0].update(tp=0), "rows.0.tp"),
        ("bench/square.json", lambda raw: raw["rows"][0].update(B=2**40), "rows.0.B"),
        ("checks/pruning.json", lambda raw: raw["points"][0].update(M=0), "points.0.M"),
    ],
)
def test_sizes_are_positive_and_bounded(tree, sub, change, field):
    path = _dev(tree) / sub
    _edit(path, change)
    _says(tree, path, f"field '{field}'", "is not in 1..2**31 - 1")


# --- provider metadata: the registry's ---------------------------------------------------------


def _square_infos(root: Path, dev: str, change) -> Path:
    path = _dev(root, dev) / "bench/square.json"
    _edit(path, lambda raw: change(raw["providers"]))
    return path


def test_a_bench_file_cannot_redefine_a_registered_provider(tree):
    """The probe: a contributed device's square.json with torch-bf16's baseline off and the
    config sources of two providers swapped changed 90 of 224 figures on another device."""

    def change(infos):
        infos["torch-bf16"]["baseline"] = False
        tuned, default = infos["triton-fp8-block-tuned"], infos["triton-fp8-block-default"]
        tuned["config_source"], default["config_source"] = "default", "tuned"

    path = _square_infos(tree, B, change)
    _says(tree, path, "providers.torch-bf16.baseline", "the registry says True")
    _says(tree, path, "providers.triton-fp8-block-tuned.config_source", "'tuned'")
    _says(tree, path, "providers.triton-fp8-block-default.config_source", "'default'")


@pytest.mark.parametrize("role, value", [("baseline", True), ("installable", ["vllm"])])
def test_a_provider_the_registry_does_not_know_takes_no_reserved_role(tree, role, value):
    def change(infos):
        mine = {**infos["torch-bf16"], "name": "mystery-kernel", "baseline": False}
        infos["mystery-kernel"] = {**mine, role: value}

    path = _square_infos(tree, B, change)
    _says(tree, path, f"providers.mystery-kernel.{role}", "only a registered provider")


def test_metadata_is_filed_under_its_own_name(tree):
    path = _square_infos(tree, A, lambda infos: infos["torch-bf16"].update(name="mystery"))
    _says(tree, path, "providers.torch-bf16.name", "'mystery' recorded under 'torch-bf16'")


@pytest.mark.parametrize(
    "field, value",
    [
        ("dash", 'solid" onmouseover="alert(1)'),
        ("symbol", "circle<script>"),
        ("label", "<img src=x onerror=alert(1)>"),
    ],
)
def test_styles_that_reach_html_or_css_match_a_strict_pattern(tree, field, value):
    path = _square_infos(tree, A, lambda infos: infos["torch-bf16"].update({field: value}))
    _says(tree, path, f"providers.torch-bf16.{field}")


def test_a_recorded_colour_is_no_problem_and_is_dropped(tree):
    """Files before 2026-12-03 record a colour per provider, which nothing reads (the site's
    palette colours every provider): validate accepts one, whatever it holds, and reading
    drops it, so it can reach no page."""
    hostile = "red; position: fixed; inset: 0; background: url(https://x.example/)"
    path = _square_infos(tree, A, lambda infos: infos["torch-bf16"].update(color=hostile))
    assert not [line for line in _problems(tree) if line.startswith(f"{path}: ")]
    raw = json.loads(path.read_text())["providers"]["torch-bf16"]
    assert "color" in raw and "color" not in ProviderInfo.model_validate(raw).model_dump()


def test_values_older_runs_recorded_are_accepted_and_named():
    """The split-K rows of 2026-11 were measured with a fixed config (the committed H100 and
    H200 square sweeps say so): that is no disagreement; another value is."""
    from generator.data import provider_registry

    known = provider_registry.registered()["triton-fp8-block-splitk"]
    fixed = known.model_copy(update={"config_source": "fixed"})
    assert provider_registry.disagreements(fixed) == []
    tuned = known.model_copy(update={"config_source": "tuned"})
    assert provider_registry.disagreements(tuned) == [
        ("config_source", "'tuned', but the registry says 'own'")
    ]


# --- the error bound of each row: its provider's output dtype ----------------------------------


def test_bf16_rows_of_a_float16_run_are_judged_by_the_bf16_bound(tmp_path):
    """``bench --out-dtype float16``: the bf16 baseline still returns bf16, and the bench
    judged it by bf16's bound, but validate held it to float16's and refused the file."""
    prov = provenance(A, "SYNTHETIC GPU A")
    error = 2.5e-3  # within bf16's bound (2**-8 + 1e-3), beyond float16's (2**-11 + 1e-3)

    def row(provider: str) -> BenchRow:
        m = Measurement(status=Status.OK, latency_us=10.0, tflops=1.0, rel_error=error)
        return BenchRow(
            provider=provider, sweep="square", M=64, N=64, K=64, measurement=m, provenance=prov
        )

    from generator.bench import registry

    infos = {p.name: p.info for p in registry.PROVIDERS}
    path = tmp_path / "site_data/devices" / A / "bench/square.json"
    bf = BenchFile(
        sweep="square",
        provenance=prov,
        ceilings=Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0),
        rows=[row("torch-bf16")],
        providers={"torch-bf16": infos["torch-bf16"]},
        out_dtype="float16",
    )
    save(path, bf)
    assert _problems(tmp_path / "site_data") == []
    # an 8-bit GEMM of the same run returns float16: held to float16's bound
    name = "triton-fp8-block-default"
    bf.rows.append(row(name))
    bf.providers[name] = infos[name]
    save(path, bf)
    (line,) = _problems(tmp_path / "site_data")
    assert "rows.1.measurement.rel_error" in line and "exceeds the bound" in line
