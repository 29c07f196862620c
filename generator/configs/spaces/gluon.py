"""The warp-specialized Hopper kernel's space (``kernels.w8a8_block_gluon``), hard rules only.

128- or 192-row tiles (two or three consumer warpgroups) x lagged or plain promotion (LAG) x
warpgroup ordering (ORDERED) x buffers x grouping; 48 configs. Lagged promotion needs 192
registers a thread, so it only pairs with two warpgroups; three warpgroups with 5 buffers do
not fit shared memory (5 x 40 KB + the C tile). BLOCK_SIZE_K is the scale block (one
activation-scale column per K tile) and BLOCK_SIZE_N 128.

No soft rules: the kernel is built for prefill and its 48 configs are timed whole (vLLM's
"BLOCK_SIZE_M far from M" used to remove all of them at M <= 16).
"""

from __future__ import annotations

import itertools

from generator.configs.keys import Config
from generator.configs.spaces import FITS_SHARED_MEMORY, K_TILE_IN_SCALE_BLOCK, SearchSpace


def gluon_space() -> list[Config]:
    space = []
    for bm, lag, ordered, stages, group in itertools.product(
        (128, 192), (0, 1), (0, 1, 2), (3, 4, 5), (8, 16)
    ):
        if bm == 192 and (lag or stages > 4):  # registers; shared memory
            continue
        space.append(
            {
                "BLOCK_SIZE_M": bm,
                "BLOCK_SIZE_N": 128,
                "BLOCK_SIZE_K": 128,
                "GROUP_SIZE_M": group,
                "num_warps": bm // 16,
                "num_stages": stages,
                "LAG": lag,
                "ORDERED": ordered,
            }
        )
    return space


SPACE = SearchSpace(
    "w8a8_block_gluon", gluon_space, (K_TILE_IN_SCALE_BLOCK, FITS_SHARED_MEMORY), __doc__ or ""
)
