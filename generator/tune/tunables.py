"""The kernels the tuner can tune, one class each, in one explicit registry.

A :class:`Tunable` says how to build random operands for a task, run the kernel with a config,
compute the fp32 reference, compile a config ahead of time, count flops and bytes, which search
space it is tuned over and what its default config is. The search, the compile-ahead pool and
the workers only talk to this interface, so a new kernel becomes tunable by writing one more
subclass and listing it in :data:`TUNABLES`.

The drop-in kernel (``w8a8_block``) writes the vLLM / SGLang files; the batched A16W8 kernel
writes tables in our own format; the other kernels (ours) keep their winners in their tuning
records, where the benchmark's providers look them up (:mod:`generator.data.lookup`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch

from generator.configs.engine_files import FileFormat
from generator.configs.kernel_table import SPACES, formats_of
from generator.configs.keys import Config, InputType
from generator.configs.spaces import SearchSpace
from generator.data.tasks import Task
from generator.errors import UserError
from kernels.a16w8_batched import (
    a16w8_batched_bytes,
    a16w8_batched_flops,
    a16w8_batched_matmul,
    compile_a16w8_batched,
    default_a16w8_config,
)
from kernels.quant import per_token_group_quant, quantize_weight_blockwise
from kernels.reference import a16w8_batched_reference, w8a8_block_reference
from kernels.tiling import default_w8a8_config
from kernels.validation import FP8_DTYPE
from kernels.validation import OUT_DTYPES_BY_NAME as OUT_DTYPES
from kernels.w8a8_block import (
    compile_w8a8_block,
    w8a8_block_bytes,
    w8a8_block_flops,
    w8a8_block_matmul,
)

QUANT_DTYPES = {"fp8": FP8_DTYPE, "int8": torch.int8}

Operands = dict[str, torch.Tensor]


def _randn(shape: tuple[int, ...], g: torch.Generator, device: str) -> torch.Tensor:
    return torch.randn(shape, generator=g, device=device)


class Tunable(ABC):
    """One tunable kernel. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    input_types: ClassVar[tuple[InputType, ...]]
    # Batched over B (the MLA shapes of a model) rather than one (N, K) weight per layer.
    batched: ClassVar[bool] = False

    @property
    def space(self) -> SearchSpace:
        """The search space its configs come from, as the torch-free kernel table names it
        (one declaration, read by validate and the site too)."""
        return SPACES[self.name]

    @property
    def engine_files(self) -> tuple[FileFormat, ...]:
        """Where its winners are published besides its tuning records (and where the lookup
        reads them): engine files for the drop-in kernel, our A16W8 tables; from the kernel
        table."""
        return formats_of(self.name)

    def a_bytes(self, task: Task) -> int:
        """Element size of the A operand in shared memory (the shared-memory rule reads it)."""
        return 1

    @abstractmethod
    def make_operands(self, task: Task, g: torch.Generator, device: str) -> Operands: ...

    @abstractmethod
    def run(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor: ...

    # The operands :meth:`served` writes (besides the output): the runoff gives each of its
    # sets its own (``search._Session._served_sets``).
    served_writes: tuple[str, ...] = ()

    def served(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        """The call as an engine serving the model makes it: :meth:`run`, unless the engine
        runs more around the kernel. The runoff that decides what is published times this
        (``search._Session.interleaved``); the search's passes time :meth:`run`."""
        return self.run(task, ops, cfg, out)

    @abstractmethod
    def new_output(self, task: Task, device: str) -> torch.Tensor: ...

    @abstractmethod
    def reference(self, task: Task, ops: Operands) -> torch.Tensor: ...

    @abstractmethod
    def compile(self, task: Task, cfg: Config) -> None:
        """Build the binary a launch with ``cfg`` at this task's shape uses, without running."""

    def launch_ints(self, task: Task, cfg: Config) -> tuple[int, ...]:
        """Integer kernel arguments a launch derives from more than the task's sizes (the
        compile pool keys binaries on their specialization, next to the sizes'): none, unless
        the wrapper chooses something from the shape and the device."""
        return ()

    @abstractmethod
    def default_config(self, task: Task) -> Config:
        """What the kernel runs with ``config=None`` (the "before tuning" of the records)."""

    @abstractmethod
    def flops(self, task: Task) -> int: ...

    @abstractmethod
    def bytes(self, task: Task) -> int: ...


# --- W8A8 block-scaled GEMM (the drop-in kernel) and our variants of it --------------------


class W8A8Block(Tunable):
    """vLLM's / SGLang's block W8A8 kernel: the one the drop-in files configure."""

    name = "w8a8_block"
    input_types = (InputType.FP8, InputType.INT8)
    served_writes = ("A", "As")  # the activation's quantization (served)

    def activation_dtype(self, task: Task) -> torch.dtype:
        """The activation X's dtype: the model's (the output's)."""
        return OUT_DTYPES[task.out_dtype]

    def make_operands(self, task: Task, g: torch.Generator, device: str) -> Operands:
        """The activation X (:meth:`activation_dtype`), (A, As) quantized from it as the
        engine quantizes it, and the block-quantized weight (B, Bs)."""
        qdtype = QUANT_DTYPES[task.input_type]
        X = _randn((task.M, task.K), g, device).to(self.activation_dtype(task))
        A, As = per_token_group_quant(X, task.block_k, qdtype)
        w = _randn((task.N, task.K), g, device) * 0.05
        B, Bs = quantize_weight_blockwise(w, task.block, qdtype)
        return {"X": X, "A": A, "B": B, "As": As, "Bs": Bs}

    def matmul(self) -> Callable[..., torch.Tensor]:
        """The kernel's wrapper; variants with the same arguments override only this (and
        :meth:`compiler`), imported at first use."""
        return w8a8_block_matmul

    def compiler(self) -> Callable[..., None]:
        return compile_w8a8_block

    def run(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        return self._gemm(task, ops["A"], ops["As"], ops, cfg, out)

    def _gemm(
        self,
        task: Task,
        A: torch.Tensor,
        As: torch.Tensor,
        ops: Operands,
        cfg: Config,
        out: torch.Tensor,
    ) -> torch.Tensor:
        """The kernel on the quantized activation (A, As) and the operands' weight."""
        dtype = OUT_DTYPES[task.out_dtype]
        return self.matmul()(A, ops["B"], As, ops["Bs"], task.block, dtype, config=cfg, out=out)

    def served(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        """The activation's per-token-group quantization, then the GEMM: what vLLM and SGLang
        run for every block-FP8 linear layer on the Triton path. Why the runoff times the two:
        timed on pre-quantized activations, a config can rank differently than after the
        quantization kernel; in the H200 sweep of a2ac973 (2026-12-04) a config that won the
        GEMM-only runoff by 1.8 % was 4.9 % slower there (7168x18432, M = 2), and a default
        1.3 % slower GEMM-only was 4.3 % faster (4096x512, M = 256).

        The quantization writes into the set's own (A, As) (``served_writes``), as the
        bench's providers do (``BenchContext.rotate``: allocated inside the graph, every
        call's activation landed at one address, and where such a buffer lands moves a
        kernel's time); they hold the same values as before, so :meth:`run` on this set is
        unchanged."""
        qdtype = QUANT_DTYPES[task.input_type]
        A, As = per_token_group_quant(ops["X"], task.block_k, qdtype, out=(ops["A"], ops["As"]))
        return self._gemm(task, A, As, ops, cfg, out)

    def new_output(self, task: Task, device: str) -> torch.Tensor:
        return torch.empty((task.M, task.N), dtype=OUT_DTYPES[task.out_dtype], device=device)

    def reference(self, task: Task, ops: Operands) -> torch.Tensor:
        return w8a8_block_reference(ops["A"], ops["B"], ops["As"], ops["Bs"], task.block)

    def compile(self, task: Task, cfg: Config) -> None:
        self.compiler()(
            task.M,
            task.N,
            task.K,
            QUANT_DTYPES[task.input_type],
            OUT_DTYPES[task.out_dtype],
            task.block,
            cfg,
        )

    def default_config(self, task: Task) -> Config:
        return default_w8a8_config(task.block_n, task.block_k)

    def flops(self, task: Task) -> int:
        return w8a8_block_flops(task.M, task.N, task.K)

    def bytes(self, task: Task) -> int:
        return w8a8_block_bytes(task.M, task.N, task.K, OUT_DTYPES[task.out_dtype], task.block)


def _split_ints(task: Task, cfg: Config) -> tuple[int, ...]:
    """SPLIT_K as a launch at this shape chooses it on this device, and the K tiles per split:
    both reach the kernel (split 1 also drops the reduce kernel and the partials)."""
    from kernels.w8a8_block_splitk import launch_split_k

    split = launch_split_k(task.M, task.N, task.K, cfg, None, None)
    k_tiles = -(-task.K // cfg["BLOCK_SIZE_K"])
    return split, -(-k_tiles // split)


class W8A8BlockSplitK(W8A8Block):
    """Split-K + swap-AB for small M; the drop-in kernel's knobs, so the drop-in kernel's space
    (SPLIT_K is derived from the shape and the SM count inside the wrapper)."""

    name = "w8a8_block_splitk"

    def matmul(self) -> Callable[..., torch.Tensor]:
        from kernels.w8a8_block_splitk import w8a8_block_splitk_matmul

        return w8a8_block_splitk_matmul

    def compiler(self) -> Callable[..., None]:
        from kernels.w8a8_block_splitk import compile_w8a8_block_splitk

        return compile_w8a8_block_splitk

    def launch_ints(self, task: Task, cfg: Config) -> tuple[int, ...]:
        return _split_ints(task, cfg)

    def default_config(self, task: Task) -> Config:
        from kernels.w8a8_block_splitk import default_splitk_config

        return default_splitk_config(task.M)


class W8A8BlockPersistent(W8A8Block):
    """Persistent grid with TMA loads for large M; the drop-in kernel's knobs and space."""

    name = "w8a8_block_persistent"

    def matmul(self) -> Callable[..., torch.Tensor]:
        from kernels.w8a8_block_persistent import w8a8_block_persistent_matmul

        return w8a8_block_persistent_matmul

    def compiler(self) -> Callable[..., None]:
        from kernels.w8a8_block_persistent import compile_w8a8_block_persistent

        return compile_w8a8_block_persistent

    def default_config(self, task: Task) -> Config:
        from kernels.w8a8_block_persistent import default_persistent_config

        return default_persistent_config()


class W8A8BlockGluon(W8A8Block):
    """The warp-specialized Hopper kernel (FP8 only) with its own space. Imported lazily: on a
    Triton without the Gluon API it cannot even be imported (kernels.compat says why)."""

    name = "w8a8_block_gluon"
    input_types = (InputType.FP8,)

    def matmul(self) -> Callable[..., torch.Tensor]:
        from kernels.w8a8_block_gluon import w8a8_block_gluon_matmul

        return w8a8_block_gluon_matmul

    def compile(self, task: Task, cfg: Config) -> None:
        from kernels.w8a8_block_gluon import compile_w8a8_block_gluon

        compile_w8a8_block_gluon(
            task.M, task.N, task.K, OUT_DTYPES[task.out_dtype], task.block, cfg
        )

    def default_config(self, task: Task) -> Config:
        from kernels.w8a8_block_gluon import default_gluon_config

        return default_gluon_config()


class W8A8BlockDecode(W8A8Block):
    """The fused decode kernel: takes the bf16 activation X of the operands and quantizes inside
    (the (A, As) quantized from X are its reference's); its own space (SPLIT_K is a knob)."""

    name = "w8a8_block_decode"
    input_types = (InputType.FP8,)
    served_writes = ()  # it quantizes in registers

    def a_bytes(self, task: Task) -> int:
        return 2  # the bf16 activation tile is what the program loads

    def activation_dtype(self, task: Task) -> torch.dtype:
        return torch.bfloat16  # the kernel loads a bf16 activation, whatever it writes

    def served(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        return self.run(task, ops, cfg, out)  # it quantizes the activation itself

    def run(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        from kernels.w8a8_block_decode import w8a8_block_decode_matmul

        dtype = OUT_DTYPES[task.out_dtype]
        return w8a8_block_decode_matmul(
            ops["X"], ops["B"], ops["Bs"], task.block, dtype, config=cfg, out=out
        )

    def compile(self, task: Task, cfg: Config) -> None:
        from kernels.w8a8_block_decode import compile_w8a8_block_decode

        compile_w8a8_block_decode(
            task.M,
            task.N,
            task.K,
            torch.bfloat16,
            OUT_DTYPES[task.out_dtype],
            task.block,
            cfg,
        )

    def launch_ints(self, task: Task, cfg: Config) -> tuple[int, ...]:
        return _split_ints(task, cfg)

    def default_config(self, task: Task) -> Config:
        from kernels.w8a8_block_decode import default_decode_config

        return default_decode_config(task.M)


# --- Batched A16W8 (DeepSeek-R1 MLA) -------------------------------------------------------


class A16W8Batched(Tunable):
    """bf16 activations x fp8 block weights, batched over B; the drop-in kernel's knobs, so
    its space (the A tile is bf16: ``a_bytes`` 2)."""

    name = "a16w8_batched"
    input_types = (InputType.BF16,)
    batched = True

    def a_bytes(self, task: Task) -> int:
        return 2

    def make_operands(self, task: Task, g: torch.Generator, device: str) -> Operands:
        X = _randn((task.B, task.M, task.K), g, device).to(OUT_DTYPES[task.out_dtype])
        w = _randn((task.B, task.N, task.K), g, device) * 0.05
        W, Ws = quantize_weight_blockwise(w, task.block)
        return {"X": X, "W": W, "Ws": Ws}

    def run(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        return a16w8_batched_matmul(ops["X"], ops["W"], ops["Ws"], task.block, config=cfg, out=out)

    def new_output(self, task: Task, device: str) -> torch.Tensor:
        shape = (task.B, task.M, task.N)
        return torch.empty(shape, dtype=OUT_DTYPES[task.out_dtype], device=device)

    def reference(self, task: Task, ops: Operands) -> torch.Tensor:
        return a16w8_batched_reference(ops["X"], ops["W"], ops["Ws"], task.block)

    def compile(self, task: Task, cfg: Config) -> None:
        dtype = OUT_DTYPES[task.out_dtype]
        compile_a16w8_batched(task.B, task.M, task.N, task.K, dtype, dtype, task.block, cfg)

    def default_config(self, task: Task) -> Config:
        return default_a16w8_config(task.block_n, task.block_k)

    def flops(self, task: Task) -> int:
        return a16w8_batched_flops(task.B, task.M, task.N, task.K)

    def bytes(self, task: Task) -> int:
        return a16w8_batched_bytes(task.B, task.M, task.N, task.K, 2, task.block)


class A16W8BatchedSwapped(A16W8Batched):
    """The swapped-operand batched kernel (tiles per program is its knob), its own space."""

    name = "a16w8_batched_swapped"

    def run(self, task: Task, ops: Operands, cfg: Config, out: torch.Tensor) -> torch.Tensor:
        from kernels.a16w8_batched_swapped import a16w8_batched_swapped_matmul

        return a16w8_batched_swapped_matmul(
            ops["X"], ops["W"], ops["Ws"], task.block, config=cfg, out=out
        )

    def compile(self, task: Task, cfg: Config) -> None:
        from kernels.a16w8_batched_swapped import compile_a16w8_batched_swapped

        dtype = OUT_DTYPES[task.out_dtype]
        compile_a16w8_batched_swapped(task.B, task.M, task.N, task.K, dtype, dtype, task.block, cfg)

    def default_config(self, task: Task) -> Config:
        from kernels.a16w8_batched_swapped import default_swapped_config

        return default_swapped_config(task.M)


def registry(*tunables: Tunable) -> dict[str, Tunable]:
    """Name -> tunable; a second tunable with a name already taken is an error, never an
    overwrite."""
    out: dict[str, Tunable] = {}
    for t in tunables:
        if t.name in out:
            raise ValueError(f"tunable '{t.name}' is already registered")
        out[t.name] = t
    return out


TUNABLES: dict[str, Tunable] = registry(
    W8A8Block(),
    A16W8Batched(),
    W8A8BlockSplitK(),
    W8A8BlockDecode(),
    W8A8BlockPersistent(),
    W8A8BlockGluon(),
    A16W8BatchedSwapped(),
)


def get_tunable(name: str) -> Tunable:
    try:
        return TUNABLES[name]
    except KeyError:
        raise UserError(f"unknown kernel '{name}'; tunable: {', '.join(TUNABLES)}") from None
