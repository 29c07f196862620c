"""The drop-in kernel's space: vLLM's 1280 configs and the rules that prune them.

The full space is vLLM's (``benchmark_w8a8_block_fp8.py``): num_stages {2,3,4,5} x BLOCK_SIZE_M
{16,32,64,128,256} x BLOCK_SIZE_N {32,64,128,256} x BLOCK_SIZE_K {64,128} x num_warps {4,8} x
GROUP_SIZE_M {1,16,32,64} = 1280 configs. BLOCK_SIZE_M tiles the tokens (M), BLOCK_SIZE_N the
weight's output features (N). Every rule removes configs that cannot be correct, cannot launch,
or are not expected to win, and says why; ``--exhaustive`` applies only the hard ones, which is
how the soft ones are checked (``tune --pruning-check``).

Kernels with the same knobs and the same tile roles name this space too: the split-K and
persistent variants of the drop-in kernel, and the batched A16W8 kernel (its A tile is bf16:
the shared-memory rule reads ``Problem.a_bytes``).

On an AMD GPU (``Problem.platform == "rocm"``) every config is also tried with the AMD backend's
``matrix_instr_nonkdim`` 16 / 32 (the 16x16 or 32x32 MFMA; vLLM's shipped MI300X files use 16)
and ``waves_per_eu`` 0 / 2 (no occupancy hint, or two waves): 4 x 1280 configs, keys vLLM's
ROCm tuner sets and its loader passes to the launch (``platforms.json``). ``kpack`` is
left at Triton's default 1 (deprecated on gfx950). Which of these pay on MI300 is not measured
yet: the choice of values is vLLM's ROCm tuning space cut to two values each, and the pruning
check on an AMD GPU is what would judge it.
"""

from __future__ import annotations

import itertools

from generator.configs.keys import CONFIG_KEYS, Config
from generator.configs.spaces import (
    FITS_SHARED_MEMORY,
    K_TILE_IN_SCALE_BLOCK,
    Problem,
    Rule,
    SearchSpace,
    next_pow2,
)

STAGES = (2, 3, 4, 5)
BLOCK_M = (16, 32, 64, 128, 256)
BLOCK_N = (32, 64, 128, 256)
BLOCK_K = (64, 128)
WARPS = (4, 8)
GROUPS = (1, 16, 32, 64)


def full_space() -> list[Config]:
    """vLLM's 1280 configs, in its loop order."""
    return [
        dict(zip(CONFIG_KEYS, (bm, bn, bk, g, w, s), strict=True))
        for s, bm, bk, bn, w, g in itertools.product(
            STAGES, BLOCK_M, BLOCK_K, BLOCK_N, WARPS, GROUPS
        )
    ]


def bm_range(M: int) -> tuple[int, int]:
    """Useful BLOCK_SIZE_M values for M rows.

    Upper: a tile taller than the next power of two of M only multiplies padding rows, except
    that 64 stays allowed (Hopper's warpgroup MMA is 64 rows tall, so 64 can beat 16 or 32 even
    at M = 1). Lower: at large M a short tile re-reads all of B M / BLOCK_SIZE_M times and its
    arithmetic intensity is too low to feed the tensor cores; below a quarter of M (at most 64)
    is never competitive.
    """
    p = next_pow2(M)
    return max(16, min(64, p // 4)), min(256, max(64, p))


def _bm_far_from_m(cfg: Config, p: Problem) -> bool:
    lo, hi = bm_range(p.M)
    return not lo <= cfg["BLOCK_SIZE_M"] <= hi


RULES = (
    K_TILE_IN_SCALE_BLOCK,
    FITS_SHARED_MEMORY,
    Rule("BLOCK_SIZE_M far from M", hard=False, drops=_bm_far_from_m),
    # A tile wider than the next power of two of N is mostly padding columns.
    Rule(
        "BLOCK_SIZE_N above N",
        hard=False,
        drops=lambda cfg, p: cfg["BLOCK_SIZE_N"] > max(32, next_pow2(p.N)),
    ),
    # A K tile longer than K (rounded up) loads only padding.
    Rule(
        "BLOCK_SIZE_K above K",
        hard=False,
        drops=lambda cfg, p: cfg["BLOCK_SIZE_K"] > max(64, next_pow2(p.K)),
    ),
    # No "8 warps on a small tile" rule: vLLM-derived, it claimed such configs never win, but
    # on the H200 exhaustive search found 8 warps on 16 x 64 tiles fastest at M = 1 on long-K
    # weights (7168x2048: 9.1 us vs 10.5 us; 7168x16384: 53.0 vs 59 us). The coarse pass does
    # not time them (it picks 4 warps for small tiles); the refine pass does.
)

# The AMD backend's options the space tries on ROCm (generator.configs.keys.AMD_KEYS).
ROCM_KNOBS = {"matrix_instr_nonkdim": (16, 32), "waves_per_eu": (0, 2)}

SPACE = SearchSpace(
    "w8a8_block", full_space, RULES, doc=__doc__ or "", platform_knobs={"rocm": ROCM_KNOBS}
)
