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


# --- issue 24: inputs bounded, conflicts refused, every folder checked first ------------------


def _limited_memory() -> None:
    """A child that reads without bound runs out of memory at 2 GiB, not the machine's."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_model_config_that_is_not_a_regular_file(kind, tmp_path):
    """A FIFO hung the tuner (the read waited for a writer); /dev/zero filled the memory."""
    if kind == "fifo":
        path = tmp_path / "config.json"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero here")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONDONTWRITEBYTECODE="1")
    argv = ["tune", "--model-config", str(path), "--allow-cpu", "--save-path", str(tmp_path / "sd")]
    result = subprocess.run(
        [sys.executable, "-m", "generator", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        preexec_fn=_limited_memory,
    )
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr[-2000:]
    assert str(path) in err[0] and "not a regular file" in err[0]
    assert not (tmp_path / "sd").exists()


def test_model_config_larger_than_any_config_is_refused_unread(tmp_path, capsys, no_tuning):
    path = tmp_path / "config.json"
    with path.open("wb") as fh:
        fh.truncate(64 * 2**20)  # sparse: no disk used
    code = cli_main(["tune", "--model-config", str(path), "--allow-cpu"])
    _one_line_exit_2(code, capsys, str(path), f"{64 * 2**20} bytes; at most")


@pytest.mark.parametrize(
    "extra, flags",
    [
        (["--kernels", "w8a8_block_decode"], "--kernels"),
        (["--model", "qwen3-32b"], "--model"),
        (["--tp-size", "4"], "--tp-size"),
        (["--exhaustive"], "--exhaustive"),
        (["--batch-sizes", "1,2"], "--batch-sizes"),
        (["--N", "4096", "--K", "7168"], "--N, --K"),
    ],
)
def test_pruning_check_refuses_the_flags_it_would_ignore(extra, flags, tmp_path, capsys, no_tuning):
    argv = ["tune", "--pruning-check", *extra, "--allow-cpu", "--save-path", str(tmp_path / "sd")]
    _one_line_exit_2(cli_main(argv), capsys, "--pruning-check", flags)


def test_pruning_check_refuses_a_model_config(tmp_path, capsys, no_tuning):
    path = _config(tmp_path)
    argv = ["tune", "--pruning-check", "--model-config", str(path), "--allow-cpu"]
    _one_line_exit_2(cli_main(argv), capsys, "--pruning-check", "--model-config")


@pytest.mark.parametrize("points", ["zz", "50:10", "0:91", "-3:2", ":"])
def test_check_points_are_checked_without_a_gpu(points, tmp_path, capsys, no_tuning):
    """``--check-points zz`` exited 0 on a machine without a GPU ("no CUDA GPU found")."""
    argv = ["tune", "--pruning-check", f"--check-points={points}"]
    code = cli_main([*argv, "--save-path", str(tmp_path / "sd")])
    if points == ":":  # every point: a valid selection, so the run goes on (no GPU: exit 0)
        assert code == 0
        return
    _one_line_exit_2(code, capsys, f"--check-points {points!r}")


def test_check_points_without_pruning_check(tmp_path, capsys, no_tuning):
    argv = ["tune", *TINY, "--check-points", "0:3", "--allow-cpu"]
    _one_line_exit_2(cli_main(argv), capsys, "--check-points", "--pruning-check")


def test_a_kernel_named_twice_is_tuned_once(tmp_path, monkeypatch):
    from generator.tune import cli as tune_cli

    seen = []
    monkeypatch.setattr(tune_cli, "tune", lambda tasks, *a, **k: seen.append((tasks, a)) or 0)
    argv = ["tune", "--N", "48", "--K", "256", "--batch-sizes", "1,2", "--allow-cpu"]
    argv += ["--kernels", "w8a8_block,w8a8_block", "--save-path", str(tmp_path / "sd")]
    assert cli_main(argv) == 0
    ((tasks, args),) = seen
    assert len(tasks) == len(set(tasks)) == 2
    assert args[3] == ("w8a8_block",) and args[4].endswith("--kernels w8a8_block")


@pytest.mark.parametrize("flag", ["--block-n", "--block-k"])
def test_blocks_are_bounded(flag, tmp_path, capsys, no_tuning):
    argv = ["tune", "--N", "128", "--K", "128", flag, str(2**70), "--allow-cpu"]
    code = cli_main([*argv, "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, f"{flag} {2**70}", "at most 4096")


def test_replays_are_bounded(tmp_path, capsys, no_bench):
    argv = ["bench", "--sweep", "square", "--square-sizes", "64", "--replays", "10000000"]
    code = cli_main([*argv, "--allow-cpu", "--save-path", str(tmp_path / "sd")])
    _one_line_exit_2(code, capsys, "--replays", "1..1000")


@pytest.mark.parametrize(
    "argv",
    [
        ["tune", *TINY, "--allow-cpu", "--save-path", ""],
        ["bench", "--sweep", "square", "--square-sizes", "64", "--allow-cpu", "--save-path", " "],
        ["validate", "--site-data", ""],
        ["install-configs", "--device", "X", "--framework", "vllm", "--dest", ""],
        [
            "install-configs",
            "--device",
            "X",
            "--framework",
            "vllm",
            "--dest",
            "d",
            "--site-data",
            "",
        ],
    ],
    ids=["tune", "bench", "validate", "install-dest", "install-site-data"],
)
def test_an_empty_folder_is_an_error_not_the_current_folder(
    argv, tmp_path, monkeypatch, capsys, no_tuning, no_bench
):
    monkeypatch.chdir(tmp_path)  # were it taken as ".", nothing lands in the repository
    with pytest.raises(SystemExit, match="^2$"):
        cli_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "an empty path" in err[0], err
    assert not any(tmp_path.iterdir())


def _gap_in_the_drop_in_files(sd: Path) -> Path:
    """A tuning record whose vLLM file is missing: the hole a run's first step refills."""
    from generator.data.provenance import collect_cpu
    from generator.data.records import SEARCH_CURRENT, Measurement, Status, TuneRecord
    from generator.data.tasks import Task
    from generator.tune import store

    cfg = {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 128, "GROUP_SIZE_M": 1}
    m = Measurement(
        config={**cfg, "num_warps": 4, "num_stages": 3},
        status=Status.OK,
        latency_us=10.0,
        rel_error=1e-3,
    )
    rec = TuneRecord(
        M=1,
        winner=m,
        default=m,
        search=SEARCH_CURRENT,
        configs_in_space=1,
        configs_pruned=0,
        configs_timed=1,
        wall_s=1.0,
    )
    task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, 1)
    store.merge_result(sd, collect_cpu(), task, rec, False)
    (vllm,) = (sd / "devices/CPU_INTERPRETER/configs/vllm").iterdir()
    vllm.unlink()
    return vllm


