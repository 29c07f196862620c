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
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

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


def _done(result: str | None) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _broke(future: Future) -> bool:
    """Did this job fail because its pool broke or was shut down (not because its config
    failed)?"""
    return future.cancelled() or (
        future.done() and isinstance(future.exception(), BrokenProcessPool)
    )


def _is_broken(pool: Executor) -> bool:
    """A process pool marks itself broken once a process died (``_broken``, private but
    stable since 3.8); any other executor counts as broken only when it says so."""
    return bool(getattr(pool, "_broken", False))


def _process_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_compiler,  # a killed worker takes its compilers along
        initargs=(os.getpid(),),
    )


DIED = "the compile process died building this config (killed, or the compiler crashed)"


class AheadCompiler:
    """Callable ``(task, configs) -> {config_key: error}`` for the configs that failed; each
    distinct compile key is compiled once, whichever way it was asked for.

    ``new_pool``: makes the pool compile jobs run in (tests pass thread pools); by default
    ``workers`` processes, none when ``workers`` is 0 (CPU runs: launches compile, prefetch
    does nothing). ``job``: what a pool process runs for one (task, config).

    A compile process that dies (killed for memory, a crashing compiler) breaks its whole
    pool: every job in it fails, whichever one killed it, and so did every later compile of
    the tuning worker, so each of its remaining tasks failed. Now the pool is replaced and the
    unfinished jobs are asked again; if they break the new pool too, they are compiled one at
    a time, and only a config that kills a process on its own is recorded as failed (DIED).
    """

    def __init__(
        self,
        workers: int | None = None,
        new_pool: Callable[[], Executor] | None = None,
        job: Callable[[tuple[Task, Config]], str | None] | None = None,
    ):
        if workers is None:
            workers = os.cpu_count() or 1
        if new_pool is None and workers > 0:
            new_pool = partial(_process_pool, workers)
        self._new_pool = new_pool
        self._pool = new_pool() if new_pool is not None else None
        self._job = job  # None: _compile_one
        self._futures: dict[tuple, Future] = {}  # every key asked for, by either way in
        self._pool_of: dict[tuple, Executor] = {}  # the pool each submitted key's future is of
        self._isolating = 0  # callers compiling one job at a time: the feeder waits
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
        jobs = [(compile_key(task, c), task, c) for c in configs]
        errors = self._results(jobs)
        return {config_key(c): err for c, err in zip(configs, errors, strict=True) if err}

    def _results(self, jobs: list[tuple[tuple, Task, Config]]) -> list[str | None]:
        """Each job's compile error or None, through as many fresh pools as it takes (see
        the class doc): all together twice, then one at a time."""
        for _ in range(2):
            try:
                return [f.result() for f in self._submit(jobs)]
            except (BrokenProcessPool, CancelledError):
                if self._closing:
                    raise
                self._renew()
        with self._cond:  # no prefetch while a job is judged alone (it could break the pool)
            self._isolating += 1
        try:
            return [self._alone(job) for job in jobs]
        finally:
            with self._cond:
                self._isolating -= 1
                self._cond.notify_all()

    def _alone(self, job: tuple[tuple, Task, Config]) -> str | None:
        """One job's error, compiled with nothing else in the pool: once every prefetched job
        has ended, so a break is this job's own. A job that breaks a pool alone is recorded as
        failed (DIED) and never asked again: it would break the next pool too."""
        with self._cond:
            while self._running:
                self._cond.wait()
        for _ in range(2):
            (future,) = self._submit([job])
            try:
                return future.result()
            except CancelledError:  # another caller renewed the pool under it: ask again
                if self._closing:
                    raise
            except BrokenProcessPool:
                self._renew()
                with self._cond:
                    self._futures[job[0]] = _done(DIED)
                return DIED
        return future.result()  # cancelled twice: the caller sees why

    def _submit(self, jobs: list[tuple[tuple, Task, Config]]) -> list[Future]:
        """The future of each job: the one asked for before (by either way in), unless it
        failed with its pool or came from a pool replaced since (CPython marks a pool broken
        before it fails the pool's futures: one still pending then would fail later), else a
        new one from the current pool."""
        with self._cond, children_hold_ctrl_c():  # the pool starts its processes on demand
            for key, task, cfg in jobs:
                known = self._futures.get(key)
                settled = known is not None and known.done() and not _broke(known)
                if not settled and (
                    known is None or _broke(known) or self._pool_of.get(key) is not self._pool
                ):
                    self._futures[key] = self._submit_one(key, task, cfg)
            return [self._futures[key] for key, _, _ in jobs]

    def _submit_one(self, key: tuple, task: Task, cfg: Config) -> Future:
        """Under ``_cond``: a submit to a pool found broken goes to a fresh one; the future's
        pool is remembered (see :meth:`_submit`)."""
        if self._pool is None:
            raise RuntimeError("the compile pool is closed")
        job = self._job if self._job is not None else _compile_one
        try:
            future = self._pool.submit(job, (task, cfg))
        except BrokenProcessPool:
            self._renew_locked()
            future = self._pool.submit(job, (task, cfg))
        self._pool_of[key] = self._pool
        return future

    def _renew(self) -> None:
        with self._cond:
            self._renew_locked()

    def _renew_locked(self) -> None:
        """A fresh pool for a broken one (once per break, whoever notices it first)."""
        if self._pool is None or self._closing or not _is_broken(self._pool):
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

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
                    self._isolating
                    or self._running >= self._slots
                    or not (self._ahead_jobs or self._ahead_tasks)
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
                        future = self._submit_one(job[0], job[1], job[2])
                    except RuntimeError:  # shut down: nothing more to prefetch
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
