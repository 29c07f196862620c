"""On GPUs without Hopper's features the bench reports the Hopper-only kernels ``unsupported``
with a one-line reason: the Gluon kernel everywhere but sm_90, the persistent TMA kernel on Ada
and on AMD; everything else runs. The devices are faked (``requirements.gpu_info``): none of
them is lent here."""

from __future__ import annotations

import pytest
import torch

from generator.bench import registry as pv
from generator.bench import requirements
from generator.bench.requirements import unmet
from kernels.compat import GpuInfo

SM89 = GpuInfo("nvidia", capability=(8, 9))
SM90 = GpuInfo("nvidia", capability=(9, 0))
SM120 = GpuInfo("nvidia", capability=(12, 0))
MI300 = GpuInfo("amd", arch="gfx942")


def _on(monkeypatch, gpu: GpuInfo) -> pv.BenchContext:
    monkeypatch.setattr(requirements, "gpu_info", lambda device: gpu)
    monkeypatch.setattr(requirements, "gluon_problem", lambda: None)
    return pv.BenchContext(device=torch.device("cuda"))  # a GPU run (no tensor is made)


@pytest.mark.parametrize("gpu", [SM89, SM120, MI300], ids=lambda g: g.label)
def test_gluon_is_unsupported_off_hopper_with_the_device_named(monkeypatch, gpu):
    ctx = _on(monkeypatch, gpu)
    message = unmet(pv.get("triton-fp8-block-gluon"), ctx)
    assert message == (
        f"needs a Hopper (sm_90) GPU (Gluon kernel; no CPU interpreter); this is {gpu.label}"
    )


@pytest.mark.parametrize("gpu, runs", [(SM89, False), (SM90, True), (SM120, True), (MI300, False)])
def test_persistent_tma_kernel_needs_tma(monkeypatch, gpu, runs):
    ctx = _on(monkeypatch, gpu)
    message = unmet(pv.get("triton-fp8-block-persistent"), ctx)
    assert (message is None) is runs
    if not runs:
        assert message.startswith("needs TMA") and gpu.label in message


@pytest.mark.parametrize("gpu", [SM89, SM90, SM120, MI300], ids=lambda g: g.label)
def test_the_engines_kernel_and_ours_in_plain_triton_run_everywhere(monkeypatch, gpu):
    ctx = _on(monkeypatch, gpu)
    for name in (
        "triton-fp8-block-default",
        "triton-fp8-block-tuned",
        "triton-fp8-block-vllm-0.33.0",
        "triton-fp8-block-splitk",
        "triton-fp8-block-decode",
        "a16w8-triton",
    ):
        assert unmet(pv.get(name), ctx) is None, name
    assert unmet(pv.get("triton-fp8-block-gluon"), ctx) is None or gpu != SM90
