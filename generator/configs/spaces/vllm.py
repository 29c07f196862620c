"""The config search space and the rules that prune it before anything is launched.

The full space is vLLM's (``benchmark_w8a8_block_fp8.py``): num_stages {2,3,4,5} x BLOCK_SIZE_M
{16,32,64,128,256} x BLOCK_SIZE_N {32,64,128,256} x BLOCK_SIZE_K {64,128} x num_warps {4,8} x
GROUP_SIZE_M {1,16,32,64} = 1280 configs. Every rule below removes configs that cannot be
correct, cannot launch, or cannot win, and says why; ``--exhaustive`` applies only the rules
marked *hard* (correctness and launchability), which is how the pruning is checked.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from kernels.tiling import BLOCK_KEYS, CONFIG_KEYS

STAGES = (2, 3, 4, 5)
BLOCK_M = (16, 32, 64, 128, 256)
BLOCK_N = (32, 64, 128, 256)
BLOCK_K = (64, 128)
WARPS = (4, 8)
GROUPS = (1, 16, 32, 64)

# Shared memory a block may opt into on Hopper (227 KB) and Ampere (163 KB).
SMEM_BYTES_SM90 = 232_448
SMEM_BYTES_SM80 = 166_912


def full_space() -> list[dict[str, int]]:
    """vLLM's 1280 configs, in its loop order."""
    return [
        dict(zip(CONFIG_KEYS, (bm, bn, bk, g, w, s), strict=True))
        for s, bm, bk, bn, w, g in itertools.product(
            STAGES, BLOCK_M, BLOCK_K, BLOCK_N, WARPS, GROUPS
        )
    ]


def next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


@dataclass(frozen=True)
class Problem:
    """What the pruning rules need to know about one tuning task."""

    M: int
    N: int
    K: int
    block_k: int = 128
    a_bytes: int = 1  # element size of the A operand in shared memory (2 for bf16 A16W8)
    b_bytes: int = 1
    smem_bytes: int = SMEM_BYTES_SM90


@dataclass
class PruneReport:
    """How many configs each rule removed (stored with the tuning record)."""

    in_space: int = 0
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def pruned(self) -> int:
        return sum(self.removed.values())


def smem_estimate(cfg: dict[str, int], p: Problem) -> int:
    """Bytes of the software pipeline's buffers: one A and one B tile per stage."""
    tile = cfg["BLOCK_SIZE_M"] * cfg["BLOCK_SIZE_K"] * p.a_bytes
    tile += cfg["BLOCK_SIZE_K"] * cfg["BLOCK_SIZE_N"] * p.b_bytes
    return cfg["num_stages"] * tile


