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
from generator.measure.timing import rotation_count, written_set_count


def _spread_randn(shape: tuple[int, ...], g: torch.Generator, device: torch.device) -> torch.Tensor:
    """Normal data with row and column magnitudes spread over half a decade, so per-token,
    per-channel and per-block scales really differ (and a misplaced one shows as error)."""
    x = torch.randn(shape, generator=g, device=device)
    rows = 10 ** (-0.5 * torch.rand((*shape[:-1], 1), generator=g, device=device))
    cols = 10 ** (
        -0.5 * torch.rand((*([1] * (len(shape) - 1)), shape[-1]), generator=g, device=device)
    )
    return x * rows * cols


def _poison_value(dtype: torch.dtype) -> float | int:
    return float("nan") if dtype.is_floating_point else torch.iinfo(dtype).min


def poisoned(template: torch.Tensor) -> torch.Tensor:
    """A new buffer like ``template`` (shape, dtype, strides when dense) holding values no
    kernel writes: NaN, or an integer dtype's minimum; a check of a call that leaves any of
    it unwritten fails."""
    return torch.full_like(template, _poison_value(template.dtype))


def fill_poison(t: torch.Tensor) -> None:
    """``t`` filled again with what :func:`poisoned` fills."""
    t.fill_(_poison_value(t.dtype))


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
    # (shape, strides, dtype) -> the poisoned buffers per set that calls write (``rotate``)
    _written_sets: dict[tuple, list[torch.Tensor]] = field(default_factory=dict)

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
        self._written_sets.clear()  # before a new weight's empty_cache, so their memory goes
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
        output), as dense templates; each set gets a buffer of each, poisoned
        (:func:`poisoned`), after its inputs, and there are as many sets as rotate those
        buffers beyond L2 too, up to ``timing.MAX_WRITTEN_SETS`` (their inputs cycling
        through the clones where they need fewer). Why: in memory allocated inside the
        captured graph all of a graph's calls write to one address, and where the quantized
        activation lands moved identical work by up to 21 % on the H200
        (``lab/aa_alloc.py``); the tuner and the bench of 2026-12-04, each timing one such
        placement, put the same pairs of configs over 5 % apart at 58 of 1387 pairs, up to
        29 % (``lab/placement.py`` tests whether this is why). Like the inputs, the buffers
        are shared by every provider of the point that writes the same layout, so no
        provider is timed on a placement of its own; :meth:`repoison` fills the first set's
        again before each provider's accuracy check, so one that leaves part of its output
        unwritten cannot pass on another's result.
        """
        count = rotation_count(bytes_per_set, self.l2_bytes)
        written_bytes = sum(t.untyped_storage().nbytes() for t in written)
        # no L2 to rotate beyond (CPU runs, the interpreter's tests): no placements to average
        total = (
            written_set_count(count, written_bytes, self.l2_bytes)
            if written and self.l2_bytes > 0
            else count
        )
        columns = [self._rotations(t, count) for t in tensors]
        columns = [[column[i % count] for i in range(total)] for column in columns]
        columns += [self._written(t, total) for t in written]
        return [tuple(column[i] for column in columns) for i in range(total)]

    def _written(self, template: torch.Tensor, count: int) -> list[torch.Tensor]:
        """``count`` poisoned buffers laid out like ``template``, shared by every provider of
        the current problem that writes this layout."""
        key = (tuple(template.shape), tuple(template.stride()), template.dtype)
        buffers = self._written_sets.setdefault(key, [])
        while len(buffers) < count:
            buffers.append(poisoned(template))
        return buffers[:count]

    def repoison(self) -> None:
        """The first set's written buffers poisoned again (before an accuracy check)."""
        for buffers in self._written_sets.values():
            fill_poison(buffers[0])

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
