"""Compile kernel configs ahead of timing, on all CPU cores.

Triton compiles a config the first time it is launched, one at a time, for 1-2 s each; tuning
hundreds of configs that way is mostly waiting for the compiler. Here a pool of processes calls
each kernel's ``warmup`` (compile without launch) for the configs a task is about to time; the
binaries land in Triton's on-disk cache, and the timing process then only loads them.

A compile key is the kernel, its dtypes and block, the config, and the *specialization class*
of every integer argument (Triton specializes on == 1 and divisibility by 16): the task's sizes
(B included: the batched kernels take it) and what a launch derives from them (the split-K
kernels' SPLIT_K, :meth:`Tunable.launch_ints`). Tasks in one class share binaries, so most tasks
after the first few find everything compiled.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from generator.configs.keys import config_key
from generator.data.tasks import Task
from generator.tune.lifeline import children_hold_ctrl_c, die_with_parent, ignore_ctrl_c


def _int_class(v: int) -> int:
    return 1 if v == 1 else (16 if v % 16 == 0 else 0)


def spec_class(task: Task) -> tuple:
    kb = -(-task.K // task.block_k)
    nb = -(-task.N // task.block_n)
    ints = (
        task.B,
        task.M,
        task.N,
        task.K,
        kb,
        nb,
        task.M * task.K,
        task.N * task.K,
        task.M * task.N,
        nb * kb,
    )
    return (
        task.kernel,
        task.input_type,
        task.out_dtype,
        task.block,
        tuple(_int_class(v) for v in ints),
    )


def compile_key(task: Task, cfg: dict[str, int]) -> tuple:
    """What the binaries of ``cfg`` at ``task`` depend on; equal keys, equal binaries."""
    from generator.tune.tunables import get_tunable

    derived = get_tunable(task.kernel).launch_ints(task, cfg)
    return spec_class(task), config_key(cfg), tuple(_int_class(v) for v in derived)


def _start_compiler(parent: int) -> None:
    """A compile process: dies with the worker that started it, and leaves Ctrl-C to the
    coordinator (the terminal's SIGINT reaches every process of the group; each pool process
    used to print a ``Process SpawnProcess-N`` traceback)."""
    ignore_ctrl_c()
    die_with_parent(parent)


def _compile_one(job: tuple[Task, dict[str, int]]) -> str | None:
    """Runs in a pool process: compile one config, return None or a one-line error."""
    from generator.tune.tunables import get_tunable

    task, cfg = job
    try:
        get_tunable(task.kernel).compile(task, cfg)
        return None
    except Exception as exc:  # reported as the config's compile_error status
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


class AheadCompiler:
    """Callable ``(task, configs) -> {config_key: error}`` for the configs that failed."""

    def __init__(self, workers: int | None = None):
        if workers is None:
            workers = os.cpu_count() or 1
        self._pool = (
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_compiler,  # a killed worker takes its compilers along
                initargs=(os.getpid(),),
            )
            if workers > 0
            else None
        )
        self._done: dict[tuple, str | None] = {}

    def __call__(self, task: Task, configs: list[dict[str, int]]) -> dict[tuple, str]:
        if self._pool is None:  # no compile processes (CPU runs): launches compile
            return {}
        keys = [compile_key(task, c) for c in configs]
        pending = {k: c for k, c in zip(keys, configs, strict=True) if k not in self._done}
        if pending:
            jobs = [(task, c) for c in pending.values()]
            with children_hold_ctrl_c():  # the pool starts its processes here, on demand
                errors = list(self._pool.map(_compile_one, jobs, chunksize=1))
            for key, err in zip(pending, errors, strict=True):
                self._done[key] = err
        failed = {}
        for c, key in zip(configs, keys, strict=True):
            err = self._done.get(key)
            if err:
                failed[config_key(c)] = err
        return failed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
