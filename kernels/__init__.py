"""Triton kernels for block-scaled 8-bit GEMMs.

Importing this package does no file I/O and queries no GPU, so it works on CPU-only machines
(with ``TRITON_INTERPRET=1`` the kernels even run there, slowly, for tests).
"""

from kernels.a16w8_batched import a16w8_batched_matmul, default_a16w8_config
from kernels.quant import (
    dequantize_token_groups,
    dequantize_weight_blocks,
    per_token_group_quant,
    per_token_group_quant_reference,
    quantize_weight_blockwise,
)
from kernels.tiling import CONFIG_KEYS, default_w8a8_config, pick_config
from kernels.w8a8_block import w8a8_block_matmul

__all__ = [
    "CONFIG_KEYS",
    "a16w8_batched_matmul",
    "default_a16w8_config",
    "default_w8a8_config",
    "dequantize_token_groups",
    "dequantize_weight_blocks",
    "per_token_group_quant",
    "per_token_group_quant_reference",
    "pick_config",
    "quantize_weight_blockwise",
    "w8a8_block_matmul",
]
