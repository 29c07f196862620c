"""The config tables the serving engines ship, and what they run without one.

Reference data (``generator/data/reference/``, see its README): the files vLLM and SGLang ship
for the block-FP8 Triton kernel, copied unchanged with version, source and license. The question
every tuned file must answer is "what do I gain over what I run today?", so the tuner times the
entry each engine would pick beside its own candidates, and the benchmark has a provider per
set. The lookup is the engines' own: the file for (N, K, device, dtype, block) by its exact
name, then the entry whose batch-size key is nearest to M; no file means the engine's default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from generator.configs.engine_files import file_name, read_table
from generator.configs.keys import Config

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class ShippedSet:
    """One engine release's shipped files."""

    id: str  # e.g. "vllm-0.33.0"
    engine: str  # "vllm" | "sglang" (its file naming)
    version: str
    source: str
    license: str
    default_num_stages: int

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
        """The shipped {M: config} table for this device and shape, or None (no file)."""
        path = self.folder / file_name(self.engine, N, K, device_name, input_type, block)
        return read_table(path)


@cache
def shipped_sets() -> tuple[ShippedSet, ...]:
    """Every reference set, in ``sources.json`` order."""
    raw = json.loads((REFERENCE_DIR / "sources.json").read_text())
    return tuple(ShippedSet(**entry) for entry in raw["sets"])


def shipped_set(set_id: str) -> ShippedSet:
    for s in shipped_sets():
        if s.id == set_id:
            return s
    raise KeyError(set_id)
