"""Tiling helpers shared by every GEMM kernel in this package.

Grouped ("super-grouping") program ordering
-------------------------------------------
A 1-D grid of ``cdiv(M, BLOCK_SIZE_M) * cdiv(N, BLOCK_SIZE_N)`` programs computes the C tiles.
Launched in row-major order, consecutive programs share one row of A but each needs a different
column of B, so B is streamed through L2 many times. Grouping walks ``GROUP_SIZE_M`` rows of tiles
column by column instead: the programs resident at one time touch ``GROUP_SIZE_M`` A-rows and only
a few B-columns, and both stay in L2. (Triton's matmul tutorial works an example: for a 9x9 tile
grid, row-major order loads 90 blocks to finish the first 9 tiles, grouped order 54.)

Every kernel here calls :func:`grouped_tile_ids` instead of repeating that arithmetic, and the
config dictionaries use exactly the keys of vLLM's / SGLang's Triton kernels so that a tuned
table is a drop-in file for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import triton
import triton.language as tl

from kernels.platform import is_rocm
from kernels.validation import interpreting

# Keys of a kernel config, in the order vLLM / SGLang write them.
CONFIG_KEYS = (
    "BLOCK_SIZE_M",
    "BLOCK_SIZE_N",
    "BLOCK_SIZE_K",
    "GROUP_SIZE_M",
    "num_warps",
    "num_stages",
)

# Options of Triton's AMD backend a config may carry (vLLM's ROCm files do; the same tuple as
# ``generator.configs.keys.AMD_KEYS``, a test keeps them equal): launch options, optional, and
# refused on a CUDA GPU, whose Triton backend rejects them.
AMD_LAUNCH_KEYS = ("waves_per_eu", "matrix_instr_nonkdim", "kpack")

# Keys that are launch options rather than kernel constexprs.
LAUNCH_KEYS = ("num_warps", "num_stages", *AMD_LAUNCH_KEYS)


@triton.jit
def grouped_tile_ids(
    pid, M, N, BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, GROUP_SIZE_M: tl.constexpr
):
    """Map a 1-D program id to (tile row, tile column) in grouped order (see module doc)."""
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    return pid_m, pid_n


def default_w8a8_config(block_n: int = 128, block_k: int = 128) -> dict[str, int]:
    """The config vLLM falls back to when no tuned file exists (SGLang uses 3 stages)."""
    return {
        "BLOCK_SIZE_M": 64,
        "BLOCK_SIZE_N": block_n,
        "BLOCK_SIZE_K": block_k,
        "GROUP_SIZE_M": 32,
        "num_warps": 4,
        "num_stages": 2,
    }


def amd_options_accepted() -> bool:
    """Whether a launch here takes the AMD backend's options: on ROCm, and under the CPU
    interpreter (which ignores launch options, so the CPU tests can run AMD configs)."""
    return is_rocm() or interpreting()


def split_config(
    config: Mapping[str, int], drop: tuple[str, ...] = ()
) -> tuple[dict[str, int], dict[str, int]]:
    """Split a config into (kernel constexprs, launch options), leaving out the ``drop`` keys."""
    meta = {k: int(v) for k, v in config.items() if k not in LAUNCH_KEYS and k not in drop}
    launch = {k: int(config[k]) for k in LAUNCH_KEYS if k in config}
    return meta, launch


def pick_config(table: Mapping[Any, Mapping[str, int]], M: int) -> dict[str, int]:
    """Choose the config for batch size ``M`` from a tuned table, exactly as vLLM/SGLang do.

    The table's keys are batch sizes (ints, or strings as they come out of JSON). The entry
    whose key is nearest to ``M`` wins; on a tie the key that comes first in the table wins
    (Python's ``min`` keeps the first minimum, as the frameworks' code does).
    """
    if not table:
        raise ValueError("pick_config: the config table is empty")
    keys = list(table.keys())
    best = min(keys, key=lambda key: abs(int(key) - M))
    return dict(table[best])


BLOCK_KEYS = ("BLOCK_SIZE_M", "BLOCK_SIZE_N", "BLOCK_SIZE_K")


def validate_config(
    config: Mapping[str, int],
    block_k: int,
    required: tuple[str, ...] = CONFIG_KEYS,
    extra_keys: tuple[str, ...] = (),
    pow2_keys: tuple[str, ...] = BLOCK_KEYS,
) -> dict[str, int]:
    """Check a config dict has the expected keys and that BLOCK_SIZE_K divides the scale block.

    The scale of a K tile is read once per tile (``k * BLOCK_SIZE_K // block_k``), which is only
    right when a tile never straddles two scale blocks. ``extra_keys`` are optional knobs of a
    kernel of our own (e.g. SPLIT_K); they are passed through as ints and checked by its owner.
    The AMD backend's options (:data:`AMD_LAUNCH_KEYS`) are optional for every kernel and
    refused on a CUDA GPU, in one line rather than Triton's KeyError at launch.
    """
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"config: missing key(s) {missing}; expected {list(required)}")
    optional = (*extra_keys, *AMD_LAUNCH_KEYS)
    unknown = [k for k in config if k not in required and k not in optional]
    if unknown:
        raise ValueError(f"config: unknown key(s) {unknown}; expected {list(required)}")
    amd = [k for k in AMD_LAUNCH_KEYS if k in config]
    if amd and not amd_options_accepted():
        raise ValueError(
            f"config: {', '.join(amd)} are options of Triton's AMD backend; this is a CUDA GPU"
            " (a config tuned on an AMD GPU does not run here)"
        )
    out = {k: int(config[k]) for k in (*required, *optional) if k in config}
    for key in amd:
        if out[key] < 0:
            raise ValueError(f"config: {key}={out[key]} must be >= 0")
    for key in pow2_keys:
        value = out[key]
        if value < 16 or value & (value - 1):
            raise ValueError(f"config: {key}={value} must be a power of two >= 16")
    if block_k % out["BLOCK_SIZE_K"]:
        raise ValueError(
            f"config: BLOCK_SIZE_K={out['BLOCK_SIZE_K']} must divide the scale block "
            f"block_k={block_k}"
        )
    if out["GROUP_SIZE_M"] < 1:
        raise ValueError(f"config: GROUP_SIZE_M={out['GROUP_SIZE_M']} must be >= 1")
    return out
