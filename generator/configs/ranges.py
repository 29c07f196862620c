"""Whether a config is one its kernel can run: its keys and value ranges, from its own space.

Why from the space: a config the catalog publishes comes from the kernel's search space or an
engine's shipped table (whose values lie in the same space: vLLM tuned over it). So the space
says which keys a config has, between which values each lies, and whether a key is a power of
two (tile sizes and warps are; Gluon's 192-row tile and 12 warps are not, and its space says
so). A hand-edited ``BLOCK_SIZE_M 9999`` or ``num_warps 0`` fails here instead of shipping in a
bundle and failing inside the engine. The standard keys (``CONFIG_KEYS``) are required; a
kernel's own knobs (Gluon's LAG and ORDERED, SPLIT_K) are optional, as its wrapper defaults them,
and so are the AMD backend's options (``waves_per_eu``, ``matrix_instr_nonkdim``, ``kpack``) for
a kernel whose space is tuned with them on AMD GPUs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from generator.configs.kernel_table import SPACES
from generator.configs.keys import AMD_KEY_VALUES, CONFIG_KEYS


@dataclass(frozen=True)
class KeyRange:
    lo: int
    hi: int
    power_of_two: bool

    def allows(self, value: int) -> bool:
        if not self.lo <= value <= self.hi:
            return False
        return not self.power_of_two or value & (value - 1) == 0

    def describe(self) -> str:
        kind = "a power of two" if self.power_of_two else "an integer"
        return f"{kind} in {self.lo}..{self.hi}"


@dataclass(frozen=True)
class ConfigRules:
    required: frozenset[str]
    ranges: dict[str, KeyRange]


@functools.cache
def rules_for(kernel: str) -> ConfigRules:
    """The keys and value ranges of ``kernel``'s space (KeyError for an unknown kernel)."""
    space = SPACES[kernel]
    configs = space.configs()
    # The standard keys are required; a kernel's own (LAG, SPLIT_K, ...) have defaults.
    required = frozenset(k for k in CONFIG_KEYS if all(k in cfg for cfg in configs))
    if space.platform_knobs.get("rocm"):
        # a space tuned on AMD GPUs: the AMD backend's options are optional knobs, in the
        # values vLLM's ROCm files use (keys.AMD_KEY_VALUES)
        configs = configs + [{k: v} for k, values in AMD_KEY_VALUES.items() for v in values]
    keys = {k for cfg in configs for k in cfg}
    ranges = {}
    for key in keys:
        values = [cfg[key] for cfg in configs if key in cfg]
        pow2 = all(v > 0 and v & (v - 1) == 0 for v in values)
        ranges[key] = KeyRange(min(values), max(values), pow2)
    return ConfigRules(required, ranges)


def config_problems(cfg: object, kernel: str, block_k: int | None = None) -> list[str]:
    """What is wrong with ``cfg`` as a config of ``kernel`` (empty when nothing is):
    unknown or missing keys, non-integers, values out of the space's range, and a K tile that
    does not sit inside one scale block of ``block_k``."""
    if kernel not in SPACES:
        return [f"unknown kernel '{kernel}'"]
    if not isinstance(cfg, Mapping) or not cfg:
        return ["expected a non-empty config object"]
    rules = rules_for(kernel)
    out = []
    for key in sorted(rules.required - set(cfg)):
        out.append(f"{key}: missing")
    for key, value in cfg.items():
        rng = rules.ranges.get(key)
        if rng is None:
            out.append(f"{key}: not a knob of {kernel}")
        elif isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{key}: expected an integer, got {value!r}")
        elif not rng.allows(value):
            out.append(f"{key}: {value} is not {rng.describe()} ({kernel}'s space)")
    bk = cfg.get("BLOCK_SIZE_K")
    if block_k and isinstance(bk, int) and not isinstance(bk, bool) and bk > 0 and block_k % bk:
        out.append(f"BLOCK_SIZE_K: {bk} does not divide the scale block {block_k}")
    return out
