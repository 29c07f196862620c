"""How a benchmark provider looks and what it computes, from its declared metadata.

A registered provider's metadata (:class:`~generator.data.records.ProviderInfo`: label,
scheme, origin, which engines' users can install it, style) is the code's registry's
(:mod:`generator.data.provider_registry`), whatever a bench file recorded: a file can never
redefine what ``torch-bf16`` is, or which provider runs the shipped files, on any page. A
provider the registry does not know (a contributed kernel) keeps the metadata its own
device's files record (:func:`learn`), under a name scoped to that device
(:func:`namespaced`), so it cannot reach another device's pages either, and it never takes a
role reserved for the registry's (baseline, installable). Every chart, legend, table and
recommendation asks this module; nothing here looks at a provider's name to decide what it
is. A name with no metadata (a bench file written before metadata existed, or a series that is
not a provider, like a tuned kernel's line) gets its name as label, a spare slot of the
palette, and no scheme: it is never counted as a drop-in candidate. Every provider's colour is
its slot of :data:`PALETTE`, declared once here.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from generator.data.provider_registry import registered
from generator.data.records import COLOR_PATTERN, Origin, ProviderInfo, Scheme

BASELINE = "torch-bf16"  # kept for templates that label the GEMM baseline by name
CHECKPOINT_SCHEME = Scheme.FP8_BLOCK  # what the catalog's models are quantized as
MAX_SHOWN = 6  # providers a chart draws before the reader asks for more

# Page backgrounds of the two Material palettes (white; "slate": hsl(225, 15%, 14%)). Line
# colours are adjusted per palette until they stand out from it (see legible()).
LIGHT_BG = "#ffffff"
DARK_BG = "#1e2129"
MIN_CONTRAST = 4.0  # above WCAG's 3:1 for graphics: thin dashed lines need more


class Role(str, enum.Enum):
    """What a provider is to a reader deciding what to install, from its recorded metadata."""

    BASELINE = "baseline"  # bf16: what every speedup is measured against
    INSTALLABLE = "installable"  # the engines' kernel with the catalog's files (the bundle)
    ENGINE = "engine"  # the engines' kernel with the files they ship, or no file (defaults)
    LIBRARY = "library"  # cuBLAS through torch: no file of ours changes it
    OURS = "ours"  # this project's research kernels: no engine runs them
    UNKNOWN = "unknown"  # no metadata recorded


# legend groups and table order: what a reader installs first, bf16 and the rest after
ROLE_ORDER = (Role.INSTALLABLE, Role.ENGINE, Role.BASELINE, Role.LIBRARY, Role.OURS, Role.UNKNOWN)

ROLE_TAGS = {
    Role.BASELINE: "bf16",
    Role.INSTALLABLE: "our files",
    Role.ENGINE: "engine's own files",
    Role.LIBRARY: "library, not changed by our files",
    Role.OURS: "research kernel, no engine runs it",
    Role.UNKNOWN: "no metadata",
}

# an installable provider on a page that has no file of it: tuned by us, nothing to install here
NOT_PUBLISHED_TITLE = "Tuned by us, no file of it published here"

# The engines' Triton kernel with their own files is what they run without our files only on
# a GPU where their dispatch rules pick Triton by default (AMD Instinct); on a Hopper they run
# DeepGEMM or FlashInfer there, and this kernel runs only if Triton runs. The role's title says
# what it is everywhere; a chart whose every engine runs Triton by default says the other.
ENGINE_TODAY_TITLE = "What the engines run without our files (their Triton kernel)"

ROLE_TITLES = {
    Role.BASELINE: "Baseline",
    Role.INSTALLABLE: "Installed by our files",
    Role.ENGINE: "The engines' Triton kernel, their own files or default",
    Role.LIBRARY: "Libraries (not changed by our files)",
    Role.OURS: "Research kernels (no engine runs them)",
    Role.UNKNOWN: "Other",
}

_KNOWN: dict[str, ProviderInfo] = dict(registered())  # the registry's, then learned ones
_SEEN: dict[str, None] = {}  # registered providers with rows in the loaded catalog, in order
_COLOR = re.compile(COLOR_PATTERN)
FALLBACK_COLOR = "#7f7f7f"  # what a colour that is not "#rrggbb" is drawn as

# The catalog's one palette: the colour of every provider wherever it is drawn (lines, bars,
# legend keys, tables). Picked greedily for the largest smallest CIELAB distance between two
# entries as drawn on both Material palettes (after legible()): every pair differs by
# Delta-E >= 19 on white and on slate, so no two providers look alike (the registry's own
# colours had vLLM's and SGLang's shipped files in two near-identical dark purples). Slot i is
# the i-th provider of the registry; the slots after them go to contributed providers and names
# with no metadata, in the order the catalog meets them.
PALETTE = (
    "#555555",
    "#dd00ff",
    "#ff0000",
    "#009900",
    "#0077ff",
    "#ff3399",
    "#dd9900",
    "#00ffbb",
    "#dd99ff",
    "#dd7777",
    "#0099dd",
    "#bbdd55",
    "#ff3355",
    "#5500ff",
    "#770055",
    "#ff33dd",
    "#ff7733",
    "#005500",
    "#000099",
    "#ffdd99",
    "#773300",
    "#55bbbb",
    "#ffbbdd",
    "#ff77bb",
    "#9900bb",
    "#005577",
    "#00ff77",
    "#bbffbb",
    "#77bb00",
    "#bbbbff",
    "#555500",
    "#333377",
    "#7755dd",
    "#dd55bb",
    "#5599ff",
    "#ff9955",
)
_SLOTS: dict[str, int] = {}  # contributed / unknown name -> its palette slot, as met
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
    def config_source(self) -> str | None:
        return self.info.config_source if self.info else None

    @property
    def description(self) -> str:
        return self.info.description if self.info else "no description was recorded"

    @property
    def role(self) -> Role:
        if self.info is None:
            return Role.UNKNOWN
        if self.info.baseline:
            return Role.BASELINE
        if self.info.installable:
            return Role.INSTALLABLE
        return {
            Origin.ENGINE: Role.ENGINE,
            Origin.LIBRARY: Role.LIBRARY,
            Origin.OURS: Role.OURS,
        }[self.info.origin]

    @property
    def shipped_set(self) -> str | None:
        """The engine release whose shipped files this provider runs ("vllm-0.33.0"), if any."""
        src = self.config_source or ""
        return src.split(":", 1)[1] if src.startswith("shipped:") else None

    @property
    def color_light(self) -> str:
        return legible(self.color, LIGHT_BG)

    @property
    def color_dark(self) -> str:
        return legible(self.color, DARK_BG)

    @property
    def drop_in_block(self) -> bool:
        """Computes the checkpoint's scheme (FP8 block) with the activation quantization a real
        layer pays for, or is the bf16 baseline: a candidate in the recommendation table."""
        if self.info is None:
            return False
        if self.info.baseline and self.info.scheme == Scheme.BF16:
            return True
        return self.info.scheme == CHECKPOINT_SCHEME and self.info.quant_timed


def _rgb(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return tuple(int(c[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _luminance(rgb: tuple[float, float, float]) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(_rgb(a)), _luminance(_rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def legible(color: str, background: str, minimum: float = MIN_CONTRAST) -> str:
    """``color`` mixed towards black (light page) or white (dark page) just enough to reach
    ``minimum`` contrast with ``background``; unchanged if it already does. Keeps the hue, so
    a provider is recognisable in both palettes."""
    try:
        rgb = _rgb(color)
    except ValueError:
        return color
    if contrast(color, background) >= minimum:
        return color
    target = 1.0 if _luminance(_rgb(background)) < 0.5 else 0.0
    out = color
    for step in range(1, 21):
        t = step / 20
        mixed = tuple(v + (target - v) * t for v in rgb)
        out = "#" + "".join(f"{round(v * 255):02x}" for v in mixed)
        if contrast(out, background) >= minimum:
            break
    return out


def css_color(color: str) -> str:
    """``color`` if it is ``#rrggbb``, else a neutral grey: the only form that may stand in a
    ``style`` attribute (a declaration list there could restyle or overlay the whole page)."""
    return color if _COLOR.match(color) else FALLBACK_COLOR


def namespaced(name: str, device: str) -> str:
    """The name a provider the registry does not know goes by in the catalog: scoped to the
    device whose files record it ("mine@NVIDIA_X"), so two devices' providers of one name are
    two providers, and neither's metadata is the other's."""
    return f"{name}@{device}"


def learn(infos: Iterable[ProviderInfo], device: str) -> dict[str, str]:
    """Take in the metadata one device's bench files record; returns {recorded name: the
    name its rows go by} for the providers the registry does not know (see
    :func:`namespaced`). A registered provider's recorded metadata is not used: the
    registry's is (``validate`` refuses a file whose record of it means something else)."""
    renames: dict[str, str] = {}
    known = registered()
    for info in infos:
        if info.name in known:
            _SEEN[info.name] = None
            continue
        key = namespaced(info.name, device)
        # roles that decide every speedup and bundle are the registry's alone
        _KNOWN[key] = info.model_copy(update={"name": key, "baseline": False, "installable": []})
        renames[info.name] = key
    return renames


