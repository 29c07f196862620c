"""The swapped-operand batched A16W8 kernel's space (``kernels.a16w8_batched_swapped``).

Tokens per tile (the MMA's N side: BLOCK_SIZE_M) x weight rows per tile (its M side,
BLOCK_SIZE_N, at least the 64 rows of one warpgroup's WGMMA) x tiles per program x warps x
buffers; 192 configs. BLOCK_SIZE_K is the quantization group (a K tile never straddles two
scales; the MLA shapes have K = 128 or 512); GROUP_SIZE_M = 1 because one batch has at most a
few token tiles.

Hard rules only: none of the drop-in kernel's soft rules has been checked against the
exhaustive answer for this kernel (whose weight rows sit on the MMA's M side), and its 192
configs are few enough to time whole.
"""

from __future__ import annotations

import itertools

from generator.configs.keys import Config
from generator.configs.spaces import FITS_SHARED_MEMORY, K_TILE_IN_SCALE_BLOCK, SearchSpace


def swapped_space() -> list[Config]:
    space = []
    for bm, bn, tiles, warps, stages in itertools.product(
        (16, 32, 64, 128), (64, 128), (1, 2, 4, 8), (4, 8), (2, 3, 4)
    ):
        space.append(
            {
                "BLOCK_SIZE_M": bm,
                "BLOCK_SIZE_N": bn,
                "BLOCK_SIZE_K": 128,
                "GROUP_SIZE_M": 1,
                "num_warps": warps,
                "num_stages": stages,
                "TILES_PER_PROGRAM": tiles,
            }
        )
    return space


SPACE = SearchSpace(
    "a16w8_batched_swapped",
    swapped_space,
    (K_TILE_IN_SCALE_BLOCK, FITS_SHARED_MEMORY),
    __doc__ or "",
)
