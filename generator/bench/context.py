"""Per-run state shared by every provider: the device, the output dtype, where tuned configs
live, and the source tensors of the current problem with memoized derived operands.

Inputs: every provider derives its operands from the same fp32 source tensors of the problem
(``x`` / ``w`` / ``bias``), memoized per problem (activations) and per weight shape (weights),
so providers are compared on the very same numbers and a weight is quantized once for all
batch sizes. The reference of a provider is the fp32 product of *its own* dequantized operands
(``kernels.reference``), so the error column measures the kernel, not the quantization scheme.

Same memory, too: the input sets rotated beyond L2 (:meth:`BenchContext.rotate`) are made once
per operand and shared by every provider that reads it, so two providers of identical work
read identical memory. Each provider used to clone its own sets; identical kernels and configs
then timed up to 18 % apart on the H200, the same offset run after run (issue 22; the cause is
measured in ``lab/aa_bias.py``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from generator.bench.problem import Kind, Problem
from generator.measure.timing import rotation_count


def _spread_randn(shape: tuple[int, ...], g: torch.Generator, device: torch.device) -> torch.Tensor:
    """Normal data with row and column magnitudes spread over half a decade, so per-token,
    per-channel and per-block scales really differ (and a misplaced one shows as error)."""
    x = torch.randn(shape, generator=g, device=device)
    rows = 10 ** (-0.5 * torch.rand((*shape[:-1], 1), generator=g, device=device))
    cols = 10 ** (
        -0.5 * torch.rand((*([1] * (len(shape) - 1)), shape[-1]), generator=g, device=device)
    )
    return x * rows * cols


def poisoned(template: torch.Tensor) -> torch.Tensor:
    """A new buffer like ``template`` (shape, dtype, strides when dense) holding values no
    kernel writes: NaN, or an integer dtype's minimum; a check of a call that leaves any of
    it unwritten fails."""
    if template.dtype.is_floating_point:
        return torch.full_like(template, float("nan"))
    return torch.full_like(template, torch.iinfo(template.dtype).min)


@dataclass
class BenchContext:
    """Per-run state shared by all providers: device, output dtype, where tuned configs live,
    and the source tensors of the current problem with memoized derived operands."""

    device: torch.device
    out_dtype: torch.dtype = torch.bfloat16
    site_data: Path | None = None
    device_name: str = ""
    l2_bytes: int = 0
    seed: int = 0
    x: torch.Tensor | None = None  # (M, K) or (B, M, K) fp32 activations
    w: torch.Tensor | None = None  # (N, K) or (B, N, K) fp32 weights
    bias: torch.Tensor | None = None  # (N,) fp32
    _weight_shape: tuple[int, ...] | None = None
    _weights: dict[Any, Any] = field(default_factory=dict)
    _acts: dict[Any, Any] = field(default_factory=dict)
    # id(operand) -> (the operand, its clones): the rotated sets every provider shares
    _clones: dict[int, tuple[torch.Tensor, list[torch.Tensor]]] = field(default_factory=dict)
    _weight_ids: set[int] = field(default_factory=set)  # operands that live per weight shape

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    def _generator(self, *key: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(zlib.crc32(repr((self.seed, *key)).encode()))
        return g

    def start(self, problem: Problem) -> None:
        """Make the sources of ``problem``: new activations always, new weights only when the
        weight shape changes (sweeps walk M innermost, so each weight is quantized once)."""
        lead = (problem.B,) if problem.kind == Kind.BATCHED else ()
        w_shape = (*lead, problem.N, problem.K)
        if w_shape != self._weight_shape:
            # forgotten first: if making the new weights fails (out of memory), no later start
            # may match the old shape and find its tensors gone
            self._weight_shape = None
            self._weights.clear()
            self._clones.clear()
            self._weight_ids.clear()
            self.w = self.bias = None
            if self.on_cuda:
                torch.cuda.empty_cache()
            g = self._generator(*w_shape)
            self.w = _spread_randn(w_shape, g, self.device)
            self.bias = torch.randn((problem.N,), generator=g, device=self.device)
            self._weight_shape = w_shape
        self._acts.clear()
        self.x = None
        self._clones = {k: v for k, v in self._clones.items() if k in self._weight_ids}
        self.x = _spread_randn(
            (*lead, problem.M, problem.K), self._generator(problem.M, *w_shape), self.device
        )

    def weight(self, key: str, make: Callable[[torch.Tensor], Any]) -> Any:
        """A derived weight operand, computed once per weight shape."""
        if key not in self._weights:
            value = make(self.w)
            self._weights[key] = value
            parts = value if isinstance(value, (tuple, list)) else (value,)
            self._weight_ids.update(id(t) for t in parts if isinstance(t, torch.Tensor))
        return self._weights[key]

    def act(self, key: str, make: Callable[[torch.Tensor], Any]) -> Any:
        """A derived activation operand (from the bf16 activations), computed once per problem."""
        if key not in self._acts:
            self._acts[key] = make(self.x_bf16)
        return self._acts[key]

    def reference_of(
        self, fn: Callable[[Problem, BenchContext], torch.Tensor], problem: Problem
    ) -> torch.Tensor:
        """A provider's fp32 reference, computed once per problem for all providers sharing
        the same reference function (quant / noquant variants, cuBLAS and Triton block FP8)."""
        key = ("reference", fn)
        if key not in self._acts:
            self._acts[key] = fn(problem, self)
        return self._acts[key]

    @property
    def x_bf16(self) -> torch.Tensor:
        """The activations as a layer receives them: bf16, the input of every timed quant."""
        if "bf16" not in self._acts:
            self._acts["bf16"] = self.x.to(torch.bfloat16)
        return self._acts["bf16"]

    def rotate(
        self,
        tensors: Sequence[Any],
        bytes_per_set: int,
        written: Sequence[torch.Tensor] = (),
    ) -> list[tuple[Any, ...]]:
        """Input sets for L2 rotation: the originals, then clones (same values, new memory).

        ``timing.rotation_count`` decides how many sets make the total exceed the L2 cache.
        The clones of an operand are made once and shared: every provider rotating the same
        operand gets the same clones, in the same order (operands from :meth:`weight` keep
        theirs for every M of the weight). Clones keep strides (``torch.preserve_format``), so
        column-major scales stay so. Anything that is not a tensor is the same in every set.

        ``written``: what the timed call writes (the quantized activation, its scales, the
        output), as dense templates; each set gets its own buffer of each, poisoned
        (:func:`poisoned`), after its inputs. Why per set: allocated inside the captured
        graph, all of a graph's calls write to one place, and where that lands moved the
        time of one config, and the order of two, by up to 21 % on the H200 (the quantized
        activation, ``lab/aa_alloc.py``; of 1387 pairs of configs timed at the same point by
        the tuner and the bench of 2026-12-04, 58 ranked over 5 % apart, up to 29 %); an
        output written to one place call after call can stay in L2. Per set, a call writes
        fresh memory as it reads fresh inputs, and the placements average out over the sets.
        Never shared with another provider: a provider that does not write its whole output
        would otherwise pass its check on another's result.
        """
        count = rotation_count(bytes_per_set, self.l2_bytes)
        columns = [self._rotations(t, count) for t in tensors]
        columns += [[poisoned(t) for _ in range(count)] for t in written]
        return [tuple(column[i] for column in columns) for i in range(count)]

    def _rotations(self, t: Any, count: int) -> list[Any]:
        if not isinstance(t, torch.Tensor):
            return [t] * count
        entry = self._clones.get(id(t))
        if entry is None or entry[0] is not t:
            entry = self._clones[id(t)] = (t, [])
        clones = entry[1]
        while len(clones) < count - 1:
            clones.append(t.clone(memory_format=torch.preserve_format))
        return [t, *clones[: count - 1]]
