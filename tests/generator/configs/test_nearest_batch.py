"""The catalog's copy of the engines' nearest-batch rule picks what the kernels' does."""

from __future__ import annotations

import random

import pytest

from generator.configs.engine_files import nearest_batch
from kernels.tiling import pick_config


def test_nearest_batch_picks_the_entry_pick_config_runs() -> None:
    rng = random.Random(7)
    for _ in range(300):
        keys = rng.sample(range(1, 5000), rng.randint(1, 12))  # in the table's order
        table = {str(k): {"BLOCK_SIZE_M": k} for k in keys}
        m = rng.randint(1, 6000)
        assert pick_config(table, m)["BLOCK_SIZE_M"] == nearest_batch(keys, m)
    # a tie goes to the key listed first, as min() keeps the first minimum
    assert nearest_batch([32, 16], 24) == 32 and nearest_batch([16, 32], 24) == 16


def test_nearest_batch_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        nearest_batch([], 4)
