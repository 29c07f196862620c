"""The largest problem our kernels can run, checked before a tune or a sweep is planned.

Why: the Triton kernels compute element offsets in 32 bits (``offs_m * stride_am`` and the
like), so an operand of 2**31 elements or more would wrap around and read the wrong memory.
Such a problem also needs tens of GB per operand: the probe ``bench --sweep range --dim-end
100000000`` grew past 10 GB before any message, and ``tune --batch-sizes 100000000`` would
have failed task by task. Both now stop at once with one line naming the shape.
"""

from __future__ import annotations

from generator.errors import UserError

MAX_OPERAND_ELEMENTS = 2**31 - 1
# The smallest weight quantization block the kernels accept (their host check: a tile must
# hold whole 16-element MMA fragments).
MIN_BLOCK = 16
# The largest weight quantization block accepted: the checkpoints use 128, and 4096 keeps every
# size derived from a block (scale tensors, tiles, offsets) small; ``--block-n 2**70`` was
# accepted and failed deep inside the first task.
MAX_BLOCK = 4096


def check_problem_size(M: int, N: int, K: int, B: int = 1, where: str = "") -> None:
    """Refuse a problem with an operand (A: M x K, B: N x K, C: M x N, times B) too large for
    32-bit element offsets."""
    largest = max(B * M * K, B * N * K, B * M * N)
    if largest > MAX_OPERAND_ELEMENTS:
        raise UserError(
            f"{where}M={M} N={N} K={K}{f' B={B}' if B > 1 else ''}: an operand of {largest}"
            " elements; at most 2**31 - 1 (the kernels' offsets are 32-bit)"
        )
