"""``validate``: a site_data tree checked for meaning, every problem listed; the site build and
the bundles refuse what it refuses (issue 17's site-build probes), and the committed tree
passes.

Each defect below is one a probe planted in a copy of a valid tree (the synthetic fixture):
the build used to ship it, render it as "nan" or "-13.9x", or die in a template with a
traceback.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from generator.cli import main as cli_main
from generator.errors import UserError
from tests.fixtures.make_synthetic import write_catalog

REPO = Path(__file__).resolve().parents[3]
A, B = "SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("validate") / "site_data"
    write_catalog(root, n_devices=2, n_models=1, mla=False)
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


def _first(root: Path, dev: str, sub: str) -> Path:
    return sorted((root / "devices" / dev / sub).glob("*.json"))[0]


# --- the defects: (what is planted, the file it is in, what validate says) -------------------


def other_devices_config(root: Path) -> Path:
    src = _first(root, B, "configs/vllm")
    dest = root / "devices" / A / "configs/vllm" / src.name
    shutil.copy(src, dest)
    return dest


def block_m_9999(root: Path) -> Path:
    path = _first(root, A, "configs/vllm")
    _edit(path, lambda raw: raw[next(iter(raw))].update(BLOCK_SIZE_M=9999))
    return path


def num_warps_0(root: Path) -> Path:
    path = _first(root, A, "configs/sglang")
    _edit(path, lambda raw: raw[next(iter(raw))].update(num_warps=0))
    return path


def tuning_file_of_another_device(root: Path) -> Path:
    path = _first(root, A, "tuning")
    _edit(path, lambda raw: raw["provenance"].update(device_name=B))
    return path


def duplicate_m(root: Path) -> Path:
    path = _first(root, A, "tuning")
    _edit(path, lambda raw: raw["records"].insert(1, raw["records"][0]))
    return path


def nan_latency(root: Path) -> Path:
    path = root / "devices" / A / "bench/model.json"
    _edit(path, lambda raw: raw["rows"][0]["measurement"].update(latency_us=math.nan))
    return path


def negative_latency(root: Path) -> Path:
    path = _first(root, A, "tuning")
    _edit(path, lambda raw: raw["records"][0]["winner"].update(latency_us=-13.9))
    return path


def bench_row_of_another_device(root: Path) -> Path:
    """Row 3 cites a run of its own, measured on another GPU (the file's second run)."""
    path = root / "devices" / A / "bench/model.json"

    def change(raw):
        assert len(raw["runs"]) == 1  # the synthetic file is one run's
        raw["runs"].append({**raw["runs"][0], "device_name": B})
        raw["rows"][3]["run"] = 1

    _edit(path, change)
    return path


def bench_rows_without_provenance(root: Path) -> Path:
    """Every row of a file as an old run left it: no run of its own."""
    path = root / "devices" / A / "bench/square.json"

    def change(raw):
        for row in raw["rows"]:
            row.pop("run")
        raw.pop("runs")

    _edit(path, change)
    return path


def bench_run_no_row_cites(root: Path) -> Path:
    """A run in the table that no row cites (save writes none such: a hand edit)."""
    path = root / "devices" / A / "bench/square.json"
    _edit(path, lambda raw: raw["runs"].append({**raw["runs"][0], "git_sha": "n0b0dy"}))
    return path


def bench_row_citing_a_missing_run(root: Path) -> Path:
    path = root / "devices" / A / "bench/square.json"
    _edit(path, lambda raw: raw["rows"][4].update(run=len(raw["runs"])))
    return path


def zero_pruning_time(root: Path) -> Path:
    path = root / "devices" / A / "checks/pruning.json"
    _edit(path, lambda raw: raw["points"][0].update(exhaustive_us=0.0))
    return path


SITE_PROBES = [
    (other_devices_config, "'<name>': a file for device SYNTHETIC_GPU_B, in SYNTHETIC_GPU_A's"),
    (block_m_9999, "BLOCK_SIZE_M': 9999 is not a power of two in 16..256"),
    (num_warps_0, "num_warps': 0 is not a power of two in 4..8"),
    (tuning_file_of_another_device, "measured on SYNTHETIC_GPU_B, filed under SYNTHETIC_GPU_A"),
    (duplicate_m, "'records': M=1 appears 2 times"),
    (nan_latency, "'rows.0.measurement.latency_us': nan is not a finite positive number"),
    (negative_latency, "'records.0.winner.latency_us': -13.9 is not a finite positive number"),
    (zero_pruning_time, "'points.0.exhaustive_us': 0.0 is not a finite positive time"),
    (
        bench_row_of_another_device,
        "'runs.1.device_name': measured on SYNTHETIC_GPU_B, filed under SYNTHETIC_GPU_A",
    ),
    (
        bench_rows_without_provenance,
        "'rows.run': 42 of 42 rows name no run (first: rows.0: "
        "torch-bf16, model None, layer None, tp None, B=1 M=256 N=256 K=256)",
    ),
    (
        bench_run_no_row_cites,
        "'runs': 1 of 2 runs are cited by no row (first: runs.1)",
    ),
    (
        bench_row_citing_a_missing_run,
        "'rows.4.run': row triton-fp8-block-tuned M=256 N=256 K=256 names run 1, not one of the "
        "file's runs (0 to 0)",
    ),
]


def unknown_schema_version(root: Path) -> Path:
    path = root / "devices" / A / "device.json"
    _edit(path, lambda raw: raw.update(schema_version=2))
    return path


def ok_beyond_the_bound(root: Path) -> Path:
    path = root / "devices" / A / "bench/square.json"
    _edit(path, lambda raw: raw["rows"][0]["measurement"].update(rel_error=0.5))
    return path


def incorrect_yet_timed(root: Path) -> Path:
    path = root / "devices" / A / "bench/square.json"
    _edit(path, lambda raw: raw["rows"][0]["measurement"].update(status="incorrect"))
    return path


def symlink_out_of_the_tree(root: Path) -> Path:
    outside = root.parent / "elsewhere.json"
    outside.write_text("{}")
    link = root / "devices" / A / "tuning" / "link.json"
    link.symlink_to(outside)
    return link


def duplicate_json_key(root: Path) -> Path:
    path = _first(root, A, "configs/vllm")
    text = path.read_text().replace("{", '{"1": {"BLOCK_SIZE_M": 16}, ', 1)
    path.write_text(text)
    return path


def config_differs_from_records(root: Path) -> Path:
    path = _first(root, A, "configs/vllm")
    first = lambda raw: raw[next(iter(raw))]  # noqa: E731
    _edit(path, lambda raw: first(raw).update(num_stages=7 - first(raw)["num_stages"]))  # 3 <-> 4
    return path


def runoff_time_of_zero(root: Path) -> Path:
    path = _first(root, A, "tuning")
    _edit(path, lambda raw: raw["records"][0].update(runoff_us={"search": 0.0}))
    return path


def unknown_kernel(root: Path) -> Path:
    path = _first(root, A, "tuning")
    _edit(path, lambda raw: raw.update(kernel="w9a9_magic"))
    return path


MORE = [
    (unknown_schema_version, "'schema_version': schema version 2 is newer than this code's (1)"),
    (ok_beyond_the_bound, "'rows.0.measurement.rel_error': status ok, but 0.5 exceeds the bound"),
    (incorrect_yet_timed, "'rows.0.measurement.latency_us': status incorrect, yet timed"),
    (symlink_out_of_the_tree, "'<name>': a symlink (to "),
    (duplicate_json_key, "'1': duplicate key (2 times"),
    (config_differs_from_records, "differs from the winners of its tuning records at M = 1"),
    (unknown_kernel, "'kernel': unknown kernel 'w9a9_magic'"),
    (runoff_time_of_zero, "'records.0.runoff_us.search': 0.0 is not a finite positive time"),
]


@pytest.mark.parametrize(
    "plant, says", SITE_PROBES + MORE, ids=lambda v: getattr(v, "__name__", "")
)
def test_validate_names_the_file_the_field_and_the_rule(plant, says, tree):
    from generator.data.validate import validate_tree

    path = plant(tree)
    lines = [str(p) for p in validate_tree(tree).problems]
    assert any(line.startswith(f"{path}: field ") and says in line for line in lines), lines


def _on_config(site_data: Path, monkeypatch):
    """The site build's first step, as ``mkdocs build`` runs it (the hook's on_config)."""
    from generator.site import hook

    monkeypatch.setenv("BLOCKGEMM_SITE_DATA", str(site_data))
    config = SimpleNamespace(
        config_file_path=str(REPO / "mkdocs.yml"),
        docs_dir=str(REPO / "docs"),
        use_directory_urls=False,
        extra_javascript=[],
        extra_css=[],
        nav=None,
        site_url=None,
    )
    return hook.on_config(config)


@pytest.mark.parametrize("plant, says", SITE_PROBES, ids=lambda v: getattr(v, "__name__", ""))
def test_the_site_build_refuses_it_with_the_list(plant, says, tree, monkeypatch):
    from mkdocs.exceptions import PluginError

    path = plant(tree)
    # Not a traceback from a template, not a page: the headline, then the planted defect listed
    # as validate lists it (the file, the field, the rule).
    listed = re.escape(f"\n  {path}: field ") + ".*" + re.escape(says)
    headline = re.escape("blockgemm: invalid site_data (") + r"\d+ problem\(s\); "
    with pytest.raises(PluginError, match=f"^{headline}(?s:.*){listed}"):
        _on_config(tree, monkeypatch)


@pytest.mark.parametrize(
    "plant, says",
    [
        (other_devices_config, ": a file for SYNTHETIC_GPU_B, in SYNTHETIC_GPU_A's folder"),
        (block_m_9999, ": field '1': BLOCK_SIZE_M: 9999 is not a power of two in 16..256"),
        (num_warps_0, ": field '1': num_warps: 0 is not a power of two in 4..8"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bundles_and_install_refuse_what_is_not_this_devices_or_cannot_run(
    plant, says, tree, tmp_path
):
    from generator.site import bundles

    path = plant(tree)
    refused = f"^{re.escape(f'{path}{says}')}"  # the file, then why
    with pytest.raises(UserError, match=refused):
        bundles.build_bundle(tree, A)
    framework = path.parent.name
    with pytest.raises(UserError, match=refused):
        bundles.install_configs(tree, A, framework, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_rows_without_provenance_are_one_line_per_file(tree):
    """A file of an old run lacks provenance on thousands of rows: one finding for the file,
    with the count and the first row, not one per row; a file whose rows all have theirs is
    not reported, even when its own provenance names another run."""
    from generator.data.validate import validate_tree

    model = tree / "devices" / A / "bench/model.json"

    def strip(raw):
        raw["provenance"]["git_sha"] = "last-writer"
        for i in (5, 9):
            raw["rows"][i].pop("run")

    _edit(model, strip)
    square = bench_rows_without_provenance(tree)
    found = [p for p in validate_tree(tree).problems if "rows name no run" in p.message]
    assert sorted((p.path, p.field) for p in found) == sorted(
        [(model, "rows.run"), (square, "rows.run")]
    )
    (in_model,) = [p for p in found if p.path == model]
    rows = json.loads(model.read_text())["rows"]
    assert in_model.message.startswith(f"2 of {len(rows)} rows name no run")
    assert f"(first: rows.5: {rows[5]['provider']}, model {rows[5]['model']}" in in_model.message


def test_validate_command_lists_every_problem_and_exits_2(tree, capsys):
    first, second = block_m_9999(tree), nan_latency(tree)
    assert cli_main(["validate", "--site-data", str(tree)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith(str(first)) for line in err)
    assert any(line.startswith(str(second)) for line in err)
    assert err[-1].startswith("validate: ") and "problem(s)" in err[-1]


def test_the_committed_tree_is_valid(capsys):
    """What CI checks on every commit (``make validate``): contributed data must pass too."""
    assert cli_main(["validate"]) == 0, capsys.readouterr().err
    assert "no problems" in capsys.readouterr().out


def test_a_valid_tree_builds(pristine, monkeypatch):
    _on_config(pristine, monkeypatch)


# --- what pages show -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [(math.nan, "—"), (-13.9, "—"), (math.inf, "—"), (None, "—"), (0.0, "0"), (1.5, "1.5")],
)
def test_numbers_no_quantity_can_be_are_never_printed(value, shown):
    from generator.site.render import _fmt

    assert _fmt(value) == shown


def test_links_to_file_names_with_a_hash_are_url_encoded():
    from generator.site.render import _Renderer

    r = _Renderer(use_directory_urls=False)
    href = r.href("devices/X/index.md", "devices/X/raw/tuning/w8a8#2?.json")
    assert href == "raw/tuning/w8a8%232%3F.json"


def test_contributed_devices_and_their_runs_reach_the_catalog(tree):
    """A contributed GPU is marked with its contributor, and every run behind its records is
    listed with what it measured (a tuning file's records can come from several runs)."""
    from generator.site.catalog import load_catalog

    dev = tree / "devices" / A
    _edit(dev / "device.json", lambda raw: raw.update(contributed_by="octocat"))
    tuning = _first(tree, A, "tuning")
    _edit(
        tuning,
        lambda raw: raw["records"][0].update(
            provenance={**raw["provenance"], "git_sha": "contributed", "date": "2026-12-01T00:00Z"}
        ),
    )
    _edit(dev / "checks/pruning.json", lambda raw: raw["points"][0].update(paired_pruned_us=None))
    catalog = load_catalog(tree)
    a = next(d for d in catalog.devices if d.name == A)
    b = next(d for d in catalog.devices if d.name == B)
    assert a.contributed and a.contributed_by == "octocat" and not b.contributed
    newest = a.runs[0]
    assert newest.provenance.git_sha == "contributed" and newest.tune_records == 1
    assert newest.files == [tuning.relative_to(dev).as_posix()]
    assert sum(r.tune_records for r in a.runs) == sum(len(t.records) for t in a.tunes)
    # the runs list every row their files hold: those shown, and those of our tuned files
    # left out because the record they stand for was tuned again later (here, on 12-01)
    shown = sum(len(rows) for rows in a.bench.values())
    assert sum(r.bench_rows for r in a.runs) == shown + sum(len(v) for v in a.stale.values())
    assert [row.ratio for row in a.pruning_rows] == [p.ratio for p in a.pruning.points]


def test_pruning_rows_have_no_ratio_where_a_time_is_not_positive():
    from generator.data.records import PruningCheck
    from generator.site.runs import pruning_rows
    from tests.fixtures.make_synthetic import provenance

    point = dict(kernel="w8a8_block", N=1, K=128, M=1, pruned_config={}, exhaustive_config={})
    check = PruningCheck(
        provenance=provenance(A, "x"),
        points=[
            {
                **point,
                "pruned_us": 2.0,
                "exhaustive_us": 0.0,
                "pruned_timed": 1,
                "exhaustive_timed": 1,
            },
            {
                **point,
                "pruned_us": 2.0,
                "exhaustive_us": 1.0,
                "pruned_timed": 1,
                "exhaustive_timed": 1,
            },
        ],
        geomean_ratio=2.0,
    )
    assert [r.ratio for r in pruning_rows(check)] == [None, 2.0]


# --- restated tables agree with their sources ------------------------------------------------


def test_error_bounds_are_the_kernels_tolerances():
    import torch

    from generator.data.validate import ERROR_BOUNDS
    from kernels.reference import tolerance

    for name, bound in ERROR_BOUNDS.items():
        assert bound == tolerance(getattr(torch, name)), name


def test_kernel_table_names_every_tunable_and_nothing_else():
    """The torch-free table is the one declaration of spaces and published formats: every
    tunable has an entry (or it could not say its space), and no entry names a kernel the
    tuner does not know (validate would accept tables nobody can write)."""
    from generator.configs.kernel_table import PUBLISHER, SPACES
    from generator.tune.tunables import TUNABLES

    assert set(SPACES) == set(TUNABLES)
    assert set(PUBLISHER.values()) <= set(TUNABLES)


def test_umask_is_read_without_changing_it():
    from generator.data.records import current_umask

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(old)