def test_an_unreachable_ray_head_is_one_line_before_any_file_is_touched(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sd = tmp_path / "sd"
    hole = _gap_in_the_drop_in_files(sd)
    files = {p: p.read_bytes() for p in sd.rglob("*.json")}
    argv = ["tune", *TINY, "--allow-cpu", "--backend", "ray", "--address", f"127.0.0.1:{port}"]
    code = cli_main([*argv, "--save-path", str(sd)])
    _one_line_exit_2(code, capsys, f"--address 127.0.0.1:{port}", "no Ray head answers")
    assert not hole.exists() and {p: p.read_bytes() for p in sd.rglob("*.json")} == files


def test_without_ray_the_refusal_comes_before_any_drop_in_file_is_rewritten(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without
    sd = tmp_path / "sd"
    hole = _gap_in_the_drop_in_files(sd)
    argv = ["tune", *TINY, "--allow-cpu", "--backend", "ray", "--save-path", str(sd)]
    _one_line_exit_2(cli_main(argv), capsys, "--backend ray needs Ray")
    assert not hole.exists()  # the run's first step (rebuilding drop-in files) never ran


def test_address_without_the_ray_backend(tmp_path, capsys, no_tuning):
    argv = ["tune", *TINY, "--allow-cpu", "--address", "10.0.0.1:6379"]
    _one_line_exit_2(cli_main([*argv, "--save-path", str(tmp_path)]), capsys, "--backend ray")


@pytest.mark.parametrize("sub", ["tuning", "configs/vllm", "checks"])
def test_tune_with_a_read_only_folder_below_save_path(sub, tmp_path):
    """Only --save-path itself was checked: with tuning/ read-only the tune did all its work
    and lost it with a traceback; with configs/vllm/ the drop-in file had a gap."""
    folder = tmp_path / "sd/devices/CPU_INTERPRETER" / sub
    folder.mkdir(parents=True)
    argv = ["tune", *TINY, "--allow-cpu", "--cpu-workers", "0"]
    result = _run_with_read_only(folder, [*argv, "--save-path", str(tmp_path / "sd")])
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr[-3000:]
    assert f"--save-path {folder}" in err[0] and "cannot write" in err[0]
    assert "tuned" not in result.stdout  # refused before the first task
    assert not any(p.is_file() for p in (tmp_path / "sd").rglob("*"))


def test_bench_with_a_read_only_bench_folder(tmp_path):
    folder = tmp_path / "sd/devices/CPU_INTERPRETER/bench"
    folder.mkdir(parents=True)
    argv = ["bench", "--sweep", "square", "--square-sizes", "64", "--providers", "torch-bf16"]
    argv += ["--allow-cpu", "--no-progress", "--save-path", str(tmp_path / "sd")]
    result = _run_with_read_only(folder, argv)
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr[-3000:]
    assert f"--save-path {folder}" in err[0] and "cannot write" in err[0]
    assert "ceilings" not in result.stdout  # refused before anything was measured
