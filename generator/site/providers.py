"""How a benchmark provider looks and what it computes, read from the records.

Every bench file carries the metadata its providers declared
(:class:`~generator.data.records.ProviderInfo`: label, scheme, origin, which engines' users can
install it, style). The catalog teaches this module those records when it loads
(:func:`learn`), and every chart, legend, table and recommendation asks it; nothing here looks
at a provider's name to decide what it is. A name with no metadata (a bench file written
before metadata existed, or a series that is not a provider, like a tuned kernel's line) gets
its name as label, a colour stable across builds, and no scheme: it is never counted as a
drop-in candidate.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from generator.data.records import Origin, ProviderInfo, Scheme

BASELINE = "torch-bf16"  # kept for templates that label the GEMM baseline by name
CHECKPOINT_SCHEME = Scheme.FP8_BLOCK  # what the catalog's models are quantized as

_KNOWN: dict[str, ProviderInfo] = {}

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


@dataclass(frozen=True)
class ProviderStyle:
    name: str
    label: str
    color: str
    dash: str  # plotly line dash
    symbol: str  # plotly marker symbol
    info: ProviderInfo | None  # None: no metadata recorded for this name

    @property
    def scheme(self) -> Scheme | None:
        return self.info.scheme if self.info else None

    @property
    def is_baseline(self) -> bool:
        return bool(self.info and self.info.baseline)

    @property
    def installable(self) -> list[str]:
        return list(self.info.installable) if self.info else []

    @property
    def origin(self) -> Origin | None:
        return self.info.origin if self.info else None

    @property
    def drop_in_block(self) -> bool:
        """Computes the checkpoint's scheme (FP8 block) with the activation quantization a real
        layer pays for, or is the bf16 baseline: a candidate in the recommendation table."""
        if self.info is None:
            return False
        if self.info.baseline and self.info.scheme == Scheme.BF16:
            return True
        return self.info.scheme == CHECKPOINT_SCHEME and self.info.quant_timed


def learn(infos: Iterable[ProviderInfo]) -> None:
    """Remember the metadata recorded in the loaded bench files (the last one wins)."""
    for i in infos:
        _KNOWN[i.name] = i


def forget() -> None:
    """Start a new catalog (tests build several)."""
    _KNOWN.clear()


def style(name: str) -> ProviderStyle:
    """Style of a provider from its recorded metadata; unknown names get a colour and symbol
    stable across builds."""
    info = _KNOWN.get(name)
    if info is not None:
        return ProviderStyle(name, info.label, info.color, info.dash, info.symbol, info)
    h = zlib.crc32(name.encode())
    return ProviderStyle(
        name=name,
        label=name,
        color=_PALETTE[h % len(_PALETTE)],
        dash="longdash",
        symbol=_SYMBOLS[(h // len(_PALETTE)) % len(_SYMBOLS)],
        info=None,
    )


def ordered(names: set[str] | list[str]) -> list[str]:
    """Providers in a stable display order: baselines first, then in the order their metadata
    was recorded (the benchmark's registry order), then unknown names alphabetically, so
    legends and table columns line up across pages."""
    known = list(_KNOWN)
    return sorted(
        set(names),
        key=lambda n: (
            not style(n).is_baseline,
            n not in _KNOWN,
            known.index(n) if n in _KNOWN else 0,
            n,
        ),
    )
