"""Run tuning tasks on every visible GPU (or a Ray cluster) and hand results to one writer.

Local backend: one worker process per GPU pulls tasks from a shared queue, most expensive
first, so the work balances itself (the reference tuners cut batch sizes into contiguous
slices per GPU, and the GPU with the large-M slice finished last). Workers only compute; every
result comes back to the coordinating process, which is the only writer (see tune_store).
If the run is killed, what was merged stays merged and the tasks in flight are redone on rerun.

Ray backend: the same ``tune_task`` as a remote function with one GPU each (none for the
CPU-interpreter tests), results merged by the driver as they complete.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable
from dataclasses import dataclass

from generator.data.records import TuneRecord
from generator.errors import UserError
from generator.tune.search import TuneOptions
from generator.tune.tasks import Task


@dataclass
class TaskOutcome:
    task: Task
    record: TuneRecord | None
    error: str | None = None
    worker: str = ""


OnOutcome = Callable[[TaskOutcome], None]


def _tune_with_errors(task: Task, opts: TuneOptions, compiler, worker: str) -> TaskOutcome:
    from generator.tune.search import tune_task

    try:
        return TaskOutcome(task, tune_task(task, opts, compiler), worker=worker)
    except Exception as exc:  # a task that breaks is reported, the run goes on
        return TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"[:500], worker=worker)


def _local_worker(
    index: int, tasks: mp.Queue, results: mp.Queue, opts: TuneOptions, compile_workers: int
) -> None:
    import torch

    from generator.tune.compile_ahead import AheadCompiler

    worker_opts = opts
    if opts.device.startswith("cuda"):
        torch.cuda.set_device(index)
        worker_opts = TuneOptions(**{**opts.__dict__, "device": f"cuda:{index}"})
    compiler = AheadCompiler(compile_workers if opts.device.startswith("cuda") else 0)
    try:
        while True:
            task = tasks.get()
            if task is None:
                break
            results.put(_tune_with_errors(task, worker_opts, compiler, f"worker{index}"))
    finally:
        compiler.close()


def run_inline(tasks: list[Task], opts: TuneOptions, on_outcome: OnOutcome) -> int:
    """Tune ``tasks`` one by one in this process (CPU tests and debugging: no worker
    processes, so what the caller patched applies)."""
    for t in sorted(tasks, key=Task.cost, reverse=True):
        on_outcome(_tune_with_errors(t, opts, None, "inline"))
    return 0


def run_local(
    tasks: list[Task], opts: TuneOptions, workers: int, compile_workers: int, on_outcome: OnOutcome
) -> int:
    """Tune ``tasks`` with ``workers`` processes (one per GPU); returns tasks not finished."""
    ctx = mp.get_context("spawn")
    task_q: mp.Queue = ctx.Queue()
    result_q: mp.Queue = ctx.Queue()
    for t in sorted(tasks, key=Task.cost, reverse=True):
        task_q.put(t)
    for _ in range(workers):
        task_q.put(None)
    procs = [
        ctx.Process(
            target=_local_worker,
            name=f"tune-worker-{i}",
            args=(i, task_q, result_q, opts, compile_workers),
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    remaining = len(tasks)
    try:
        while remaining:
            try:
                outcome = result_q.get(timeout=5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break  # every worker died (their in-flight tasks are lost, rerun resumes)
                continue
            remaining -= 1
            on_outcome(outcome)
    finally:
        for p in procs:
            if p.is_alive() and remaining:
                p.terminate()
            p.join(timeout=30)
    return remaining


def run_ray(
    tasks: list[Task], opts: TuneOptions, address: str | None, on_outcome: OnOutcome
) -> int:
    """Tune ``tasks`` on a Ray cluster (``address``) or a local Ray instance (None)."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'blockgemm-catalog[ray]'") from None
    on_cuda = opts.device.startswith("cuda")
    env = {} if on_cuda else {"TRITON_INTERPRET": "1"}
    ray.init(
        address=address,
        runtime_env={"env_vars": env},
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
    )
    try:
        remote = ray.remote(num_gpus=1 if on_cuda else 0)(_ray_task)
        pending = {remote.remote(t, opts): t for t in sorted(tasks, key=Task.cost, reverse=True)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # worker crash: report the task as failed
                    outcome = TaskOutcome(task, None, f"ray: {exc}"[:500], worker="ray")
                on_outcome(outcome)
    finally:
        ray.shutdown()
    return 0


def _ray_task(task: Task, opts: TuneOptions) -> TaskOutcome:
    return _tune_with_errors(task, opts, None, "ray")
