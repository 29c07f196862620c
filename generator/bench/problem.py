"""What the benchmark measures at one point: a GEMM (M, K) x (N, K)^T, or B of them.

Torch- and Triton-free, so the command line can plan a sweep (and refuse a bad one) before it
imports the kernels, which must come after ``--allow-cpu`` has switched Triton to its CPU
interpreter."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(str, enum.Enum):
    """The problem family a provider computes: one (M, K) x (N, K)^T GEMM or B of them."""

    GEMM = "gemm"
    BATCHED = "batched"


@dataclass(frozen=True)
class Problem:
    """One measured point. ``B`` > 1 only for batched problems."""

    M: int
    N: int
    K: int
    B: int = 1
    kind: Kind = Kind.GEMM

    @property
    def flops(self) -> int:
        """Multiply-adds counted twice, of all B products."""
        return 2 * self.B * self.M * self.N * self.K
