"""A tuning record publishes its runoff's medians (the timing that decided its winner), not
the search's times of the same configs (code review of 2026-12-03). Synthetic records."""

from __future__ import annotations

import csv
import io

import pytest

from generator.data import tune_times
from generator.data.provenance import collect_cpu
from generator.data.records import Measurement, Status, TuneFile, TuneRecord
from generator.site import export, gains, model_page

CFG = {
    "BLOCK_SIZE_M": 16,
    "BLOCK_SIZE_N": 64,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 1,
    "num_warps": 4,
    "num_stages": 3,
}
SHIPPED = {**CFG, "num_stages": 4}
DEFAULT = {**CFG, "BLOCK_SIZE_M": 64, "num_stages": 2}


def _m(cfg, us):
    return Measurement(
        config=cfg, status=Status.OK, latency_us=us, tflops=100.0 / us, rel_error=1e-3
    )


def _record(**update) -> TuneRecord:
    """Search times: ours 10.0, the shipped entry 10.9 (9 % slower), the default 12.0. The
    runoff, interleaved: ours 10.4, shipped 10.45 (0.5 %: within its 0.6 % control), default
    11.0."""
    rec = TuneRecord(
        M=4,
        winner=_m(CFG, 10.0),
        default=_m(DEFAULT, 12.0),
        baselines={"vllm-0.33.0": _m(SHIPPED, 10.9), "vllm-default": _m(DEFAULT, 12.0)},
        winner_source="search",
        runoff_us={"search": 10.4, "vllm-0.33.0": 10.45, "vllm-default": 11.0},
        runoff_aa_spread=0.006,
        search=5,
        configs_in_space=100,
        configs_pruned=50,
        configs_timed=30,
        wall_s=1.0,
    )
    return rec.model_copy(update=update)


def _file(rec: TuneRecord) -> TuneFile:
    return TuneFile(
        kernel="w8a8_block",
        input_type="fp8",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=512,
        K=7168,
        provenance=collect_cpu(),
        records=[rec],
    )


def test_the_runoff_median_of_each_config():
    rec = _record()
    assert tune_times.runoff_us(rec, rec.winner) == 10.4
    assert tune_times.runoff_us(rec, rec.default) == 11.0  # the default's config ran as a baseline
    shown = tune_times.published(rec, rec.winner)
    assert shown.latency_us == 10.4 and shown.tflops == pytest.approx(100.0 / 10.4)
    assert shown.p20_us is None and shown.p80_us is None  # the runoff's noise is its control
    # the search lost: its config is the first runner-up, the winner a baseline's
    lost = _record(
        winner=_m(SHIPPED, 10.9), winner_source="vllm-0.33.0", runners_up=[_m(CFG, 10.0)]
    )
    assert tune_times.runoff_config(lost, "search") == CFG
    assert tune_times.published(lost, lost.winner).latency_us == 10.45
    # no runoff (kernels no engine runs): the search's times
    alone = _record(runoff_us={}, baselines={}, runoff_aa_spread=None)
    assert tune_times.published(alone, alone.winner).latency_us == 10.0


def test_the_tuning_download_and_table_show_the_runoff_medians():
    rec = _record()
    (row,) = csv.DictReader(io.StringIO(export.tune_csv([_file(rec)])))
    assert float(row["tuned_us"]) == 10.4 and float(row["vllm-0.33.0_us"]) == 10.45
    assert float(row["default_us"]) == 11.0 and row["times_from"] == "runoff, GEMM alone"
    (trow,) = model_page.tune_table(_file(rec))["rows"]
    assert trow["tuned_us"] == 10.4 and trow["baselines"] == [10.45, 11.0]
    assert trow["vs_default"] == pytest.approx(11.0 / 10.4)
    assert trow["vs_best"] == pytest.approx(10.45 / 10.4)  # not the search's 10.9 / 10.0


def test_a_ratio_is_only_of_two_times_of_one_timing():
    """The default's config did not run in the runoff: the comparison with it uses the
    search's times of both, never the runoff's winner against the search's default."""
    rec = _record(default=_m({**DEFAULT, "num_warps": 8}, 12.0))
    mine, ref = tune_times.comparable(rec, rec.winner, rec.default)
    assert (mine.latency_us, ref.latency_us) == (10.0, 12.0)
    (trow,) = model_page.tune_table(_file(rec))["rows"]
    assert trow["vs_default"] == pytest.approx(12.0 / 10.0)


def test_the_gains_judge_a_tuning_record_by_its_runoff():
    """By the search's times ours is 9 % faster than the shipped entry; in the runoff 0.5 %,
    within the noise: a tie, not a gain."""
    rec = _record()
    key = ("test-model", 8, 512, 7168)
    g = gains.gains([], {(512, 7168): _file(rec)}, [key])
    (point,) = g.get("vllm-0.33.0").points
    assert point.ratio == pytest.approx(10.45 / 10.4) and point.verdict == 0


def test_every_time_says_how_it_was_timed():
    """Since search 8 the runoff times each config after the activation's quantization: a
    table mixing those with the search's GEMM-only times marks the latter, and the download
    names the timing of each winner's time."""
    served = _record(search=8, default=_m({**DEFAULT, "num_warps": 8}, 12.0))
    assert tune_times.timing_of(served, served.winner) == "runoff, as served"
    assert tune_times.timing_of(served, served.default) == "search, GEMM alone"
    assert tune_times.timing_of(_record(), _record().winner) == "runoff, GEMM alone"
    (row,) = csv.DictReader(io.StringIO(export.tune_csv([_file(served)])))
    assert row["times_from"] == "runoff, as served"
    table = model_page.tune_table(_file(served))
    (trow,) = table["rows"]
    assert not trow["tuned_search"] and trow["default_search"]
    assert trow["baselines_search"] == [False, False]
    assert table["served"] and not table["gemm_alone"] and table["any_search_times"]
    alone = model_page.tune_table(_file(_record(runoff_us={}, baselines={}, runoff_aa_spread=None)))
    assert not alone["served"] and not alone["gemm_alone"]