def _bm_range(M: int) -> tuple[int, int]:
    """Useful BLOCK_SIZE_M values for M rows.

    Upper: a tile taller than the next power of two of M only multiplies padding rows, except
    that 64 stays allowed (Hopper's warpgroup MMA is 64 rows tall, so 64 can beat 16 or 32 even
    at M = 1). Lower: at large M a short tile re-reads all of B M / BLOCK_SIZE_M times and its
    arithmetic intensity is too low to feed the tensor cores; below a quarter of M (at most 64)
    is never competitive.
    """
    p = next_pow2(M)
    return max(16, min(64, p // 4)), min(256, max(64, p))


def _effective_group(cfg: dict[str, int], M: int) -> int:
    """All GROUP_SIZE_M >= the number of tile rows behave identically (one group)."""
    return min(cfg["GROUP_SIZE_M"], -(-M // cfg["BLOCK_SIZE_M"]))


def prune(
    configs: Iterable[dict[str, int]], p: Problem, exhaustive: bool = False
) -> tuple[list[dict[str, int]], PruneReport]:
    """Apply the rules; returns the surviving configs (space order) and per-rule counts."""
    configs = list(configs)
    report = PruneReport(in_space=len(configs))
    bm_lo, bm_hi = _bm_range(p.M)

    def drop(rule: str) -> None:
        report.removed[rule] = report.removed.get(rule, 0) + 1

    kept: list[dict[str, int]] = []
    seen_equivalent: set[tuple[int, ...]] = set()
    for cfg in configs:
        # hard: a K tile must sit inside one scale block (the kernel reads one scale per tile).
        if p.block_k % cfg["BLOCK_SIZE_K"]:
            drop("BLOCK_SIZE_K does not divide block_k")
            continue
        # hard: the pipeline's buffers must fit in shared memory, or the launch fails.
        if smem_estimate(cfg, p) > p.smem_bytes:
            drop("shared memory")
            continue
        # hard (duplicates): configs that differ only in an equivalent GROUP_SIZE_M run the
        # same program order; time one of them.
        key = tuple(sorted((k, v) for k, v in cfg.items() if k != "GROUP_SIZE_M"))
        key += (_effective_group(cfg, p.M),)
        if key in seen_equivalent:
            drop("equivalent GROUP_SIZE_M")
            continue
        seen_equivalent.add(key)
        if not exhaustive:
            if not bm_lo <= cfg["BLOCK_SIZE_M"] <= bm_hi:
                drop("BLOCK_SIZE_M far from M")
                continue
            # A tile wider than the next power of two of N is mostly padding columns.
            if cfg["BLOCK_SIZE_N"] > max(32, next_pow2(p.N)):
                drop("BLOCK_SIZE_N above N")
                continue
            # A K tile longer than K (rounded up) loads only padding.
            if cfg["BLOCK_SIZE_K"] > max(64, next_pow2(p.K)):
                drop("BLOCK_SIZE_K above K")
                continue
            # Eight warps on a tile under 64 x 128 leave each thread fewer than 32 accumulators
            # and the MMA units of half the warps idle; such configs never win.
            if cfg["num_warps"] == 8 and cfg["BLOCK_SIZE_M"] * cfg["BLOCK_SIZE_N"] < 64 * 128:
                drop("8 warps on a small tile")
                continue
        kept.append(cfg)
    return kept, report


_TILE_AND_GROUP = (*BLOCK_KEYS, "GROUP_SIZE_M")


def tile_of(cfg: dict[str, int]) -> tuple[int, int, int]:
    return cfg["BLOCK_SIZE_M"], cfg["BLOCK_SIZE_N"], cfg["BLOCK_SIZE_K"]


def coarse_representatives(candidates: list[dict[str, int]]) -> list[dict[str, int]]:
    """One config per tile shape for the first timing pass.

    For each (BLOCK_SIZE_M, BLOCK_SIZE_N, BLOCK_SIZE_K) we time the candidate closest to a
    sensible default: 3 stages (4 for BLOCK_SIZE_K 64, to keep the same bytes in flight),
    4 warps (8 for tiles of 128 x 128 and up), the smallest GROUP_SIZE_M. The tile shape decides
    most of the time; stages, warps and grouping are refined around the best tiles.
    """
    by_tile: dict[tuple[int, int, int], list[dict[str, int]]] = {}
    for cfg in candidates:
        by_tile.setdefault(tile_of(cfg), []).append(cfg)
    reps = []
    for (bm, bn, bk), group in by_tile.items():
        want_stages = 3 if bk == 128 else 4
        want_warps = 8 if bm * bn >= 128 * 128 else 4
        reps.append(
            min(
                group,
                key=lambda c: (
                    abs(c["num_stages"] - want_stages),
                    c["num_warps"] != want_warps,
                    c["GROUP_SIZE_M"],
                ),
            )
        )
    return reps


def refine_neighbours(
    candidates: list[dict[str, int]], tiles: list[tuple[int, int, int]]
) -> list[dict[str, int]]:
    """Every variant of the given tiles in the other knobs (num_warps, num_stages and a
    kernel's own keys), at their smallest group."""
    out = []
    for tile in tiles:
        variants: dict[tuple, dict[str, int]] = {}
        for cfg in candidates:
            if tile_of(cfg) != tile:
                continue
            key = tuple(sorted((k, v) for k, v in cfg.items() if k not in _TILE_AND_GROUP))
            if key not in variants or cfg["GROUP_SIZE_M"] < variants[key]["GROUP_SIZE_M"]:
                variants[key] = cfg
        out.extend(variants.values())
    return out


def group_variants(candidates: list[dict[str, int]], best: dict[str, int]) -> list[dict[str, int]]:
    """The best config with each surviving GROUP_SIZE_M (same keys otherwise: a kernel's space
    may leave a key out, e.g. the decode kernel's SPLIT_K, to mean "chosen at launch")."""

    def others(cfg: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in cfg.items() if k != "GROUP_SIZE_M"}

    return [
        c
        for c in candidates
        if others(c) == others(best) and c["GROUP_SIZE_M"] != best["GROUP_SIZE_M"]
    ]
