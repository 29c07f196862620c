"""Each tunable kernel's search space and published tables, readable without torch.

Why here and not on the tuner's classes: :mod:`generator.tune.tunables` imports the kernels
(torch, Triton), and ``validate``, the bundles and the site must check files on a machine
without either. This table is the one declaration; each tunable reads its space and its
published formats from it.
"""

from __future__ import annotations

from generator.configs.engine_files import FileFormat
from generator.configs.spaces import SearchSpace
from generator.configs.spaces import a16w8_batched_swapped as swapped_spaces
from generator.configs.spaces import decode as decode_spaces
from generator.configs.spaces import gluon as gluon_spaces
from generator.configs.spaces import w8a8_block as w8a8_spaces

# kernel name -> the search space its configs come from
SPACES: dict[str, SearchSpace] = {
    "w8a8_block": w8a8_spaces.SPACE,
    "a16w8_batched": w8a8_spaces.SPACE,
    "w8a8_block_splitk": w8a8_spaces.SPACE,
    "w8a8_block_decode": decode_spaces.SPACE,
    "w8a8_block_persistent": w8a8_spaces.SPACE,
    "w8a8_block_gluon": gluon_spaces.SPACE,
    "a16w8_batched_swapped": swapped_spaces.SPACE,
}

# config folder -> the kernel whose winners it publishes
PUBLISHER: dict[FileFormat, str] = {
    FileFormat.VLLM: "w8a8_block",
    FileFormat.SGLANG: "w8a8_block",
    FileFormat.A16W8: "a16w8_batched",
}


def formats_of(kernel: str) -> tuple[FileFormat, ...]:
    """The config folders ``kernel``'s winners are published to (none for our own kernels)."""
    return tuple(f for f, k in PUBLISHER.items() if k == kernel)
