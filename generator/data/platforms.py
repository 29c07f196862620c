"""What the engines do on GPUs other than the lent Hopper ones, as recorded data with sources.

The facts live in ``generator/data/reference/platforms.json``, each tied to the engine's (or
Triton's) file and function it was read from: the FP8 format per AMD architecture (vLLM
quantizes to ``float8_e4m3fnuz`` and 224 on gfx94x, ``float8_e4m3fn`` and 448 on gfx950), how
vLLM spells AMD device names in its config file names (by PCI device ID), how it runs block
FP8 on ROCm (the Triton kernel unless ``VLLM_ROCM_USE_AITER=1``), and the AMD-only keys its
ROCm config files carry. The code that acts on them restates the few values it needs
(``kernels.platform``, ``kernels.compat``, ``generator.configs.keys``) because it sits below
this layer or must not read files; ``tests/generator/data/test_platforms.py`` keeps each
restatement equal to this record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from generator.data.shipped import REFERENCE_DIR

PLATFORMS_FILE = REFERENCE_DIR / "platforms.json"


@dataclass(frozen=True)
class RecordedFp8:
    """The FP8 format vLLM uses on GPUs whose GCN arch starts with ``arch_prefix`` (None: NVIDIA
    and every AMD GPU not listed)."""

    arch_prefix: str | None
    dtype: str
    qmax: float
    finite_max: float
    devices: tuple[str, ...]


@cache
def record() -> dict[str, Any]:
    """The whole record (read once)."""
    return json.loads(PLATFORMS_FILE.read_text(encoding="utf-8"))


def fp8_formats() -> tuple[RecordedFp8, ...]:
    return tuple(
        RecordedFp8(
            f["arch_prefix"],
            f["dtype"],
            float(f["qmax"]),
            float(f["finite_max"]),
            tuple(f["devices"]),
        )
        for f in record()["fp8_formats"]
    )


def rocm_device_names() -> dict[str, str]:
    """PCI device ID (``0x74a1``) -> the device name vLLM gives it (``AMD_Instinct_MI300X``)."""
    return dict(record()["device_names"]["pci_device_ids"])


def amd_config_keys() -> dict[str, dict[str, Any]]:
    """The AMD backend's options vLLM's ROCm config files carry: key -> Triton's default and the
    values vLLM's ROCm tuner tries."""
    return dict(record()["config_keys"]["keys"])


def amd_launch_defaults() -> dict[str, int]:
    """What Triton's AMD backend launches with for an option a config leaves out
    (``HIPOptions``): an entry of a shipped ROCm file without ``num_stages`` runs with 2."""
    return dict(record()["config_keys"]["launch_defaults"])


def rocm_block_fp8_env() -> dict[str, bool]:
    """vLLM's switches between AITER and the Triton kernel on ROCm, at their defaults."""
    return dict(record()["block_fp8_dispatch"]["env"])
