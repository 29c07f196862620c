"""What to tune: model shapes x TP x batch sizes -> unique tasks.

A :class:`TuneRequest` is what the user asked for (models, a config.json, or one custom
shape; TP sizes; batch sizes; dtypes; kernels); :func:`build_tasks` turns it into tasks, one
per (kernel, shape, M), a shape shared by several models or layers tuned once. It also names
what was tuned (:meth:`TuneRequest.label`), so records written for a run say what they cover.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from generator.configs.limits import MAX_BLOCK, MIN_BLOCK, check_problem_size
from generator.data import models
from generator.data.tasks import DEFAULT_BATCH_SIZES, Task
from generator.errors import UserError
from generator.tune.tunables import get_tunable
from kernels.compat import GpuInfo, kernel_problem

DEFAULT_KERNELS = ("w8a8_block", "a16w8_batched")


@dataclass(frozen=True)
class TuneRequest:
    models: tuple[str, ...] = ()  # bundled ids / HF names, or "all"
    model_configs: tuple[Path, ...] = ()  # local config.json files
    tp_sizes: tuple[int, ...] = (8,)
    N: int | None = None  # one custom weight shape (with K)
    K: int | None = None
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    input_type: str = "fp8"
    out_dtype: str = "bfloat16"
    block: tuple[int, int] = (128, 128)
    kernels: tuple[str, ...] = DEFAULT_KERNELS

    @property
    def model_names(self) -> tuple[str, ...]:
        """The bundled models asked for; DeepSeek-V3 when nothing at all is named."""
        if self.models or self.model_configs or self.N is not None:
            return self.models
        return ("deepseek-v3",)

    def label(self) -> str:
        """What was tuned, in words and as a file-name-safe key, e.g. ``deepseek-v3__tp8``,
        ``config-MyModel__tp4``, ``N4096_K7168``."""
        parts = [*self.model_names]
        parts += [f"config-{p.parent.name or p.stem}" for p in self.model_configs]
        if self.N is not None:
            parts.append(f"N{self.N}_K{self.K}")
        what = ",".join(parts)
        if self.model_names or self.model_configs:
            what += "__tp" + ",".join(str(t) for t in self.tp_sizes)
        return what.replace("/", "_")

    def command(self) -> str:
        """The ``python -m generator tune`` command line that asks for this, options left at
        their defaults left out: what a tune-time record shows a reader to rerun."""
        argv = ["python -m generator tune"]
        argv += [f"--model {m}" for m in self.models]
        argv += [f"--model-config {p}" for p in self.model_configs]
        if self.models or self.model_configs or self.N is None:
            argv += [f"--tp-size {tp}" for tp in self.tp_sizes]
        if self.N is not None:
            argv.append(f"--N {self.N} --K {self.K}")
        if self.batch_sizes != DEFAULT_BATCH_SIZES:
            argv.append("--batch-sizes " + ",".join(map(str, self.batch_sizes)))
        if self.input_type != "fp8":
            argv.append(f"--input-type {self.input_type}")
        if self.out_dtype != "bfloat16":
            argv.append(f"--out-dtype {self.out_dtype}")
        if self.block != (128, 128):
            argv.append(f"--block-n {self.block[0]} --block-k {self.block[1]}")
        argv.append("--kernels " + ",".join(self.kernels))
        return " ".join(argv)


def _specs(req: TuneRequest) -> list[models.ModelSpec]:
    names = list(req.model_names)
    if "all" in names:
        names = models.list_bundled()
    specs = [models.load_model(n) for n in names]
    specs += [models.load_hf_config(p) for p in req.model_configs]
    return specs


def check_block(block: tuple[int, int], kernels: tuple[str, ...]) -> None:
    """The quantization block (``--block-n``, ``--block-k``) against the kernels' rules: at
    least ``MIN_BLOCK`` and at most ``MAX_BLOCK``, and ``--block-k`` a multiple of some
    BLOCK_SIZE_K of each kernel's search space (a K tile must sit inside one scale block;
    with none that does, every config is pruned and a run would "succeed" with no winner)."""
    for flag, value in (("--block-n", block[0]), ("--block-k", block[1])):
        if value < MIN_BLOCK:
            raise UserError(
                f"{flag} {value}: must be at least {MIN_BLOCK} (the kernels' smallest block)"
            )
        if value > MAX_BLOCK:
            raise UserError(f"{flag} {value}: must be at most {MAX_BLOCK}")
    for tunable in (get_tunable(k) for k in kernels):
        tiles = sorted({cfg["BLOCK_SIZE_K"] for cfg in tunable.space.configs()})
        if not any(block[1] % t == 0 for t in tiles):
            raise UserError(
                f"--block-k {block[1]}: no BLOCK_SIZE_K of {tunable.name}'s search space"
                f" ({', '.join(map(str, tiles))}) divides it, so every config would be pruned"
            )


def build_tasks(req: TuneRequest) -> list[Task]:
    """Model shapes x TP x batch sizes -> unique tasks (a shape shared by models tunes once)."""
    if (req.N is None) != (req.K is None):
        raise UserError("--N and --K go together")
    tunables = [get_tunable(k) for k in req.kernels]  # UserError naming the known kernels
    check_block(req.block, req.kernels)
    gemm_kernels = [t.name for t in tunables if not t.batched]
    batched_kernels = [t for t in tunables if t.batched]
    for tp in req.tp_sizes:
        if tp < 1:
            raise UserError(f"--tp-size {tp}: must be >= 1")
    nk: list[tuple[int, int]] = []
    batched: list[tuple[int, int, int]] = []
    explicit = bool(req.models and "all" not in req.models) or bool(req.model_configs)
    for spec in _specs(req):
        for tp in req.tp_sizes:
            try:
                shapes = models.weight_shapes(spec, tp, *req.block)
            except UserError as exc:
                if explicit:
                    raise
                print(f"skipping {spec.id} at TP {tp}: {exc}", file=sys.stderr)
                continue
            nk += models.unique_nk(shapes)
            batched += [(s.B, s.N, s.K) for s in models.mla_batched_shapes(spec, tp)]
    if req.N is not None:
        if req.N < 1 or req.K < 1:
            raise UserError(f"--N {req.N} --K {req.K}: must be positive")
        if req.K % req.block[1]:
            raise UserError(f"--K {req.K} is not a multiple of --block-k {req.block[1]}")
        nk.append((req.N, req.K))
    tasks = [
        Task(kernel, req.input_type, req.out_dtype, *req.block, n, k, 1, m)
        for kernel in gemm_kernels
        for n, k in dict.fromkeys(nk)
        for m in req.batch_sizes
    ]
    tasks += [
        Task(t.name, t.input_types[0].value, req.out_dtype, *req.block, n, k, b, m)
        for t in batched_kernels
        for b, n, k in dict.fromkeys(batched)
        for m in req.batch_sizes
    ]
    for shape in dict.fromkeys((t.B, t.N, t.K) for t in tasks):
        b, n, k = shape
        check_problem_size(max(req.batch_sizes), n, k, b, where="--batch-sizes/--N/--K: ")
    return tasks


def check_kernels_run_here(kernels: tuple[str, ...], input_type: str, gpu: GpuInfo) -> None:
    """Each kernel asked for must run on this GPU as itself (``kernels.compat.kernel_problem``):
    the Gluon kernel only on Hopper, the persistent TMA kernel from sm_90, FP8 dots from sm_89.
    Checked before any work, one line: tuning them elsewhere would record every config as an
    error, or time another kernel than the one named."""
    for name in kernels:
        tunable = get_tunable(name)
        problem = kernel_problem(name, gpu, fp8=input_type == "fp8" and not tunable.batched)
        if problem:
            raise UserError(f"--kernels {name}: {problem}")
