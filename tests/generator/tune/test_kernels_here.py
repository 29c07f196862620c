"""The tuner refuses, in one line and before any work, kernels this GPU cannot run as
themselves (``kernels.compat.kernel_problem``): the Gluon kernel off Hopper, the persistent TMA
kernel on Ada and AMD. The devices are faked: none of them is lent here."""

from __future__ import annotations

import pytest

from generator.cli import main as cli_main
from kernels.compat import GpuInfo

SM89 = GpuInfo("nvidia", capability=(8, 9))
MI300 = GpuInfo("amd", arch="gfx942")


@pytest.mark.parametrize(
    "kernel, gpu, reason",
    [
        ("w8a8_block_gluon", SM89, "needs a Hopper (sm_90) GPU; this is sm_89"),
        ("w8a8_block_gluon", MI300, "needs a Hopper (sm_90) GPU; this is gfx942"),
        ("w8a8_block_persistent", SM89, "needs TMA"),
        ("w8a8_block_persistent", MI300, "needs TMA"),
    ],
)
def test_tune_refuses_kernels_that_cannot_run_here_before_any_work(
    monkeypatch, capsys, tmp_path, kernel, gpu, reason
):
    from generator.tune import cli as tune_cli

    def tripwire(*_a, **_k):
        raise AssertionError("tuning started for a kernel this GPU cannot run")

    monkeypatch.setattr(tune_cli, "tune", tripwire)
    monkeypatch.setattr(tune_cli, "gpu_count", lambda limit: 1)
    monkeypatch.setattr("kernels.compat.gpu_info", lambda device=None: gpu)
    argv = ["tune", "--N", "256", "--K", "512", "--batch-sizes", "1", "--kernels", kernel]
    code = cli_main([*argv, "--save-path", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"--kernels {kernel}: {reason}" in err[0], err
    assert not any(tmp_path.iterdir())  # nothing written


def test_tune_lets_the_drop_in_kernel_through_on_ada(monkeypatch, tmp_path):
    """The check is not a blanket refusal: on sm_89 the drop-in kernel reaches the tuner."""
    from generator.tune import cli as tune_cli

    reached = []
    monkeypatch.setattr(tune_cli, "tune", lambda *a, **k: reached.append(a) or 0)
    monkeypatch.setattr(tune_cli, "gpu_count", lambda limit: 1)
    monkeypatch.setattr("kernels.compat.gpu_info", lambda device=None: SM89)
    argv = ["tune", "--N", "256", "--K", "512", "--batch-sizes", "1", "--kernels", "w8a8_block"]
    assert cli_main([*argv, "--save-path", str(tmp_path)]) == 0 and reached
