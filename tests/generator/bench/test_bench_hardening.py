"""``bench`` writes only what ``validate`` accepts and keeps what it measured (issue 24).

The probes: ``bench --out-dtype float16`` wrote rows ``validate`` refused (the bf16 baseline,
judged by bf16's bound when measured, held to float16's), runs of two output dtypes were mixed
in one file under one file-level dtype, SIGTERM lost every row since the last periodic save
(SIGINT at the same point saved them), and a full disk ended in a traceback with the rows
lost. All on tiny shapes on the CPU (Triton's interpreter; the library providers report
"unsupported" there).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from generator.cli import main as cli_main
from generator.data.records import BenchFile, load
from generator.data.validate import validate_tree

REPO = Path(__file__).resolve().parents[3]
INTERRUPTS = REPO / "tests" / "fixtures" / "interrupts.py"
SWEEP = ["bench", "--allow-cpu", "--sweep", "square", "--replays", "1", "--no-progress"]


def _bench(sd: Path, *extra: str, sizes: str = "64") -> int:
    argv = [*SWEEP, "--square-sizes", sizes, "--save-path", str(sd), *extra]
    return cli_main(argv)


def _square(sd: Path) -> Path:
    (path,) = sd.glob("devices/*/bench/square.json")
    return path


def test_a_float16_run_writes_rows_validate_accepts(tmp_path):
    sd = tmp_path / "sd"
    providers = "torch-bf16,triton-fp8-block-default,triton-int8-azp"
    assert _bench(sd, "--out-dtype", "float16", "--providers", providers) == 0
    bf = load(_square(sd), BenchFile)
    assert bf.out_dtype == "float16" and len(bf.rows) == 3
    assert validate_tree(sd).problems == []


def test_runs_of_two_output_dtypes_never_share_a_file(tmp_path, capsys):
    sd = tmp_path / "sd"
    assert _bench(sd, "--providers", "torch-bf16") == 0
    before = _square(sd).read_bytes()
    capsys.readouterr()
    assert _bench(sd, "--out-dtype", "float16", "--providers", "torch-bf16", sizes="96") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds rows of --out-dtype bfloat16" in err[0], err
    assert "another --save-path" in err[0]
    assert _square(sd).read_bytes() == before  # refused before anything was measured


def test_a_write_that_fails_after_the_work_keeps_the_rows(tmp_path, monkeypatch, capsys):
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
    assert _bench(sd, "--providers", "torch-bf16", sizes="64,96") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0], err
    (kept,) = recovery.iterdir()
    assert str(kept) in err[0] and kept.name.endswith("square.json")
    assert sorted(r.M for r in load(kept, BenchFile).rows) == [64, 96]
    assert not list(sd.glob("devices/*/bench/*.json"))


@pytest.mark.timeout(300)
def test_sigterm_saves_the_rows_as_ctrl_c_does(tmp_path):
    """SIGTERM during the second point, long before the periodic save: the first point's rows
    are saved, one line says so, exit 128 + 15 (it used to be -15 and no file)."""
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, str(INTERRUPTS), "bench-sigterm", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 128 + signal.SIGTERM, (proc.stdout, proc.stderr)
    assert "terminated: finished work is saved; rerun to resume" in proc.stderr
    assert "Traceback" not in proc.stderr
    bf = load(_square(tmp_path / "site_data"), BenchFile)
    assert [r.M for r in bf.rows] == [64]
