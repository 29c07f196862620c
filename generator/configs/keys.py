"""The config keys every block GEMM kernel takes, and the modes the project names.

Torch- and Triton-free on purpose: the site, the record schemas and the engine file writer
import this without pulling in a GPU stack. The keys are the kernels' constexpr names
(``kernels.tiling.CONFIG_KEYS`` holds the same tuple; a test keeps the two equal), so a tuned
dict passes straight into a kernel and into the files vLLM and SGLang load.
"""

from __future__ import annotations

import enum

Config = dict[str, int]

CONFIG_KEYS = (
    "BLOCK_SIZE_M",
    "BLOCK_SIZE_N",
    "BLOCK_SIZE_K",
    "GROUP_SIZE_M",
    "num_warps",
    "num_stages",
)
BLOCK_KEYS = CONFIG_KEYS[:3]  # the tile shape

# Options of Triton's AMD backend (``HIPOptions``) that vLLM's ROCm config files set per entry
# (``generator/data/reference/platforms.json``). vLLM launches its kernel with ``**config``, so
# these reach the compiler on ROCm; a CUDA launch rejects them, so only configs tuned on an AMD
# GPU carry them. Optional everywhere (Triton's defaults: 0, 0, 1).
AMD_KEYS = ("waves_per_eu", "matrix_instr_nonkdim", "kpack")
# The values a config may give them: vLLM's ROCm tuning space (v0.33.0 sdist,
# benchmarks/kernels/benchmark_moe.py get_rocm_tuning_space); the values its shipped ROCm
# files hold (kpack 1, matrix_instr_nonkdim 16) lie within it. A space tries a subset.
AMD_KEY_VALUES: dict[str, tuple[int, ...]] = {
    "waves_per_eu": (0, 1, 2, 4),
    "matrix_instr_nonkdim": (16, 32),
    "kpack": (1, 2),
}


class InputType(str, enum.Enum):
    """The quantized (or, for A16W8, the activation) element type of a kernel's A operand."""

    FP8 = "fp8"
    INT8 = "int8"
    BF16 = "bf16"


def config_key(cfg: Config) -> tuple[tuple[str, int], ...]:
    """A hashable identity of a config (key order does not matter)."""
    return tuple(sorted(cfg.items()))
