"""The AMD backend's options in a config reach the Triton launch as options (as vLLM's
``**config`` does), are optional for every kernel, and are refused in one line on a CUDA GPU
(whose Triton raises "Keyword argument ... was specified but unrecognised")."""

from __future__ import annotations

import pytest
import torch

import kernels.w8a8_block as w8a8
from generator.data.shipped import shipped_set
from kernels import tiling
from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.reference import relative_error, tolerance, w8a8_block_reference
from kernels.tiling import split_config, validate_config
from tests.kernels.cases import spread_randn

BASE = {
    "BLOCK_SIZE_M": 32,
    "BLOCK_SIZE_N": 32,
    "BLOCK_SIZE_K": 128,
    "GROUP_SIZE_M": 1,
    "num_warps": 4,
    "num_stages": 2,
}
AMD = {"kpack": 1, "matrix_instr_nonkdim": 16, "waves_per_eu": 2}


def _platform(monkeypatch, *, rocm: bool, interpreting: bool) -> None:
    monkeypatch.setattr(tiling, "is_rocm", lambda: rocm)
    monkeypatch.setattr(tiling, "interpreting", lambda: interpreting)


def test_amd_options_are_launch_options(monkeypatch):
    _platform(monkeypatch, rocm=True, interpreting=False)
    cfg = validate_config({**BASE, **AMD}, 128)
    meta, options = split_config(cfg)
    assert set(AMD) <= set(options) and not set(AMD) & set(meta)
    assert options["waves_per_eu"] == 2 and options["num_stages"] == 2


def test_amd_options_are_refused_on_a_cuda_gpu(monkeypatch):
    _platform(monkeypatch, rocm=False, interpreting=False)
    refused = r"^config: waves_per_eu, matrix_instr_nonkdim, kpack are options of Triton.s AMD "
    with pytest.raises(ValueError, match=refused):
        validate_config({**BASE, **AMD}, 128)
    assert validate_config(BASE, 128) == BASE  # without them nothing changes


def test_amd_options_must_be_non_negative(monkeypatch):
    _platform(monkeypatch, rocm=True, interpreting=False)
    with pytest.raises(ValueError, match=r"waves_per_eu=-1 must be >= 0"):
        validate_config({**BASE, "waves_per_eu": -1}, 128)


def test_a_shipped_mi300x_entry_runs_through_the_drop_in_kernel(rng, monkeypatch):
    """vLLM's MI300X file entry (kpack, matrix_instr_nonkdim, no num_stages: filled with the AMD
    backend's 2 by the lookup) launches our kernel with those options and computes the product
    (the CPU interpreter takes AMD options, so this runs here)."""
    table = shipped_set("vllm-0.33.0").table("AMD_Instinct_MI300X", 1536, 7168)
    cfg = table[1]
    assert cfg["kpack"] == 1 and cfg["matrix_instr_nonkdim"] == 16 and cfg["num_stages"] == 2
    seen = []
    real = w8a8.launch

    def spy(kernel, grid, args, warmup, /, **options):
        seen.append(options)
        return real(kernel, grid, args, warmup, **options)

    monkeypatch.setattr(w8a8, "launch", spy)
    x = spread_randn(3, 256, g=rng)
    A, As = per_token_group_quant(x, 128)
    B, Bs = quantize_weight_blockwise(spread_randn(96, 256, g=rng) * 0.05, (128, 128))
    out = w8a8.w8a8_block_matmul(A, B, As, Bs, (128, 128), torch.bfloat16, config=cfg)
    ref = w8a8_block_reference(A, B, As, Bs, (128, 128))
    assert relative_error(out, ref) <= tolerance(torch.bfloat16)
    assert seen and seen[0]["kpack"] == 1 and seen[0]["matrix_instr_nonkdim"] == 16
