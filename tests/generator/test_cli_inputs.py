"""Every bad command-line input is one line naming the argument and the rule, exit code 2, and
nothing written, before any work starts (issue 17's CLI probes).

Each case here was a probe that used to end in a traceback, a tune that lost its work, or a
silently wrong run. The tuner is replaced by a tripwire, so a check that comes too late fails
the test instead of tuning.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.cli import main as cli_main
from generator.data.models import load_hf_config
from generator.errors import UserError
from tests.fixtures.make_synthetic import write_catalog

REPO = Path(__file__).resolve().parents[2]
TINY = ["--N", "48", "--K", "256", "--batch-sizes", "1", "--kernels", "w8a8_block"]


@pytest.fixture
def no_tuning(monkeypatch):
    """Tuning must not start for bad input: reaching it fails the test at once."""
    from generator.tune import cli as tune_cli

    def tripwire(*_a, **_k):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(tune_cli, "tune", tripwire)
    monkeypatch.setattr(tune_cli, "run_pruning_check", tripwire)


def _one_line_exit_2(code: int, capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err[0]
    return err[0]


def _config(tmp_path: Path, **fields) -> Path:
    cfg = {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "num_hidden_layers": 32,
        **fields,
    }
    path = tmp_path / "cfg" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cfg))
    return path


# --- tune: numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--N", "128", "--K", "128", "--block-k", "0"], ["--block-k 0", "at least 16"]),
        (["--block-n", "0"], ["--block-n 0", "at least 16"]),
        (["--block-n", "-1"], ["--block-n -1", "at least 16"]),
        (["--block-k", "-128"], ["--block-k -128", "at least 16"]),
        # 96 is a whole number of 16s, but no BLOCK_SIZE_K of the space (64, 128) divides it:
        # every config would be pruned and the run would report success with no winner.
        (["--N", "128", "--K", "192", "--block-k", "96"], ["--block-k 96", "BLOCK_SIZE_K"]),
        (["--gpus", "-1"], ["--gpus -1", "at least 1"]),
        (["--gpus", "0"], ["--gpus 0", "at least 1"]),
        (["--cpu-workers", "-1"], ["--cpu-workers -1", "at least 0"]),
    ],
)
def test_tune_rejects_nonsense_numbers(argv, needles, tmp_path, capsys, no_tuning):
    code = cli_main(["tune", *argv, "--allow-cpu", "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, *needles)
    assert not (tmp_path / "sd").exists()


def test_tune_problem_sizes_are_bounded(tmp_path, capsys, no_tuning):
    argv = ["tune", "--N", "4096", "--K", "7168", "--batch-sizes", "1,1000000", "--allow-cpu"]
    code = cli_main([*argv, "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, "--batch-sizes", "M=1000000 N=4096 K=7168", "2**31")


def test_block_k_rule_follows_the_kernels_spaces(tmp_path, capsys, no_tuning):
    """64 tiles the drop-in kernel's space (BLOCK_SIZE_K 64) but not the decode kernel's (128
    only): the rule is checked per selected kernel and names it."""
    argv = ["tune", "--N", "128", "--K", "128", "--block-k", "64", "--allow-cpu"]
    argv += ["--kernels", "w8a8_block,w8a8_block_decode", "--save-path", str(tmp_path / "sd")]
    _one_line_exit_2(cli_main(argv), capsys, "--block-k 64", "w8a8_block_decode")


# --- tune: model configs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, says",
    [
        ({"head_dim": 0}, "field 'head_dim' must be positive, got 0"),
        ({"num_key_value_heads": 0}, "field 'num_key_value_heads' must be positive, got 0"),
        (
            {"num_key_value_heads": 5},
            "field 'num_key_value_heads' 5 must divide num_attention_heads 32",
        ),
    ],
)
def test_model_config_fields_are_checked(fields, says, tmp_path, capsys, no_tuning):
    path = _config(tmp_path, **fields)
    with pytest.raises(UserError, match=f"^{re.escape(f'{path}: {says}')}$"):
        load_hf_config(path)
    code = cli_main(
        ["tune", "--model-config", str(path), "--allow-cpu", "--save-path", str(tmp_path / "sd")]
    )
    _one_line_exit_2(code, capsys, f"{path}: {says}")
    assert not (tmp_path / "sd").exists()


def test_model_config_that_is_not_utf8(tmp_path, capsys, no_tuning):
    path = tmp_path / "config.json"
    path.write_bytes(b'\xff\xfe{"hidden_size": 4096}')
    code = cli_main(
        ["tune", "--model-config", str(path), "--allow-cpu", "--save-path", str(tmp_path / "sd")]
    )
    _one_line_exit_2(code, capsys, str(path), "UTF-8")
    assert not (tmp_path / "sd").exists()


# --- output folders --------------------------------------------------------------------------


def test_tune_save_path_that_is_a_file_fails_before_tuning(tmp_path, capsys, no_tuning):
    target = tmp_path / "site_data"
    target.write_text("not a folder")
    code = cli_main(["tune", *TINY, "--allow-cpu", "--save-path", str(target)])
    _one_line_exit_2(code, capsys, "--save-path", "not a folder")
    assert target.read_text() == "not a folder"


def test_tune_save_path_below_a_file(tmp_path, capsys, no_tuning):
    (tmp_path / "file").write_text("x")
    code = cli_main(["tune", *TINY, "--allow-cpu", "--save-path", str(tmp_path / "file" / "sd")])
    _one_line_exit_2(code, capsys, "--save-path", "not a folder")


def test_bench_save_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "site_data"
    target.write_text("x")
    argv = ["bench", "--sweep", "square", "--square-sizes", "64", "--providers", "torch-bf16"]
    code = cli_main([*argv, "--allow-cpu", "--no-progress", "--save-path", str(target)])
    _one_line_exit_2(code, capsys, "--save-path", "not a folder")


@pytest.fixture(scope="module")
def shared_site_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs") / "site_data"
    write_catalog(root, n_devices=1, n_models=1, mla=False)
    return root


def _install(site_data: Path, dest: Path) -> list[str]:
    return [
        "install-configs",
        "--device",
        "SYNTHETIC_GPU_A",
        "--framework",
        "vllm",
        "--site-data",
        str(site_data),
        "--dest",
        str(dest),
    ]


def test_install_dest_below_a_regular_file(shared_site_data, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = cli_main(_install(shared_site_data, tmp_path / "file" / "configs"))
    _one_line_exit_2(code, capsys, "--dest", "not a folder")
    assert (tmp_path / "file").read_text() == "x"


def test_install_dest_in_proc(shared_site_data, capsys):
    if not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    code = cli_main(_install(shared_site_data, Path("/proc/blockgemm-configs")))
    _one_line_exit_2(code, capsys, "--dest", "/proc")


# --- read-only folders ----------------------------------------------------------------------


def _run_with_read_only(folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """``python -m generator ARGV`` with ``folder`` read-only: by its mode for an ordinary user;
    for root (who may write anywhere a mode forbids) by a read-only bind mount that exists
    only in the command's own mount namespace, so nothing outlives it."""
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "generator", *argv]
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        finally:
            folder.chmod(0o755)
    if shutil.which("unshare") is None:
        pytest.skip("root without unshare: no way to make a folder read-only for root")
    script = (
        f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))} && "
        f"mount -o remount,bind,ro {shlex.quote(str(folder))} && exec {shlex.join(cmd)}"
    )
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if "mount:" in result.stderr or "unshare:" in result.stderr:
        pytest.skip(f"no private read-only mount here: {result.stderr.strip()}")
    return result


