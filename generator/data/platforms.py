"""What the engines do on GPUs other than the lent Hopper ones, as recorded data with sources.

The facts live in ``generator/data/reference/platforms.json``, each tied to the released
package it was read from (``read_from``: the vLLM 0.33.0 wheel and sdist, the SGLang 0.5.23 and
Triton 3.6.0 wheels, each with its sha256) and to the file, function and line range there: the
FP8 format per AMD architecture (vLLM quantizes to ``float8_e4m3fnuz`` and 224 on gfx94x,
``float8_e4m3fn`` and 448 on gfx950), which AMD GPUs vLLM counts as FP8-capable, how vLLM
spells AMD device names in its config file names (by PCI device ID), how it runs block FP8 on
ROCm (the Triton kernel unless ``VLLM_ROCM_USE_AITER=1``), and the AMD-only keys its ROCm config
files carry. The code that acts on them restates the few values it needs (``kernels.platform``,
``kernels.compat``, ``generator.configs.keys``, ``generator.data.provenance``) because it sits
below this layer or must not read files; ``tests/generator/data/test_platforms.py`` keeps each
restatement equal to this record.

Why line ranges and packages, not a repository's branch: a fact is only as good as the release
it was read from, and a reader can open the same wheel and find the same lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from generator.data.dispatch import Source
from generator.data.shipped import REFERENCE_DIR
from generator.errors import UserError

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


@dataclass(frozen=True)
class CitedSource:
    """One place a fact of the record was read: ``where`` names the fact (its key in the
    record, e.g. ``fp8_formats[gfx94]``), ``says`` what the lines show."""

    where: str
    source: Source
    says: str


@cache
def record() -> dict[str, Any]:
    """The whole record (read once)."""
    return json.loads(PLATFORMS_FILE.read_text(encoding="utf-8"))


def read_from() -> dict[str, dict[str, str]]:
    """The packages the record was read from, by the ``ref`` its sources name."""
    return {p["ref"]: dict(p) for p in record()["read_from"]}


def sources(raw: dict[str, Any] | None = None) -> tuple[CitedSource, ...]:
    """Every source the record cites, checked: each names repo, ref, file, function and a line
    range, and its ref is one of ``read_from``'s packages (UserError otherwise: a fact whose
    citation cannot be followed is not a fact)."""
    raw = record() if raw is None else raw
    packages = {p["ref"] for p in raw["read_from"]}
    cited: list[CitedSource] = []
    for where, entries in _source_lists(raw):
        for entry in entries:
            missing = [k for k in ("repo", "ref", "file", "function", "lines") if not entry.get(k)]
            if missing:
                raise UserError(f"{PLATFORMS_FILE.name} {where}: a source without {missing}")
            if entry["ref"] not in packages:
                raise UserError(
                    f"{PLATFORMS_FILE.name} {where}: ref '{entry['ref']}' is not in read_from"
                )
            try:
                first, last = (int(n) for n in entry["lines"])
            except (TypeError, ValueError):
                raise UserError(
                    f"{PLATFORMS_FILE.name} {where}: lines {entry['lines']!r} is not a range"
                ) from None
            if not 0 < first <= last:
                raise UserError(f"{PLATFORMS_FILE.name} {where}: bad line range {[first, last]}")
            source = Source(
                entry["repo"], entry["ref"], entry["file"], entry["function"], (first, last)
            )
            cited.append(CitedSource(where, source, entry.get("says", "")))
    return tuple(cited)


def _source_lists(raw: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(fact, its sources) for every fact of the record that cites any."""
    lists = [(f"fp8_formats[{f['arch_prefix']}]", f["sources"]) for f in raw["fp8_formats"]]
    for key, fact in raw.items():
        if isinstance(fact, dict) and "sources" in fact:
            lists.append((key, fact["sources"]))
    return lists


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


def amd_fp8_arch_prefixes() -> tuple[str, ...]:
    """The GCN architecture prefixes vLLM counts as FP8-capable (RocmPlatform.supports_fp8:
    CDNA, i.e. gfx9 and gfx1250, or RDNA, i.e. gfx11 and gfx12)."""
    return tuple(record()["fp8_support"]["amd_arch_prefixes"])


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
