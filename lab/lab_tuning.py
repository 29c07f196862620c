"""What the tuning experiments share (``tune_profile.py``, ``pass_replay.py``, ``pass_drop.py``):
the drop-in kernel's tasks at given shapes, and the compile-ahead pool a tune worker uses, so
each experiment tunes as ``generator tune`` does, in its own process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def drop_in_tasks(shapes: Iterable[tuple[int, int]], batches: Iterable[int]) -> list:
    """W8A8 block FP8 tasks (bf16 out, 128x128 blocks) at every (N, K) x M, shape by shape."""
    from generator.data.tasks import Task

    batches = list(batches)
    return [
        Task("w8a8_block", "fp8", "bfloat16", 128, 128, n, k, 1, m)
        for n, k in shapes
        for m in batches
    ]


@contextmanager
def compile_pool() -> Iterator:
    """The compile-ahead pool of a tune worker (up to 16 processes), closed on the way out."""
    from generator.tune.compile_ahead import AheadCompiler

    compiler = AheadCompiler(min(16, os.cpu_count() or 1))
    try:
        yield compiler
    finally:
        compiler.close()
