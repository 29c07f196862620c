"""What each device offers the kernels (``kernels.compat``): which kernels run on Ada (sm_89),
Hopper (sm_90), datacenter and consumer Blackwell (sm_100, sm_120), AMD MI300 / MI350 and the
CPU interpreter, and that an AMD GPU's capability (9, 4) never passes for Hopper.

No such GPU is lent here: devices are described, or torch's answers faked, as each would be."""

from __future__ import annotations

import types

import pytest
import torch

from kernels import compat
from kernels.compat import GpuInfo, fp8_problem, gpu_info, hopper_problem, kernel_problem

SM80 = GpuInfo("nvidia", capability=(8, 0))
SM89 = GpuInfo("nvidia", capability=(8, 9))  # L40S, L4, RTX 4090
SM90 = GpuInfo("nvidia", capability=(9, 0))  # H100, H200
SM100 = GpuInfo("nvidia", capability=(10, 0))  # B200
SM120 = GpuInfo("nvidia", capability=(12, 0))  # RTX 5090, RTX PRO 6000 Blackwell
MI300 = GpuInfo("amd", arch="gfx942")
MI350 = GpuInfo("amd", arch="gfx950")
MI250 = GpuInfo("amd", arch="gfx90a")
RDNA2 = GpuInfo("amd", arch="gfx1030")  # Radeon RX 6000 / PRO W6800
CPU = GpuInfo("cpu")

PLAIN_TRITON = (
    "w8a8_block",
    "w8a8_block_splitk",
    "w8a8_block_decode",
    "a16w8_batched",
    "a16w8_batched_swapped",
)


@pytest.mark.parametrize(
    "gpu, gluon, persistent",
    [
        (SM89, False, False),
        (SM90, True, True),
        (SM100, False, True),
        (SM120, False, True),
        (MI300, False, False),
        (MI350, False, False),
        (CPU, False, True),  # the interpreter emulates TMA descriptors; Gluon has none
    ],
    ids=lambda v: v.label if isinstance(v, GpuInfo) else str(v),
)
def test_which_kernels_run_where(gpu, gluon, persistent):
    assert (kernel_problem("w8a8_block_gluon", gpu) is None) is gluon
    assert (kernel_problem("w8a8_block_persistent", gpu) is None) is persistent
    for name in PLAIN_TRITON:  # plain Triton: everywhere FP8 runs
        assert kernel_problem(name, gpu) is None, name


def test_reasons_are_one_line_and_name_the_device():
    gluon = kernel_problem("w8a8_block_gluon", MI300)
    assert gluon == "needs a Hopper (sm_90) GPU; this is gfx942"
    persistent = kernel_problem("w8a8_block_persistent", SM89)
    assert persistent.startswith("needs TMA (an NVIDIA GPU of sm_90 or newer); on sm_89")
    assert "\n" not in gluon + persistent


def test_fp8_needs_sm89_or_an_fp8_amd_gpu():
    assert fp8_problem(SM89) is None and fp8_problem(SM120) is None
    assert fp8_problem(MI300) is None and fp8_problem(MI350) is None
    assert "sm_80" in fp8_problem(SM80)
    # vLLM 0.33.0 counts every CDNA GPU (gfx9xx) and RDNA3/4 as FP8-capable; Triton emulates
    # the formats older GPUs lack
    assert fp8_problem(MI250) is None
    assert fp8_problem(GpuInfo("amd", arch="gfx1201")) is None  # RDNA4
    assert "gfx1030" in fp8_problem(RDNA2)
    assert fp8_problem(GpuInfo("amd", arch=None)) is not None  # arch unknown: not claimed
    # INT8 runs there
    assert kernel_problem("w8a8_block", SM80, fp8=False) is None


def _fake_gpu(monkeypatch, *, hip: str | None, capability=(9, 4), arch="gfx942:sramecc+:xnack-"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: capability)
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda index=0: types.SimpleNamespace(gcnArchName=arch),
    )
    monkeypatch.setattr(torch.version, "hip", hip, raising=False)


def test_an_amd_gpu_reporting_capability_9_4_is_not_hopper(monkeypatch):
    """ROCm torch answers get_device_capability with gfx numbers: MI300 (gfx942) says (9, 4),
    which a "major == 9" test took for Hopper (the Gluon kernel's old check)."""
    _fake_gpu(monkeypatch, hip="6.3.42131")
    gpu = gpu_info("cuda")
    assert gpu == GpuInfo("amd", arch="gfx942")
    assert hopper_problem(gpu) == compat.HOPPER_ONLY
    from kernels.w8a8_block_gluon import gluon_supported

    assert gluon_supported(torch.device("cuda"), 4096, 7168, torch.bfloat16) == compat.HOPPER_ONLY
    # the same capability on a CUDA build is what it says
    _fake_gpu(monkeypatch, hip=None, capability=(9, 0))
    assert gpu_info("cuda") == SM90 and hopper_problem(gpu_info("cuda")) is None


def test_no_gpu_is_the_interpreter():
    assert gpu_info("cpu") == CPU
