"""Compile kernel configs ahead of timing, on all CPU cores.

Triton compiles a config the first time it is launched, one at a time, for 1-2 s each; tuning
hundreds of configs that way is mostly waiting for the compiler. Here a pool of processes calls
each kernel's ``warmup`` (compile without launch) for the configs a task is about to time; the
binaries land in Triton's on-disk cache, and the timing process then only loads them.

Two ways in. A task's pass asks for its configs and waits for them (``AheadCompiler(task,
configs)``). And while a task is being timed, the configs the *next* tasks will certainly ask
for (their first pass, defaults and shipped entries, known before any timing) are compiled in
the background (``prefetch``), on at most half the pool, so that a pass's own request never
queues behind more than that. Why: the H200's DeepSeek-V3 TP 8 tune of 2026-12-03 (a850d82)
waited 142 s of its 503 s for the compiler while the CPU cores idled during the timing, and of
the 7180 distinct binaries its pruned spaces hold, 939 are known ahead.

A compile key is the kernel, its dtypes and block, the config, and the *specialization class*
of every integer argument (Triton specializes on == 1 and divisibility by 16): the task's sizes
(B included: the batched kernels take it) and what a launch derives from them (the split-K
kernels' SPLIT_K, :meth:`Tunable.launch_ints`). Tasks in one class share binaries, so most tasks
after the first few find everything compiled.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor

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


Config = dict[str, int]


class AheadCompiler:
    """Callable ``(task, configs) -> {config_key: error}`` for the configs that failed; each
    distinct compile key is compiled once, whichever way it was asked for.

    ``pool``: where compile jobs run (tests pass a thread pool); by default ``workers``
    processes, none when ``workers`` is 0 (CPU runs: launches compile, prefetch does nothing).
    """

    def __init__(self, workers: int | None = None, pool: Executor | None = None):
        if workers is None:
            workers = os.cpu_count() or 1
        if pool is None and workers > 0:
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_compiler,  # a killed worker takes its compilers along
                initargs=(os.getpid(),),
            )
        self._pool = pool
        self._futures: dict[tuple, Future] = {}  # every key asked for, by either way in
        # prefetch state, under _cond: tasks still to expand into jobs, the jobs of the task
        # being expanded, and how many prefetched jobs run now (at most _slots)
        self._cond = threading.Condition()
        self._ahead_tasks: deque[Task] = deque()
        self._ahead_jobs: deque[tuple[tuple, Task, Config]] = deque()
        # each task's ahead list, built once: a task is named in several successive lists
        self._listed: dict[Task, list[tuple[tuple, Task, Config]]] = {}
        self._configs_of: Callable[[Task], Sequence[Config]] | None = None
        self._running = 0
        self._slots = max(1, workers // 2)
        self._generation = 0  # a new prefetch list makes what the feeder holds stale
        self._closing = False
        self._feeder: threading.Thread | None = None

    def __call__(self, task: Task, configs: list[Config]) -> dict[tuple, str]:
        if self._pool is None:  # no compile processes (CPU runs): launches compile
            return {}
        keys = [compile_key(task, c) for c in configs]
        with self._cond, children_hold_ctrl_c():  # the pool starts its processes on demand
            for key, cfg in zip(keys, configs, strict=True):
                if key not in self._futures:
                    self._futures[key] = self._pool.submit(_compile_one, (task, cfg))
            futures = [self._futures[key] for key in keys]
        failed = {}
        for cfg, future in zip(configs, futures, strict=True):
            err = future.result()
            if err:
                failed[config_key(cfg)] = err
        return failed

    def prefetch(
        self, tasks: Sequence[Task], configs_of: Callable[[Task], Sequence[Config]]
    ) -> None:
        """Compile ``configs_of(task)`` for each of ``tasks`` in the background, in order, on
        at most half the pool (one process of a pool of one). Replaces what an earlier call
        queued and has not started (this worker has moved on to the task after it); jobs
        already running finish."""
        if self._pool is None:
            return
        with self._cond:
            self._generation += 1
            self._ahead_tasks = deque(tasks)
            self._ahead_jobs.clear()
            self._configs_of = configs_of
            if self._feeder is None:
                with children_hold_ctrl_c():  # the feeder may start pool processes too
                    self._feeder = threading.Thread(
                        target=self._feed, name="compile-ahead", daemon=True
                    )
                    self._feeder.start()
            self._cond.notify_all()

    def _feed(self) -> None:
        """The feeder thread: expand the next task into jobs, submit while a slot is free.

        It returns only when the compiler closes or its pool is unusable: a pool process it
        started (a submit may start one) dies with this thread (``PR_SET_PDEATHSIG`` follows
        the thread that started a process, ``lifeline.die_with_parent``)."""
        while True:
            with self._cond:
                while not self._closing and (
                    self._running >= self._slots or not (self._ahead_jobs or self._ahead_tasks)
                ):
                    self._cond.wait()
                if self._closing:
                    return
                generation = self._generation
                if not self._ahead_jobs:
                    task, configs_of = self._ahead_tasks.popleft(), self._configs_of
                    job = None
                    if task in self._listed:
                        self._ahead_jobs.extend(self._listed[task])
                        continue
                else:
                    job = self._ahead_jobs.popleft()
                    if job[0] in self._futures:
                        continue
                    try:
                        future = self._pool.submit(_compile_one, (job[1], job[2]))
                    except RuntimeError:  # shut down or broken: the demand path reports it
                        return
                    self._futures[job[0]] = future
                    self._running += 1
            if job is not None:
                future.add_done_callback(self._prefetched)
                continue
            try:  # outside the lock: pruning a space takes tens of ms
                jobs = [(compile_key(task, c), task, c) for c in configs_of(task)]
            except Exception:  # noqa: BLE001 - a prefetch is a hint; the task's own pass asks again
                jobs = []
            with self._cond:
                self._listed[task] = jobs
                if generation == self._generation:
                    self._ahead_jobs.extend(jobs)  # those already asked for are skipped above

    def _prefetched(self, _future: Future) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Stop prefetching and drop what is queued, without waiting for the jobs still
        compiling: nobody needs them (a prefetch for tasks that will not come, a config of a
        pass already given up), and one can take tens of seconds."""
        with self._cond:  # the feeder (a daemon) sees this at its next step and returns
            self._closing = True
            self._cond.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
