"""The AMD backend's config keys (``waves_per_eu``, ``matrix_instr_nonkdim``, ``kpack``): in the
drop-in kernel's space on ROCm only, accepted by the validator's ranges, written to and read
from the engine files (where vLLM passes every key to its launch), and handed by our kernels
to the Triton launch as options; refused in one line on a CUDA GPU."""

from __future__ import annotations

import json

import pytest

from generator.configs.engine_files import config_table_json, read_table
from generator.configs.keys import AMD_KEYS, CONFIG_KEYS
from generator.configs.ranges import config_problems
from generator.configs.spaces import Problem
from generator.configs.spaces import w8a8_block as space

AMD_CFG = {
    "BLOCK_SIZE_M": 32,
    "BLOCK_SIZE_N": 64,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 1,
    "num_warps": 4,
    "num_stages": 2,
    "matrix_instr_nonkdim": 16,
    "waves_per_eu": 2,
}


def test_rocm_space_crosses_every_config_with_the_amd_knobs():
    cuda = space.SPACE.configs_for("cuda")
    rocm = space.SPACE.configs_for("rocm")
    assert len(cuda) == 1280 and not any(k in c for c in cuda for k in AMD_KEYS)
    assert len(rocm) == 1280 * 4
    assert {(c["matrix_instr_nonkdim"], c["waves_per_eu"]) for c in rocm} == {
        (16, 0),
        (16, 2),
        (32, 0),
        (32, 2),
    }
    assert all("kpack" not in c for c in rocm)  # Triton's default 1 (deprecated on gfx950)
    with pytest.raises(ValueError, match="is not one of"):
        space.SPACE.configs_for("metal")


def test_pruning_on_rocm_keeps_the_knobs_and_sizes_from_the_problem():
    kept, report = space.SPACE.prune(Problem(M=16, N=4608, K=7168, platform="rocm"))
    assert report.in_space == 5120 and kept
    assert all(set(AMD_KEYS[:2]) <= set(c) for c in kept)
    cuda, _ = space.SPACE.prune(Problem(M=16, N=4608, K=7168))
    assert len(kept) == 4 * len(cuda)  # the knobs remove nothing by themselves


def test_ranges_accept_amd_keys_for_the_drop_in_kernel_only():
    assert config_problems(AMD_CFG, "w8a8_block", 128) == []
    assert config_problems({**AMD_CFG, "kpack": 2}, "w8a8_block", 128) == []
    bad = config_problems({**AMD_CFG, "waves_per_eu": 9, "kpack": 3}, "w8a8_block", 128)
    assert bad == [
        "waves_per_eu: 9 is not an integer in 0..4 (w8a8_block's space)",
        "kpack: 3 is not a power of two in 1..2 (w8a8_block's space)",
    ]
    assert config_problems({**AMD_CFG, "matrix_instr_nonkdim": 8}, "w8a8_block", 128)
    # the standard keys stay required
    missing = {k: v for k, v in AMD_CFG.items() if k != "num_stages"}
    assert config_problems(missing, "w8a8_block", 128) == ["num_stages: missing"]
    # a kernel whose space has no ROCm knobs does not take them
    decode = {**AMD_CFG, "num_stages": 3}
    assert "waves_per_eu: not a knob of w8a8_block_decode" in config_problems(
        decode, "w8a8_block_decode", 128
    )


def test_engine_files_keep_amd_keys_after_the_standard_ones(tmp_path):
    text = config_table_json({16: AMD_CFG, 1: {**AMD_CFG, "kpack": 1}})
    raw = json.loads(text)
    assert list(raw) == ["1", "16"]
    assert list(raw["1"]) == [*CONFIG_KEYS, "kpack", "matrix_instr_nonkdim", "waves_per_eu"]
    path = tmp_path / "t.json"
    path.write_text(text)
    assert read_table(path) == {1: {**AMD_CFG, "kpack": 1}, 16: AMD_CFG}