@pytest.fixture
def read_only(tmp_path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    return folder


def test_install_dest_in_a_read_only_folder(shared_site_data, read_only):
    result = _run_with_read_only(read_only, _install(shared_site_data, read_only / "configs"))
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr
    assert "--dest" in err[0] and "cannot write" in err[0]
    assert not any(read_only.iterdir())


def test_tune_save_path_in_a_read_only_folder(read_only):
    argv = ["tune", *TINY, "--allow-cpu", "--cpu-workers", "0"]
    result = _run_with_read_only(read_only, [*argv, "--save-path", str(read_only / "sd")])
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr
    assert "--save-path" in err[0] and "cannot write" in err[0]
    assert "tuned" not in result.stdout  # refused before the first task
    assert not any(read_only.iterdir())


# --- bench: sweep sizes ----------------------------------------------------------------------


@pytest.fixture
def no_bench(monkeypatch):
    """Measuring must not start for a sweep too large to run."""
    from generator.measure import ceilings

    def tripwire(*_a, **_k):
        raise AssertionError("measuring started before the sweep's size was checked")

    monkeypatch.setattr(ceilings, "measure_ceilings", tripwire)


@pytest.fixture
def few_points(monkeypatch, no_bench):
    """A sweep that builds more than 100,000 points in memory fails the test at once (the
    probe: 100 million range points grew past 10 GB before any message)."""
    from generator.bench import plan

    made = [0]

    class Counted(plan.SweepPoint):
        def __init__(self, *a, **k):
            made[0] += 1
            if made[0] > 100_000:
                raise AssertionError("the sweep was built before its size was checked")
            super().__init__(*a, **k)

    monkeypatch.setattr(plan, "SweepPoint", Counted)


@pytest.mark.parametrize(
    "argv, needles",
    [
        (
            ["--dim-start", "1", "--dim-end", "100000000", "--dim-increment", "1"],
            ["100000000 points", "at most"],
        ),
        (["--dim-start", "65536", "--dim-end", "65536"], ["65536", "2**31"]),
    ],
)
def test_range_sweep_is_bounded_before_it_is_built(argv, needles, tmp_path, capsys, few_points):
    code = cli_main(
        ["bench", "--sweep", "range", *argv, "--allow-cpu", "--save-path", str(tmp_path / "sd")]
    )
    _one_line_exit_2(code, capsys, *needles)
    assert not (tmp_path / "sd").exists()


def test_usage_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit, match="^2$"):  # SystemExit(2): the exit code is its message
        cli_main(["tune", "--block-k", "abc", "--save-path", str(tmp_path / "sd")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--block-k" in err[0] and "invalid int value" in err[0], err


@pytest.mark.parametrize(
    "argv",
    [
        ["--sweep", "model", "--model", "deepseek-v3", "--batch-sizes", "1000000"],
        ["--sweep", "mla", "--model", "deepseek-v3", "--mla-batch-sizes", "100000000"],
    ],
)
def test_model_and_mla_sweeps_are_bounded(argv, tmp_path, capsys, no_bench):
    code = cli_main(["bench", *argv, "--allow-cpu", "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, "sweep: M=", "2**31")


def test_square_sweep_is_bounded(tmp_path, capsys, no_bench):
    argv = ["bench", "--sweep", "square", "--square-sizes", "100000", "--allow-cpu"]
    code = cli_main([*argv, "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, "100000", "2**31")
