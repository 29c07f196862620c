"""Each tunable kernel's search space and published tables, readable without torch.

Why restated here: the tuner's :mod:`generator.tune.tunables` declares both per class, but it
imports the kernels (torch, Triton); ``validate``, the bundles and the site must check files on
a machine without either. A test keeps this table equal to the tunables' declarations.
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
