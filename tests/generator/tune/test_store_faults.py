"""The store and the worker processes under faults (issue 17's store and process probes):
file modes, a kill between the record's and the drop-in files' renames, a killed coordinator
or worker, concurrent bench writers, provenance per record, and a planted lock symlink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from generator.cli import main as cli_main
from generator.data.provenance import collect_cpu
from generator.data.records import (
    SEARCH_CURRENT,
    BenchFile,
    Ceilings,
    Measurement,
    Provenance,
    Status,
    TuneFile,
    TuneRecord,
    load,
)
from generator.data.tasks import Task
from generator.errors import UserError
from generator.tune import store

REPO = Path(__file__).resolve().parents[3]
FAULTS = REPO / "tests" / "fixtures" / "tune_faults.py"
CONFIG = {
    "BLOCK_SIZE_M": 16,
    "BLOCK_SIZE_N": 64,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 1,
    "num_warps": 4,
    "num_stages": 3,
}


def tiny_task(M: int) -> Task:
    return Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, M)


def record(M: int, block_m: int = 16) -> TuneRecord:
    """A verified record as the search writes it (numbers made up: no kernel runs here)."""
    cfg = {**CONFIG, "BLOCK_SIZE_M": block_m}
    m = Measurement(config=cfg, status=Status.OK, latency_us=10.0 + M, rel_error=1e-3)
    return TuneRecord(
        M=M,
        winner=m,
        default=m,
        search=SEARCH_CURRENT,
        configs_in_space=1280,
        configs_pruned=1270,
        configs_timed=10,
        wall_s=1.0,
    )


def prov(sha: str) -> Provenance:
    base = collect_cpu()
    return base.model_copy(
        update={"git_sha": sha, "date": datetime(2026, 11, 29, tzinfo=timezone.utc)}
    )


def vllm_table(root: Path) -> dict:
    import json

    (path,) = (root / "devices/CPU_INTERPRETER/configs/vllm").iterdir()
    return json.loads(path.read_text())


# --- file modes ------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_get_the_mode_an_ordinary_write_gives(umask, mode, tmp_path):
    """mkstemp creates 0600: configs installed for another serving user were unreadable and
    the engine fell back to its default without a word. Now 0666 less the umask."""
    from generator.site.bundles import install_configs

    old = os.umask(umask)
    try:
        store.merge_result(tmp_path / "sd", prov("a"), tiny_task(1), record(1), False)
        dev = tmp_path / "sd/devices/CPU_INTERPRETER"
        written = [p for p in dev.rglob("*.json")]
        written += install_configs(
            tmp_path / "sd", "CPU_INTERPRETER", "vllm", tmp_path / "out"
        ).written
    finally:
        os.umask(old)
    assert len(written) == 5  # tuning, device.json, vllm, sglang; the installed copy
    for path in written:
        assert path.stat().st_mode & 0o777 == mode, path


# --- crash consistency -----------------------------------------------------------------------


def test_a_kill_between_record_and_drop_in_files_is_repaired_on_resume(
    tmp_path, monkeypatch, capsys
):
    """The record's rename succeeded, the drop-in files' did not: the M was in the record but
    not in the vLLM / SGLang files, and resume skipped it for good."""
    sd = tmp_path / "sd"
    p = collect_cpu()
    store.merge_result(sd, p, tiny_task(1), record(1), False)

    def killed(*_a, **_k):
        raise KeyboardInterrupt("killed while writing the drop-in files")

    with monkeypatch.context() as m:
        m.setattr(store, "write_config_files", killed)
        with pytest.raises(KeyboardInterrupt, match="^killed while writing the drop-in files$"):
            store.merge_result(sd, p, tiny_task(20), record(20, block_m=32), False)
    assert list(vllm_table(sd)) == ["1"]  # the hole
    argv = ["tune", "--N", "48", "--K", "256", "--batch-sizes", "1,20", "--kernels"]
    argv += ["w8a8_block", "--allow-cpu", "--cpu-workers", "0", "--save-path", str(sd)]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "2 of 2 tasks already tuned" in out and "rebuilt 2 drop-in file(s)" in out
    table = vllm_table(sd)
    assert list(table) == ["1", "20"] and table["20"]["BLOCK_SIZE_M"] == 32
    mtimes = {f: f.stat().st_mtime_ns for f in sd.rglob("*.json")}
    assert cli_main(argv) == 0  # nothing to repair: nothing rewritten
    assert {f: f.stat().st_mtime_ns for f in sd.rglob("*.json")} == mtimes


# --- provenance per record --------------------------------------------------------------------


def test_each_record_keeps_the_provenance_of_the_run_that_measured_it(tmp_path):
    from generator.data.records import record_provenance

    sd = tmp_path / "sd"
    store.merge_result(sd, prov("first"), tiny_task(1), record(1), False)
    path = store.merge_result(sd, prov("second"), tiny_task(20), record(20), False)
    tf = load(path, TuneFile)
    assert tf.provenance.git_sha == "second"  # the file: its last writer
    by_m = {r.M: record_provenance(tf, r).git_sha for r in tf.records}
    assert by_m == {1: "first", 20: "second"}


def test_records_written_before_per_record_provenance_keep_their_files(tmp_path):
    """An old file (no record provenance) merged by a new run: its records are pinned to the
    old file's provenance, not stamped with the new writer's."""
    from generator.data.records import record_provenance, save

    sd = tmp_path / "sd"
    path = store.tune_file_path(sd, "CPU_INTERPRETER", tiny_task(1), False)
    t = tiny_task(1)
    save(
        path,
        TuneFile(
            kernel=t.kernel,
            input_type=t.input_type,
            out_dtype=t.out_dtype,
            block_n=128,
            block_k=128,
            N=t.N,
            K=t.K,
            provenance=prov("old"),
            records=[record(1)],
        ),
    )
    store.merge_result(sd, prov("new"), tiny_task(20), record(20), False)
    tf = load(path, TuneFile)
    assert {r.M: record_provenance(tf, r).git_sha for r in tf.records} == {1: "old", 20: "new"}


# --- the lock file ---------------------------------------------------------------------------


def test_a_lock_that_is_a_symlink_is_refused_not_followed(tmp_path):
    victim = tmp_path / "important.txt"
    victim.write_text("keep me")
    lock = tmp_path / "sd/devices/CPU_INTERPRETER/.lock"
    lock.parent.mkdir(parents=True)
    lock.symlink_to(victim)
    with pytest.raises(UserError, match="symlink"):
        store.merge_result(tmp_path / "sd", prov("a"), tiny_task(1), record(1), False)
    assert victim.read_text() == "keep me"


# --- bench writers ---------------------------------------------------------------------------


def test_two_bench_runs_of_one_sweep_keep_each_others_rows(tmp_path, device):
    """Run B reads the sweep file, run A writes it, run B writes: B's write used to drop A's
    rows (no lock, no re-read). Each row also keeps its own run's provenance."""
    from generator.bench import registry as pv
    from generator.bench.plan import SweepPoint
    from generator.bench.run import run_sweep

    ctx = pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)
    ceilings = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)
    a_tasks = [SweepPoint(pv.Problem(M=m, N=64, K=128)) for m in (1, 2, 3)]
    b_tasks = [SweepPoint(pv.Problem(M=m, N=64, K=128)) for m in (4, 5)]
    bf16 = pv.get("torch-bf16")
    a_ran = []

    def setup_running_a_first(p, c):
        if not a_ran:
            a_ran.append(True)
            actx = pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)
            run_sweep(
                "square", a_tasks, [bf16], actx, prov("run-a"), ceilings, tmp_path, 1, False, False
            )
            c.start(p)  # A moved the shared context on; put it back
        return bf16.setup(p, c)

    b_provider = pv.Provider(
        info=bf16.info.model_copy(update={"name": "torch-bf16-run-b"}),
        compute=bf16.compute,
        setup=setup_running_a_first,
        reference=bf16.reference,
        bytes_moved=bf16.bytes_moved,
    )
    result = run_sweep(
        "square", b_tasks, [b_provider], ctx, prov("run-b"), ceilings, tmp_path, 1, False, False
    )
    bf = load(result.path, BenchFile)
    assert sorted((r.provider, r.M) for r in bf.rows) == [
        *(("torch-bf16", m) for m in (1, 2, 3)),
        *(("torch-bf16-run-b", m) for m in (4, 5)),
    ]
    got = {(r.provider, r.M): r.provenance.git_sha for r in bf.rows if r.provenance}
    assert got == {
        **{("torch-bf16", m): "run-a" for m in (1, 2, 3)},
        **{("torch-bf16-run-b", m): "run-b" for m in (4, 5)},
    }
    assert set(bf.providers) == {"torch-bf16", "torch-bf16-run-b"}


