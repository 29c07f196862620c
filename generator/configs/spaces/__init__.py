"""One search space per kernel: its configs, its pruning rules, its own reasons.

Why per kernel: a rule is an argument about one kernel's tiles ("a tile taller than M only
multiplies padding rows" holds where BLOCK_SIZE_M counts tokens). Applied to another kernel's
space it silently removes configs it knows nothing about (vLLM's rules used to drop 60 of the
decode kernel's 180 configs and all 48 of the Gluon kernel's at M <= 16). So each kernel names
its space here (``generator.configs.spaces.<kernel>``) with the rules that hold for it, and a
kernel that takes the same knobs as another says so by naming that space.

A rule is *hard* when it removes configs that cannot be correct or cannot launch (applied in
every mode, ``--exhaustive`` included), *soft* when it removes configs that are not expected to
win (applied only in the pruned search; each is checked against the exhaustive answer by the
pruning check). The tiers of a space: ``exhaustive`` (hard rules only), ``pruned`` (all rules).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from generator.configs.keys import Config

# Shared memory a block may opt into on Hopper (227 KB). Not an assumption about the device a
# task runs on: the tuner sizes the shared-memory rule from the device it runs on
# (``generator.tune.search.device_smem_bytes``: 99 KB on Ada and consumer Blackwell, 64 KB on
# MI300). This is the size of a Problem built without a device (CPU runs, tests).
SMEM_BYTES_SM90 = 232_448

# The platforms a space may add knobs for: "cuda" (NVIDIA, and the CPU interpreter) and "rocm".
PLATFORMS = ("cuda", "rocm")


@dataclass(frozen=True)
class Problem:
    """What the pruning rules know about one tuning task."""

    M: int
    N: int
    K: int
    block_k: int = 128
    a_bytes: int = 1  # element size of the A operand in shared memory (2 for bf16 A16W8)
    b_bytes: int = 1
    smem_bytes: int = SMEM_BYTES_SM90  # what a block may use on the device (queried there)
    platform: str = "cuda"  # which platform's knobs the space adds (SearchSpace.configs_for)


@dataclass
class PruneReport:
    """How many configs each rule removed (stored with the tuning record)."""

    in_space: int = 0
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def pruned(self) -> int:
        return sum(self.removed.values())


@dataclass(frozen=True)
class Rule:
    """``drops(cfg, problem)`` is True for a config the rule removes; ``name`` is what the
    tuning record counts it under."""

    name: str
    hard: bool
    drops: Callable[[Config, Problem], bool]


def next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def smem_estimate(cfg: Config, p: Problem) -> int:
    """Bytes of a software pipeline's buffers: one A and one B tile per stage."""
    tile = cfg["BLOCK_SIZE_M"] * cfg["BLOCK_SIZE_K"] * p.a_bytes
    tile += cfg["BLOCK_SIZE_K"] * cfg["BLOCK_SIZE_N"] * p.b_bytes
    return cfg["num_stages"] * tile


K_TILE_IN_SCALE_BLOCK = Rule(
    "BLOCK_SIZE_K does not divide block_k",
    hard=True,
    # The kernels read one weight scale per K tile: a tile must sit inside one scale block.
    drops=lambda cfg, p: bool(p.block_k % cfg["BLOCK_SIZE_K"]),
)
FITS_SHARED_MEMORY = Rule(
    "shared memory",
    hard=True,
    # The pipeline's buffers must fit in shared memory, or the launch fails.
    drops=lambda cfg, p: smem_estimate(cfg, p) > p.smem_bytes,
)


EQUIVALENT_GROUP = "equivalent GROUP_SIZE_M"


def _effective_group(cfg: Config, M: int) -> int:
    """All GROUP_SIZE_M >= the number of tile rows behave identically (one group)."""
    return min(cfg["GROUP_SIZE_M"], -(-M // cfg["BLOCK_SIZE_M"]))


@dataclass(frozen=True)
class SearchSpace:
    """A kernel's configs (``configs()``, in a stable order) and the rules that prune them.

    ``platform_knobs`` are keys that exist on one platform only (the AMD backend's options on
    "rocm"), with the values the space tries there: :meth:`configs_for` crosses every config
    with them, and a config may carry them (the validator's ranges read them too)."""

    name: str
    configs: Callable[[], list[Config]]
    rules: tuple[Rule, ...]
    doc: str = ""
    platform_knobs: Mapping[str, Mapping[str, tuple[int, ...]]] = field(default_factory=dict)

    def configs_for(self, platform: str) -> list[Config]:
        """The space on ``platform``: every config, crossed with that platform's knobs."""
        if platform not in PLATFORMS:
            raise ValueError(f"platform: '{platform}' is not one of {PLATFORMS}")
        base = self.configs()
        knobs = self.platform_knobs.get(platform, {})
        if not knobs:
            return base
        names = list(knobs)
        return [
            {**cfg, **dict(zip(names, values, strict=True))}
            for cfg in base
            for values in itertools.product(*(knobs[n] for n in names))
        ]

    def prune(
        self, p: Problem, exhaustive: bool = False, configs: Iterable[Config] | None = None
    ) -> tuple[list[Config], PruneReport]:
        """Apply the rules (hard only with ``exhaustive``); returns the surviving configs in
        space order and per-rule counts. Configs that differ only in an equivalent
        GROUP_SIZE_M (hard: the same program order) are timed once."""
        configs = list(self.configs_for(p.platform) if configs is None else configs)
        report = PruneReport(in_space=len(configs))
        hard = [r for r in self.rules if r.hard]
        soft = [] if exhaustive else [r for r in self.rules if not r.hard]
        kept: list[Config] = []
        seen: set[tuple] = set()
        for cfg in configs:
            name = next((r.name for r in hard if r.drops(cfg, p)), None)
            if name is None:
                key = tuple(sorted((k, v) for k, v in cfg.items() if k != "GROUP_SIZE_M"))
                key += (_effective_group(cfg, p.M),)
                if key in seen:
                    name = EQUIVALENT_GROUP
                seen.add(key)
            if name is None:
                name = next((r.name for r in soft if r.drops(cfg, p)), None)
            if name is not None:
                report.removed[name] = report.removed.get(name, 0) + 1
                continue
            kept.append(cfg)
        return kept, report
