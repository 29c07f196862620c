"""Tuning on an AMD GPU, as far as a CPU can run it: the search space carries the AMD backend's
options, vLLM's MI300X files are the baselines timed beside it, the winner's AMD keys land in
the vLLM file, and ``validate`` accepts the result (a shipped entry outside the space too, but
only where it is shipped). The platform is faked (``search.device_platform``) and the timings
are fixed; the kernels run for real in the interpreter, which takes AMD options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.data import layout
from generator.data.provenance import collect_cpu
from generator.data.records import Measurement, Status, TuneRecord
from generator.data.shipped import shipped_set
from generator.data.tasks import Task
from generator.data.validate import validate_tree
from generator.measure.timing import TimingStats
from generator.tune import search
from generator.tune.baselines import engine_baselines
from generator.tune.search import TuneOptions, tune_task
from generator.tune.store import merge_result
from generator.tune.tunables import get_tunable

MI300X = "AMD_Instinct_MI300X"


def _amd_provenance(device: str = MI300X):
    return collect_cpu().model_copy(
        update={"gpu_name": device.replace("_", " "), "device_name": device, "gpu_count": 1}
    )


def test_the_baselines_on_mi300x_are_vllms_rocm_files():
    task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 4608, 7168, 1, 300)
    baselines = engine_baselines(get_tunable("w8a8_block"), task, MI300X)
    assert [(b.name, b.shipped) for b in baselines] == [
        ("vllm-0.33.0", True),  # its ROCm folder; SGLang 0.5.23 ships none in our reference
        ("vllm-default", False),
        ("sglang-default", False),
    ]
    table = shipped_set("vllm-0.33.0").table(MI300X, 4608, 7168)
    assert baselines[0].config == table[256]  # nearest key to M = 300, as vLLM's file has it
    # the wheel's MI300X entries carry the AMD backend's MFMA and kpack knobs, not waves_per_eu
    assert baselines[0].config["matrix_instr_nonkdim"] == 16 and baselines[0].config["kpack"] == 1
    assert "waves_per_eu" not in baselines[0].config


def _favour_amd_knobs(monkeypatch):
    """Fixed timings: the tile's rows decide, and the 32x32 MFMA with two waves wins."""

    def fake(calls, on_cuda, max_replays, target_us):
        for fn in calls:
            fn()
        cfg = calls[0].args[2]
        amd = cfg.get("matrix_instr_nonkdim") == 32 and cfg.get("waves_per_eu") == 2
        us = cfg["BLOCK_SIZE_M"] + (0.0 if amd else 30.0)
        return TimingStats(us, us * 0.999, us * 1.001, 1)

    def each(sets, on_cuda, r, t, **kw):
        return [fake(c, on_cuda, r, t) for c in sets]

    monkeypatch.setattr(search, "time_calls", fake)
    monkeypatch.setattr(search, "time_pass", each)
    monkeypatch.setattr(search, "time_interleaved", each)
    monkeypatch.setattr(search, "device_platform", lambda device: "rocm")


def test_a_rocm_tune_publishes_amd_keys_where_vllm_reads_them(monkeypatch, tmp_path: Path):
    _favour_amd_knobs(monkeypatch)
    task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, 3)
    rec = tune_task(task, TuneOptions(device="cpu", max_replays=1, device_name=MI300X))
    assert rec.winner_source == "search" and rec.winner.status == Status.OK
    assert rec.winner.config["matrix_instr_nonkdim"] == 32
    assert rec.winner.config["waves_per_eu"] == 2
    assert rec.configs_in_space == 5120
    merge_result(tmp_path, _amd_provenance(), task, rec, exhaustive=False)
    path = layout.table_path(tmp_path, MI300X, "vllm", 48, 256, "fp8", (128, 128))
    entry = json.loads(path.read_text())["3"]
    assert entry["matrix_instr_nonkdim"] == 32 and entry["waves_per_eu"] == 2
    result = validate_tree(tmp_path)
    assert result.ok, [str(p) for p in result.problems]


def _shipped_winner_record(config: dict[str, int]) -> TuneRecord:
    m = Measurement(config=config, status=Status.OK, latency_us=10.0, tflops=1.0, rel_error=1e-3)
    default = Measurement(
        config=shipped_set("vllm-0.33.0").default_config(),
        status=Status.OK,
        latency_us=12.0,
        tflops=1.0,
        rel_error=1e-3,
    )
    return TuneRecord(
        M=1,
        winner=m,
        default=default,
        baselines={"vllm-0.33.0": m.model_copy(), "vllm-default": default},
        winner_source="vllm-0.33.0",
        runoff_us={"vllm-0.33.0": 10.0, "vllm-default": 12.0},
        search=5,
        configs_in_space=5120,
        configs_pruned=5000,
        configs_timed=120,
        wall_s=1.0,
    )


@pytest.mark.parametrize("device, ok", [(MI300X, True), ("AMD_Instinct_MI350X", False)])
def test_validate_takes_a_shipped_entry_outside_the_space_only_where_it_is_shipped(
    tmp_path: Path, device, ok
):
    """vLLM 0.33.0's MI300X entry for 7168 x 256 at M = 1 has BLOCK_SIZE_K 32, outside the space:
    a record whose shipped winner it is validates on the MI300X; the same config filed for an
    MI350X (vLLM ships nothing there) is out of range."""
    entry = shipped_set("vllm-0.33.0").table(MI300X, 7168, 256)[1]
    assert entry["BLOCK_SIZE_K"] == 32
    task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 7168, 256, 1, 1)
    merge_result(tmp_path, _amd_provenance(device), task, _shipped_winner_record(entry), False)
    problems = [str(p) for p in validate_tree(tmp_path).problems]
    if ok:
        assert problems == []
    else:
        assert any("BLOCK_SIZE_K: 32 is not a power of two in 64..128" in p for p in problems)
        assert any("configs/vllm" in p for p in problems)  # the drop-in file too
