"""The one place that knows how a benchmark provider looks and what kind of GEMM it computes.

Why: providers are free strings written by the benchmark (new kernels appear without the site
changing), yet every chart, legend, table and recommendation must agree on a provider's label,
colour and family. Known names get hand-picked styles; any other name gets a stable colour from
its hash and a family guessed from its words, so a new provider renders without a code change.
"""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass

BASELINE = "torch-bf16"  # the bf16 baseline every speedup is measured against


class Family(str, enum.Enum):
    """What a provider computes, which decides whether it may replace another one."""

    BASELINE = "baseline"  # bf16 weights and activations
    BLOCK = "block"  # block-scaled 8-bit weights (128x128) + per-token-group activations
    TENSOR = "tensor"  # one scale per tensor: not a drop-in for block-scaled checkpoints
    CHANNEL = "channel"  # per-channel / per-token scales: not a drop-in either
    BATCHED = "batched"  # batched A16W8 kernels of MLA attention
    OTHER = "other"


@dataclass(frozen=True)
class ProviderStyle:
    name: str
    label: str
    color: str
    dash: str  # plotly line dash
    symbol: str  # plotly marker symbol
    family: Family

    @property
    def drop_in_block(self) -> bool:
        """Computes the same block-scaled GEMM as the checkpoint (or is the bf16 baseline), so it
        is a candidate in the recommendation table. "-noquant" variants skip the activation
        quantization a real layer pays for, so they are not."""
        return self.family in (Family.BASELINE, Family.BLOCK) and "noquant" not in self.name


_KNOWN: dict[str, tuple[str, str, str, str, Family]] = {
    BASELINE: ("bf16 (cuBLAS)", "#555555", "dash", "circle", Family.BASELINE),
    "cublas-fp8-block": ("cuBLAS FP8 block-wise", "#1f77b4", "solid", "square", Family.BLOCK),
    "triton-fp8-block-tuned": (
        "Triton FP8 block, tuned",
        "#d62728",
        "solid",
        "diamond",
        Family.BLOCK,
    ),
    "triton-fp8-block-default": (
        "Triton FP8 block, default config",
        "#ff9896",
        "dot",
        "diamond-open",
        Family.BLOCK,
    ),
    "triton-int8-block": (
        "Triton INT8 block, tuned",
        "#9467bd",
        "solid",
        "triangle-up",
        Family.BLOCK,
    ),
    "triton-fp8-block-splitk": (
        "Triton FP8 block, split-K (ours, small M)",
        "#ff7f0e",
        "dot",
        "star",
        Family.BLOCK,
    ),
    "triton-fp8-block-decode": (
        "Triton FP8 block, fused decode (ours, small M)",
        "#e377c2",
        "solid",
        "hexagon",
        Family.BLOCK,
    ),
    "triton-fp8-block-persistent": (
        "Triton FP8 block, persistent TMA (ours, large M)",
        "#8c564b",
        "dot",
        "pentagon",
        Family.BLOCK,
    ),
    "triton-fp8-block-gluon": (
        "Triton FP8 block, warp-specialized Gluon (ours, large M, Hopper)",
        "#17becf",
        "solid",
        "star-diamond",
        Family.BLOCK,
    ),
    "fp8-tensor": ("cuBLAS FP8 tensor-wise", "#2ca02c", "dashdot", "cross", Family.TENSOR),
    "fp8-channel-noquant": (
        "cuBLAS FP8 channel-wise, no act. quant",
        "#98df8a",
        "dashdot",
        "x",
        Family.CHANNEL,
    ),
    "a16w8-triton": ("A16W8 Triton (batched)", "#d62728", "solid", "diamond", Family.BATCHED),
    "a16w8-triton-swapped": (
        "A16W8 Triton, swapped operands (ours, batched)",
        "#9467bd",
        "solid",
        "star-diamond",
        Family.BATCHED,
    ),
    "a16w8-bmm-bf16": ("bf16 torch.bmm", "#555555", "dash", "circle", Family.BATCHED),
}

_PALETTE = [
    "#17becf",
    "#bcbd22",
    "#8c564b",
    "#e377c2",
    "#ff7f0e",
    "#7f7f7f",
    "#aec7e8",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
]
_SYMBOLS = ["star", "hexagon", "pentagon", "triangle-down", "bowtie", "hourglass"]


def _guess_family(name: str) -> Family:
    lowered = name.lower()
    if "a16w8" in lowered or "bmm" in lowered:
        return Family.BATCHED
    if "block" in lowered:
        return Family.BLOCK
    if "tensor" in lowered:
        return Family.TENSOR
    if "channel" in lowered or "token" in lowered:
        return Family.CHANNEL
    if "bf16" in lowered:
        return Family.BASELINE
    return Family.OTHER


def style(name: str) -> ProviderStyle:
    """Style of a provider; unknown names get a colour and symbol stable across builds."""
    if name in _KNOWN:
        label, color, dash, symbol, family = _KNOWN[name]
        return ProviderStyle(name, label, color, dash, symbol, family)
    h = zlib.crc32(name.encode())
    return ProviderStyle(
        name=name,
        label=name,
        color=_PALETTE[h % len(_PALETTE)],
        dash="longdash",
        symbol=_SYMBOLS[(h // len(_PALETTE)) % len(_SYMBOLS)],
        family=_guess_family(name),
    )


def ordered(names: set[str] | list[str]) -> list[str]:
    """Providers in a stable display order: baseline first, known ones in table order, then the
    rest alphabetically, so legends and table columns line up across pages."""
    known = list(_KNOWN)
    return sorted(
        set(names),
        key=lambda n: (n != BASELINE, n not in _KNOWN, known.index(n) if n in _KNOWN else 0, n),
    )
