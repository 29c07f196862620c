"""The config tables the serving engines ship, and what they run without one.

Reference data (``generator/data/reference/``, see its README): the files vLLM and SGLang ship
for the block-FP8 Triton kernel, copied unchanged with version, source and license. The question
every tuned file must answer is "what do I gain over what I run today?", so the tuner times the
entry each engine would pick beside its own candidates, and the benchmark has a provider per
set. The lookup is the engines' own: the file for (N, K, device, dtype, block) by its exact
name, then the entry whose batch-size key is nearest to M; no file means the engine's default.

A set is one engine release. Its files for another platform (vLLM's ROCm files for MI300X and
MI325X) sit in a further folder of the same set (``folders`` in ``sources.json``), with their
own source and the launch defaults they rely on: an entry that leaves out ``num_stages`` runs
with the Triton backend's default there, so the lookup returns it with that value filled in,
as the engine launches it. The tuner and the bench then time them exactly as the H100 / H200
files: same set id, same baseline name, same provider.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from generator.configs.engine_files import file_name, read_table
from generator.configs.keys import Config

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class ExtraFolder:
    """Files of the same release for another platform, in their own folder."""

    folder: str  # e.g. "vllm-0.33.0-rocm"
    platform: str  # "rocm"
    devices: tuple[str, ...]
    source: str
    license: str
    # what an entry that leaves a launch option out runs with; file name -> its sha256 as
    # copied from the release (left out of the hash, so that a set stays hashable like the
    # others)
    launch_defaults: Mapping[str, int] = field(hash=False)
    sha256: Mapping[str, str] = field(hash=False)
    note: str = ""
    launch_defaults_source: str = ""

    @property
    def path(self) -> Path:
        return REFERENCE_DIR / self.folder


@dataclass(frozen=True)
class ShippedSet:
    """One engine release's shipped files."""

    id: str  # e.g. "vllm-0.33.0"
    engine: str  # "vllm" | "sglang" (its file naming)
    version: str
    source: str
    license: str
    default_num_stages: int
    folders: tuple[ExtraFolder, ...] = ()

    @property
    def folder(self) -> Path:
        return REFERENCE_DIR / self.id

    def default_config(self, block: tuple[int, int] = (128, 128)) -> Config:
        """What the engine runs for a shape it ships no file for."""
        return {
            "BLOCK_SIZE_M": 64,
            "BLOCK_SIZE_N": block[0],
            "BLOCK_SIZE_K": block[1],
            "GROUP_SIZE_M": 32,
            "num_warps": 4,
            "num_stages": self.default_num_stages,
        }

    def table(
        self,
        device_name: str,
        N: int,
        K: int,
        input_type: str = "fp8",
        block: tuple[int, int] = (128, 128),
    ) -> dict[int, Config] | None:
        """The shipped {M: config} table for this device and shape, or None (no file): from the
        set's own folder, else from the first further folder that has the file, with that
        folder's launch defaults filled in where an entry leaves them out."""
        name = file_name(self.engine, N, K, device_name, input_type, block)
        table = read_table(self.folder / name)
        if table is not None:
            return table
        for extra in self.folders:
            table = read_table(extra.path / name)
            if table is not None:
                return {m: {**extra.launch_defaults, **cfg} for m, cfg in table.items()}
        return None


@cache
def shipped_sets() -> tuple[ShippedSet, ...]:
    """Every reference set, in ``sources.json`` order."""
    raw = json.loads((REFERENCE_DIR / "sources.json").read_text())
    sets = []
    for entry in raw["sets"]:
        folders = tuple(
            ExtraFolder(**{**f, "devices": tuple(f.get("devices", ()))})
            for f in entry.get("folders", ())
        )
        sets.append(ShippedSet(**{**entry, "folders": folders}))
    return tuple(sets)


def shipped_set(set_id: str) -> ShippedSet:
    for s in shipped_sets():
        if s.id == set_id:
            return s
    raise KeyError(set_id)
