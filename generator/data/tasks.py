"""Tuning tasks: one (kernel, dtypes, block, weight shape, batch B, batch size M) each.

Data flows one way: model shapes -> tasks -> measurements. A task is small, hashable and
picklable, so it travels to worker processes and Ray workers unchanged, and its ``file_key``
names the TuneFile its result merges into.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from generator.data import layout

DEFAULT_BATCH_SIZES = (
    1,
    2,
    4,
    8,
    16,
    24,
    32,
    48,
    64,
    96,
    128,
    256,
    512,
    1024,
    1536,
    2048,
    3072,
    4096,
)


@dataclass(frozen=True, order=True)
class Task:
    kernel: str
    input_type: str
    out_dtype: str
    block_n: int
    block_k: int
    N: int
    K: int
    B: int
    M: int

    @property
    def block(self) -> tuple[int, int]:
        return (self.block_n, self.block_k)

    @property
    def file_key(self) -> str:
        """Stem of the TuneFile that holds every M of this kernel x dtypes x shape."""
        return layout.tune_file_key(
            self.kernel,
            self.input_type,
            self.out_dtype,
            self.N,
            self.K,
            self.B,
            self.block_n,
            self.block_k,
        )

    def cost(self) -> int:
        """Rough work estimate, to hand out expensive tasks first (short tail on many GPUs)."""
        return self.B * max(self.M, 16) * self.N * self.K

    def label(self) -> str:
        b = f"B={self.B} " if self.B > 1 else ""
        return f"{self.kernel} {self.input_type} {b}N={self.N} K={self.K} M={self.M}"

    def to_dict(self) -> dict:
        return asdict(self)
