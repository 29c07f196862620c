"""The steps of the pruned search: which configs to time in which pass.

Coarse-to-fine: (1) one representative config per tile shape, (2) every variant of the best
tiles in the other knobs, (3) the best config with each GROUP_SIZE_M. Kept apart from the
search loop (``generator.tune.search``) because each step is a heuristic the pruning check
judges against the exhaustive answer.
"""

from __future__ import annotations

import math

from generator.configs.keys import BLOCK_KEYS, Config

_TILE_AND_GROUP = (*BLOCK_KEYS, "GROUP_SIZE_M")


def tile_of(cfg: Config) -> tuple[int, int, int]:
    return cfg["BLOCK_SIZE_M"], cfg["BLOCK_SIZE_N"], cfg["BLOCK_SIZE_K"]


# The grouping the coarse and refine passes time each tile at. GROUP_SIZE_M 1 walks every tile
# column of one tile row before the next row, so a wide weight (N x K larger than L2) is
# streamed from HBM once per tile row: at M >= 256 a good tile judged at group 1 looks up to
# 1.3x slower than it is and was dropped before its grouping was tuned (H200, 24576x7168,
# M = 1024: {64, 128, 128, G16, 4 warps, 4 stages} 506 us, missed for a 641 us config). 16
# tile rows per group keep a weight tile in L2 while it is reused; the group pass then tries
# the others around the best config.
REPRESENTATIVE_GROUP = 16


def _group_distance(cfg: Config) -> float:
    """How far a config's GROUP_SIZE_M is from :data:`REPRESENTATIVE_GROUP` (in factors of 2);
    after pruning, equivalent groupings are already merged, so at small M only group 1 is left."""
    return abs(math.log2(max(1, cfg["GROUP_SIZE_M"])) - math.log2(REPRESENTATIVE_GROUP))


def coarse_representatives(candidates: list[Config]) -> list[Config]:
    """One config per tile shape for the first timing pass.

    For each (BLOCK_SIZE_M, BLOCK_SIZE_N, BLOCK_SIZE_K) we time the candidate closest to a
    sensible default: 3 stages (4 for BLOCK_SIZE_K 64, to keep the same bytes in flight),
    4 warps (8 for tiles of 128 x 128 and up), the GROUP_SIZE_M nearest to
    :data:`REPRESENTATIVE_GROUP`. The tile shape decides most of the time; stages, warps and
    grouping are refined around the best tiles.
    """
    by_tile: dict[tuple[int, int, int], list[Config]] = {}
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
                    _group_distance(c),
                    c["GROUP_SIZE_M"],
                ),
            )
        )
    return reps


def refine_neighbours(candidates: list[Config], tiles: list[tuple[int, int, int]]) -> list[Config]:
    """Every variant of the given tiles in the other knobs (num_warps, num_stages and a
    kernel's own keys), at the GROUP_SIZE_M nearest to :data:`REPRESENTATIVE_GROUP`."""
    out = []
    for tile in tiles:
        variants: dict[tuple, Config] = {}
        for cfg in candidates:
            if tile_of(cfg) != tile:
                continue
            key = tuple(sorted((k, v) for k, v in cfg.items() if k not in _TILE_AND_GROUP))
            best = variants.get(key)
            if best is None or (_group_distance(cfg), cfg["GROUP_SIZE_M"]) < (
                _group_distance(best),
                best["GROUP_SIZE_M"],
            ):
                variants[key] = cfg
        out.extend(variants.values())
    return out


def group_variants(candidates: list[Config], best: Config) -> list[Config]:
    """The best config with each surviving GROUP_SIZE_M (same keys otherwise: a kernel's space
    may leave a key out, e.g. the decode kernel's SPLIT_K, to mean "chosen at launch")."""

    def others(cfg: Config) -> Config:
        return {k: v for k, v in cfg.items() if k != "GROUP_SIZE_M"}

    return [
        c
        for c in candidates
        if others(c) == others(best) and c["GROUP_SIZE_M"] != best["GROUP_SIZE_M"]
    ]
