"""The fused decode kernel's space (``kernels.w8a8_block_decode``): its own knobs, hard rules only.

Token tiles (16 for M <= 16, 64 beyond: the tokens are the MMA's N side, so 64 costs little
more than 32) x weight rows per program x warps x buffers x SPLIT_K (absent: chosen from the
shape and the SM count at launch); 180 configs. BLOCK_SIZE_K is the quantization group and
GROUP_SIZE_M is 1 (one row of token tiles).

Why its own space: vLLM's space tunes BLOCK_SIZE_K (fixed here at the quantization group) and
GROUP_SIZE_M (irrelevant with one row of token tiles), but not the K split, which decides how
many programs stream the weight. Wider weight tiles (more bytes per in-register quantization)
and deeper pipelines are in it because which pays depends on the shape: on the H100, 64-128
rows with 3-4 buffers won on most DeepSeek-V3 weights, 256 rows on the largest.

No soft rules: none has been checked against the exhaustive answer for this kernel, and the
space is small enough to time whole (vLLM's "8 warps on a small tile" used to remove 60 of these
configs at M <= 16 without evidence).
"""

from __future__ import annotations

import itertools

from generator.configs.keys import Config
from generator.configs.spaces import FITS_SHARED_MEMORY, K_TILE_IN_SCALE_BLOCK, SearchSpace


def decode_space() -> list[Config]:
    space = []
    for bm, bn, warps, stages, split in itertools.product(
        (16, 64), (64, 128, 256), (4, 8), (3, 4, 6), (None, 2, 4, 8, 16)
    ):
        cfg = {
            "BLOCK_SIZE_M": bm,
            "BLOCK_SIZE_N": bn,
            "BLOCK_SIZE_K": 128,
            "GROUP_SIZE_M": 1,
            "num_warps": warps,
            "num_stages": stages,
        }
        space.append(cfg if split is None else {**cfg, "SPLIT_K": split})
    return space


SPACE = SearchSpace(
    "w8a8_block_decode", decode_space, (K_TILE_IN_SCALE_BLOCK, FITS_SHARED_MEMORY), __doc__ or ""
)