# --- processes -------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Running (a zombie, which the container's init may never reap, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _faults(mode: str, folder: Path) -> subprocess.Popen:
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.Popen(
        [sys.executable, str(FAULTS), mode, str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("mode", ["hang", "compile-pool"])
def test_workers_die_with_their_coordinator(mode, tmp_path):
    """kill -9 of the coordinator used to leave its workers running (busy minutes later); the
    same holds one level down, for a worker's compile-ahead pool."""
    coordinator = _faults(mode, tmp_path)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline:
            pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("busy-*")]
            assert coordinator.poll() is None, coordinator.communicate()
            time.sleep(0.2)
        assert len(pids) == 2, "the workers never started their tasks"
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pids if _alive(p)], "workers outlived their coordinator"
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        for pid in pids:  # never leave a worker behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        coordinator.communicate()


@pytest.mark.timeout(300)
def test_a_task_lost_with_its_worker_fails_the_run_and_is_counted(tmp_path):
    """kill -9 of a worker mid-task used to lose the task and still exit 0."""
    proc = _faults("worker-dies", tmp_path)
    out, err = proc.communicate(timeout=280)
    assert proc.returncode == 1, (out, err)
    assert "1 task(s) lost with a worker that died; rerun to resume" in err
    assert "task lost: dies_for_test fp8 N=48 K=256 M=2: worker1 died (killed by signal 9)" in out
    (path,) = (tmp_path / "site_data/devices/CPU_INTERPRETER/tuning").glob("*.json")
    assert [r.M for r in load(path, TuneFile).records] == [1, 3]  # the others finished