def seen(names: Iterable[str]) -> None:
    """Note the registered providers that have rows in the loaded catalog (:func:`known`)."""
    known = registered()
    for name in names:
        if name in known:
            _SEEN[name] = None


def forget() -> None:
    """Start a new catalog (tests build several): only the registry's metadata."""
    _KNOWN.clear()
    _KNOWN.update(registered())
    _SEEN.clear()
    _SLOTS.clear()


def style(name: str) -> ProviderStyle:
    """Style of a provider from its recorded metadata; unknown names get a colour and symbol
    stable across builds."""
    info = _KNOWN.get(name)
    if info is not None:
        return ProviderStyle(name, info.label, color_of(name), info.dash, info.symbol, info)
    h = zlib.crc32(name.encode())
    return ProviderStyle(
        name=name,
        label=name,
        color=color_of(name),
        dash="longdash",
        symbol=_SYMBOLS[h % len(_SYMBOLS)],
        info=None,
    )


def color_of(name: str) -> str:
    """A provider's colour from :data:`PALETTE`: a registered provider's slot is its place in
    the registry; any other name takes the next free slot the first time it is met (stable for
    one catalog: the loading order is), and only past the palette's end a colour by hash."""
    order = list(registered())
    if name in order and order.index(name) < len(PALETTE):
        return PALETTE[order.index(name)]
    if name not in _SLOTS:
        _SLOTS[name] = len(order) + len(_SLOTS)
    slot = _SLOTS[name]
    if slot < len(PALETTE):
        return PALETTE[slot]
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


