"""Published figures of other vendors' kernels, stored as data with their source.

Why data and not code: a figure someone else published (AITER's MI350X numbers for the
DeepSeek-R1 MLA batched GEMMs) is a fact with a source, shown next to our measurements; it
belongs beside the engines' shipped files (``generator/data/reference/``), where a reader finds
where it came from, and a new set is a new file, not an edit of the benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
MLA_FIGURES = REFERENCE_DIR / "mla_aiter_mi350x.json"

PointKey = tuple[int, int, int, int]  # (B, M, N, K)


@dataclass(frozen=True)
class ExternalFigures:
    """One published set: what it is, where it is from, TFLOP/s by (B, M, N, K)."""

    label: str  # what the rows and the page call it
    source: str  # the URL it was copied from
    device: str
    kernel: str
    tflops: dict[PointKey, float]

    def at(self, B: int, M: int, N: int, K: int) -> float | None:
        return self.tflops.get((B, M, N, K))


@cache
def mla_figures(path: Path = MLA_FIGURES) -> ExternalFigures:
    """The MLA figures shown beside the mla sweep (AITER PR #2297 on the MI350X)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return ExternalFigures(
        label=raw["label"],
        source=raw["source"],
        device=raw["device"],
        kernel=raw["kernel"],
        tflops={(p["B"], p["M"], p["N"], p["K"]): float(p["tflops"]) for p in raw["points"]},
    )
