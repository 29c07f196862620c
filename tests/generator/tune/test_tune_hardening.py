"""The tuner keeps every finished result and leaves a valid tree (issue 24's probes).

The probes: ``tune`` rewrote a tuning file of a newer schema as version 1; a ``--force``
re-tune that found no winner left the old drop-in files (the tree then failed ``validate``);
a full disk after the work ended in a traceback with the result lost; SIGTERM killed the run
where Ctrl-C stopped it cleanly; Ctrl-C printed a traceback per worker process.

The search itself is replaced by a stand-in that returns a record at once (no kernel runs):
what is under test is what the run does with the records.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from generator.cli import main as cli_main
from generator.data.records import (
    SEARCH_CURRENT,
    Measurement,
    Status,
    TuneFile,
    TuneRecord,
    load,
)
from generator.data.validate import validate_tree

REPO = Path(__file__).resolve().parents[3]
INTERRUPTS = REPO / "tests" / "fixtures" / "interrupts.py"
DEV = "CPU_INTERPRETER"
CONFIG = {
    "BLOCK_SIZE_M": 16,
    "BLOCK_SIZE_N": 64,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 1,
    "num_warps": 4,
    "num_stages": 3,
}


def _record(M: int, winner: bool = True) -> TuneRecord:
    m = Measurement(config=CONFIG, status=Status.OK, latency_us=10.0 + M, rel_error=1e-3)
    return TuneRecord(
        M=M,
        winner=m if winner else None,
        default=m,
        search=SEARCH_CURRENT,
        configs_in_space=1280,
        configs_pruned=1270,
        configs_timed=10,
        wall_s=1.0,
    )


@pytest.fixture
def stand_in(monkeypatch):
    """The search replaced: ``winners[0]`` says whether the records it returns have one."""
    from generator.tune import search

    winners = [True]
    monkeypatch.setattr(search, "tune_task", lambda task, o, c=None: _record(task.M, winners[0]))
    return winners


def _messages(err: str) -> list[str]:
    """stderr without the progress bar (tqdm redraws it with carriage returns)."""
    lines = [part for line in err.splitlines() for part in line.split("\r")]
    return [line for line in lines if line.strip() and not line.startswith("tuning:")]


def _tune(sd: Path, *extra: str) -> int:
    argv = ["tune", "--N", "48", "--K", "256", "--batch-sizes", "1,2", "--kernels", "w8a8_block"]
    return cli_main([*argv, "--allow-cpu", "--cpu-workers", "0", "--save-path", str(sd), *extra])


def _tuning_file(sd: Path) -> Path:
    (path,) = (sd / "devices" / DEV / "tuning").glob("*.json")
    return path


def _drop_ins(sd: Path) -> list[Path]:
    return sorted((sd / "devices" / DEV / "configs").rglob("*.json"))


def test_a_file_of_a_newer_schema_is_refused_not_rewritten(tmp_path, stand_in, capsys):
    sd = tmp_path / "sd"
    assert _tune(sd) == 0
    path = _tuning_file(sd)
    raw = json.loads(path.read_text())
    raw["schema_version"] = 2
    path.write_text(json.dumps(raw))
    before = path.read_bytes()
    capsys.readouterr()
    for extra in ((), ("--force",)):
        assert _tune(sd, *extra) == 2
        err = _messages(capsys.readouterr().err)
        assert len(err) == 1 and "schema version 2 is newer" in err[0], err
        assert path.read_bytes() == before


def test_a_re_tune_without_a_winner_removes_the_drop_in_files(tmp_path, stand_in, capsys):
    sd = tmp_path / "sd"
    assert _tune(sd) == 0
    assert len(_drop_ins(sd)) == 2  # the vLLM and the SGLang file
    stand_in[0] = False
    assert _tune(sd, "--force") == 0
    assert _drop_ins(sd) == []
    assert all(r.winner is None for r in load(_tuning_file(sd), TuneFile).records)
    assert validate_tree(sd).problems == []


def test_a_re_tune_that_loses_one_winner_drops_only_its_entry(tmp_path, stand_in, monkeypatch):
    from generator.tune import search

    sd = tmp_path / "sd"
    assert _tune(sd) == 0
    monkeypatch.setattr(search, "tune_task", lambda task, o, c=None: _record(task.M, task.M == 1))
    assert _tune(sd, "--force") == 0
    for path in _drop_ins(sd):
        assert list(json.loads(path.read_text())) == ["1"]
    assert validate_tree(sd).problems == []


def test_a_write_that_fails_after_the_work_keeps_the_result(
    tmp_path, stand_in, monkeypatch, capsys
):
    """The disk fills after the first task: the record goes to a recovery file, one line says
    where, and the file there is a tuning file to move into place."""
    sd = tmp_path / "sd"
    recovery = tmp_path / "recovery"
    monkeypatch.setenv("BLOCKGEMM_RECOVERY_DIR", str(recovery))
    real = tempfile.mkstemp

    def full_disk(*args, **kwargs):
        folder = Path(kwargs.get("dir") or "")
        probe = str(kwargs.get("prefix", "")).startswith(".blockgemm-write-check")
        if sd in (folder, *folder.parents) and not probe:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    assert _tune(sd) == 2
    err = _messages(capsys.readouterr().err)
    assert len(err) == 1 and "No space left on device" in err[0], err
    (kept,) = recovery.iterdir()
    assert str(kept) in err[0]
    tf = load(kept, TuneFile)
    assert [r.M for r in tf.records] == [2] or [r.M for r in tf.records] == [1]
    assert kept.name.endswith(_expected_name(tf))


def _expected_name(tf: TuneFile) -> str:
    from generator.data import layout

    key = layout.tune_file_key(
        tf.kernel, tf.input_type, tf.out_dtype, tf.N, tf.K, tf.B, tf.block_n, tf.block_k
    )
    return layout.tune_file_name(key, tf.exhaustive)


# --- signals ---------------------------------------------------------------------------------


def _script(mode: str, folder: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen(
        [sys.executable, str(INTERRUPTS), mode, str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.timeout(240)
def test_sigterm_stops_a_tune_as_ctrl_c_does(tmp_path):
    """SIGTERM used to kill the coordinator on the spot (exit -15, no word); now it stops the
    run as Ctrl-C does: finished records kept, one line, exit 128 + 15."""
    proc = _script("tune-sigterm", tmp_path)
    out, err = proc.communicate(timeout=220)
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert "terminated: finished work is saved; rerun to resume" in err
    assert "Traceback" not in err
    (path,) = (tmp_path / "site_data/devices" / DEV / "tuning").glob("*.json")
    assert len(load(path, TuneFile).records) == 1  # the task finished before the signal


def _interrupt_when_ready(proc: subprocess.Popen, folder: Path) -> list[int]:
    """Wait (blocking on the FIFO, no polling) until the fixture says it is ready, then send
    SIGINT to its whole process group, as a terminal's Ctrl-C does."""
    with open(folder / "ready") as fifo:
        pids = [int(p) for p in fifo.readline().split()]
    os.killpg(proc.pid, signal.SIGINT)
    return pids


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["tune-ctrl-c", "compile-pool-ctrl-c"])
def test_ctrl_c_is_one_line_not_a_traceback_per_process(mode, tmp_path):
    os.mkfifo(tmp_path / "ready")
    proc = _script(mode, tmp_path, start_new_session=True)
    try:
        pids = _interrupt_when_ready(proc, tmp_path)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert pids
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert [line for line in _messages(err) if "interrupt" in line] == [
        "interrupted: finished work is saved; rerun to resume"
        if mode == "tune-ctrl-c"
        else "interrupted"
    ], err
