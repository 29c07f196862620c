"""The steps of the pruned search: which configs to time in which pass.

Coarse-to-fine: (1) one representative config per tile shape, (2) every variant of the best
tiles in the other knobs, (3) the best config with each GROUP_SIZE_M. Kept apart from the
search loop (``generator.tune.search``) because each step is a heuristic the pruning check
judges against the exhaustive answer.
"""

from __future__ import annotations

from generator.configs.keys import BLOCK_KEYS, Config

_TILE_AND_GROUP = (*BLOCK_KEYS, "GROUP_SIZE_M")


def tile_of(cfg: Config) -> tuple[int, int, int]:
    return cfg["BLOCK_SIZE_M"], cfg["BLOCK_SIZE_N"], cfg["BLOCK_SIZE_K"]


def coarse_representatives(candidates: list[Config]) -> list[Config]:
    """One config per tile shape for the first timing pass.

    For each (BLOCK_SIZE_M, BLOCK_SIZE_N, BLOCK_SIZE_K) we time the candidate closest to a
    sensible default: 3 stages (4 for BLOCK_SIZE_K 64, to keep the same bytes in flight),
    4 warps (8 for tiles of 128 x 128 and up), the smallest GROUP_SIZE_M. The tile shape decides
    most of the time; stages, warps and grouping are refined around the best tiles.
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
                    c["GROUP_SIZE_M"],
                ),
            )
        )
    return reps


def refine_neighbours(candidates: list[Config], tiles: list[tuple[int, int, int]]) -> list[Config]:
    """Every variant of the given tiles in the other knobs (num_warps, num_stages and a
    kernel's own keys), at their smallest group."""
    out = []
    for tile in tiles:
        variants: dict[tuple, Config] = {}
        for cfg in candidates:
            if tile_of(cfg) != tile:
                continue
            key = tuple(sorted((k, v) for k, v in cfg.items() if k not in _TILE_AND_GROUP))
            if key not in variants or cfg["GROUP_SIZE_M"] < variants[key]["GROUP_SIZE_M"]:
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
