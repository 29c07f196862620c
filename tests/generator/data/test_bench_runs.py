"""A bench file stores each run once (its ``runs`` table) and each row names its own by index;
in memory every row holds its Provenance. Synthetic rows and runs throughout."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from generator.data import records
from generator.data.records import (
    BenchFile,
    BenchRow,
    Ceilings,
    Measurement,
    Provenance,
    SiteDataError,
    Status,
)

CEILINGS = Ceilings(copy_gbps=3000.0, bf16_tflops=790.0, fp8_tflops=1300.0)


def _run(sha: str, day: int = 1) -> Provenance:
    return Provenance(
        gpu_name="SYNTHETIC GPU A",
        device_name="SYNTHETIC_GPU_A",
        sm_count=132,
        memory_gib=80.0,
        driver="synthetic",
        cuda="synthetic",
        torch="synthetic",
        triton="synthetic",
        git_sha=sha,
        date=datetime(2025, 1, day, tzinfo=timezone.utc),
    )


def _row(m: int, prov: Provenance | None, provider: str = "torch-bf16") -> BenchRow:
    meas = Measurement(status=Status.OK, latency_us=10.0 + m, tflops=1.0, rel_error=1e-3)
    return BenchRow(
        provider=provider, sweep="square", M=m, N=256, K=256, measurement=meas, provenance=prov
    )


def _file(rows: list[BenchRow], last: Provenance | None = None) -> BenchFile:
    return BenchFile(
        sweep="square", provenance=last or _run("last-writer", 9), ceilings=CEILINGS, rows=rows
    )


def _old_form(bf: BenchFile) -> dict:
    """The file as the tools wrote it before the runs table: each row's provenance inline."""
    raw = json.loads(bf.model_dump_json(exclude_none=True, exclude={"rows"}))
    raw["rows"] = [json.loads(r.model_dump_json(exclude_none=True)) for r in bf.rows]
    return raw


def _two_runs() -> BenchFile:
    a, b = _run("aaaaaaa", 1), _run("bbbbbbb", 2)
    return _file([_row(1, b), _row(2, a), _row(4, b), _row(8, a), _row(16, b)])


def test_old_form_loads_and_saves_as_the_new_form_that_loads_equal(tmp_path: Path) -> None:
    bf = _two_runs()
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_old_form(bf), indent=1))
    loaded = records.load(old, BenchFile)
    assert loaded == bf
    new = tmp_path / "new.json"
    records.save(new, loaded)
    raw = json.loads(new.read_text())
    # the runs in order of first use: row 0 is b's
    assert [r["git_sha"] for r in raw["runs"]] == ["bbbbbbb", "aaaaaaa"]
    assert [row["run"] for row in raw["rows"]] == [0, 1, 0, 1, 0]
    assert not any("provenance" in row for row in raw["rows"])
    assert list(raw).index("runs") == list(raw).index("rows") - 1
    again = records.load(new, BenchFile)
    assert again == bf
    assert [r.provenance for r in again.rows] == [r.provenance for r in bf.rows]
    records.save(tmp_path / "again.json", again)
    assert (tmp_path / "again.json").read_bytes() == new.read_bytes()  # a fixed point


def test_rows_hold_their_own_provenance_in_memory(tmp_path: Path) -> None:
    """Rows of one run are not one shared object: changing one row's leaves the others."""
    path = tmp_path / "f.json"
    records.save(path, _two_runs())
    bf = records.load(path, BenchFile)
    bf.rows[0].provenance.git_sha = "changed"
    assert bf.rows[2].provenance.git_sha == "bbbbbbb"


def test_load_does_not_change_its_input() -> None:
    raw = json.loads(_two_runs().model_dump_json(exclude_none=True))
    before = copy.deepcopy(raw)
    BenchFile.model_validate(raw)
    assert raw == before


def test_a_row_without_provenance_names_no_run(tmp_path: Path) -> None:
    bf = _file([_row(1, _run("aaaaaaa")), _row(2, None)])
    raw = json.loads(bf.model_dump_json(exclude_none=True))
    assert raw["rows"][0]["run"] == 0 and "run" not in raw["rows"][1]
    assert len(raw["runs"]) == 1
    assert BenchFile.model_validate(raw) == bf