def known() -> list[str]:
    """The registered providers with rows in the loaded catalog, in the registry's order
    (what the methodology's provider table lists)."""
    return [n for n in _KNOWN if n in _SEEN]


# the dtype part of an engine file's name, per scheme of an installable provider
_FILE_DTYPE = {Scheme.FP8_BLOCK: "fp8", Scheme.INT8_BLOCK: "int8"}


def file_dtype(name: str) -> str | None:
    """The input dtype of the engine config files that install provider ``name`` ("fp8",
    "int8"); None when no file of ours installs it."""
    st = style(name)
    return _FILE_DTYPE.get(st.scheme) if st.role == Role.INSTALLABLE and st.scheme else None


def tuned_fp8(names: Iterable[str]) -> str | None:
    """The provider the bundles install for the checkpoints' scheme (our tuned files)."""
    for n in ordered(list(names)):
        st = style(n)
        if st.role == Role.INSTALLABLE and st.scheme == CHECKPOINT_SCHEME:
            return n
    return None


def shipped(names: Iterable[str]) -> dict[str, str]:
    """{shipped set id: provider} for the providers running an engine's shipped files (FP8)."""
    out = {}
    for n in ordered(list(names)):
        st = style(n)
        if st.shipped_set and st.scheme == CHECKPOINT_SCHEME:
            out.setdefault(st.shipped_set, n)
    return out


def engine_default(names: Iterable[str], engine: str) -> str | None:
    """The provider running ``engine``'s default config (FP8), by its recorded config source:
    "default" is vLLM's (the kernel's own default), "default:<engine>" another engine's."""
    want = "default" if engine == "vllm" else f"default:{engine}"
    for n in ordered(list(names)):
        st = style(n)
        if st.config_source == want and st.scheme == CHECKPOINT_SCHEME:
            return n
    return None


def ordered(names: set[str] | list[str]) -> list[str]:
    """Providers in a stable display order: baselines first, then the registry's order, then
    the contributed ones as learned, then names with no metadata alphabetically, so legends
    and table columns line up across pages."""
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