def test_only_cited_runs_are_written(tmp_path: Path) -> None:
    """A run whose rows were all replaced is gone at the next save."""
    bf = _two_runs()
    bf.rows = [r for r in bf.rows if r.provenance.git_sha == "aaaaaaa"]
    raw = json.loads(bf.model_dump_json(exclude_none=True))
    assert [r["git_sha"] for r in raw["runs"]] == ["aaaaaaa"]
    assert [row["run"] for row in raw["rows"]] == [0, 0]


def test_a_hundred_rows_of_one_run_store_it_once(tmp_path: Path) -> None:
    run = _run("0neRun0")
    bf = _file([_row(m, run) for m in range(1, 101)])
    path = tmp_path / "f.json"
    records.save(path, bf)
    text = path.read_text()
    assert text.count("0neRun0") == 1
    old = json.dumps(_old_form(bf), indent=1)
    assert old.count("0neRun0") == 100
    one_run = len(run.model_dump_json(indent=1, exclude_none=True))
    assert len(old) - len(text) > 90 * one_run  # 99 copies less, a "run" key more per row
    assert records.load(path, BenchFile) == bf


def _load_raw(tmp_path: Path, raw: dict) -> BenchFile:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    return records.load(path, BenchFile)


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda raw: raw["rows"][3].update(run=2),
            "field 'rows.3.run': row torch-bf16 M=8 N=256 K=256 names run 2, not one of the "
            "file's runs (0 to 1)",
        ),
        (lambda raw: raw["rows"][1].update(run=-1), "field 'rows.1.run': row torch-bf16 M=2"),
        (lambda raw: raw["rows"][1].update(run="0"), "names run '0', not one"),
        (lambda raw: raw["rows"][1].update(run=True), "names run True, not one"),
        (lambda raw: raw["rows"][1].update(run=0.0), "names run 0.0, not one"),
        (lambda raw: raw.update(runs=[]), "field 'rows.0.run': row torch-bf16 M=1 N=256 K=256 "),
        (lambda raw: raw.update(runs={}), "field 'runs': not a list of runs"),
        (lambda raw: raw["runs"][1].update(date="2025-01-02T00:00:00"), "'runs.1.date': Input "),
        (lambda raw: raw["runs"][0].pop("git_sha"), "field 'runs.0.git_sha': Field required"),
        (lambda raw: raw.pop("runs"), "field 'rows.0.run': row torch-bf16 M=1 N=256 K=256 names "),
        (
            lambda raw: raw["rows"][2].update(provenance=raw["runs"][0]),
            "field 'rows.2.provenance': row torch-bf16 M=4 N=256 K=256 carries a provenance",
        ),
    ],
)
def test_a_bad_runs_table_or_run_is_one_line_naming_the_row(tmp_path, change, says) -> None:
    raw = json.loads(_two_runs().model_dump_json(exclude_none=True))
    change(raw)
    with pytest.raises(SiteDataError) as exc:
        _load_raw(tmp_path, raw)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'bad.json'}: ") and says in message, message


def test_a_hostile_value_in_an_error_is_cut(tmp_path: Path) -> None:
    raw = json.loads(_two_runs().model_dump_json(exclude_none=True))
    raw["rows"][0]["run"] = list(range(10_000))
    with pytest.raises(SiteDataError) as exc:
        _load_raw(tmp_path, raw)
    assert len(str(exc.value)) < 300 + len(str(tmp_path))


def test_validate_reports_each_run_once_where_the_file_names_it(tmp_path: Path) -> None:
    """A run measured on another GPU is one finding at ``runs.<i>``, not one per row."""
    from generator.data.validate import _check_bench_file, _Report

    a, other = _run("aaaaaaa"), _run("bbbbbbb").model_copy(update={"device_name": "OTHER_GPU"})
    path = tmp_path / "square.json"
    records.save(path, _file([_row(m, other if m % 2 else a) for m in range(1, 21)], last=a))
    report = _Report()
    _check_bench_file(path, "SYNTHETIC_GPU_A", report)
    assert [str(p) for p in report.problems] == [
        f"{path}: field 'runs.0.device_name': measured on OTHER_GPU, filed under SYNTHETIC_GPU_A"
    ]
