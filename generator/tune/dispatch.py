"""Run tuning tasks on every visible GPU (or a Ray cluster) and hand results to one writer.

Local backend: one worker process per GPU, each fed one task at a time over its own pipe, most
expensive first, so the work balances itself (the reference tuners cut batch sizes into
contiguous slices per GPU, and the GPU with the large-M slice finished last). Workers only
compute; every result comes back to the coordinating process, which is the only writer (see
:mod:`generator.tune.store`).

Faults: a pipe per worker (not one shared queue) means a worker killed mid-task cannot leave a
queue lock held for the others, and the coordinator knows exactly which task died with it: that
task is reported as lost (the run then exits non-zero and says how many), the others go on to
the workers still alive. Workers die with their coordinator (:mod:`generator.tune.lifeline`).
Whatever was merged stays merged; a rerun resumes with the rest.

Ray backend: the same ``tune_task`` as a remote function with one GPU each (none for the
CPU-interpreter tests), retried by Ray on another node when the node running it dies
(``ray_retries`` times), results merged by the driver as they complete; a task whose retries
run out is reported as failed.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import socket
import sys
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection, wait

from generator.data.records import TuneRecord
from generator.data.tasks import Task
from generator.errors import UserError
from generator.tune.lifeline import children_hold_ctrl_c, die_with_parent, ignore_ctrl_c
from generator.tune.search import TuneOptions

RAY_RETRIES = 3  # Ray's own default for a task whose worker or node died
# With each task a worker is told the next ones it will likely take (with W workers, every
# W-th of the queue), whose known configs its compile pool prepares while this one is timed
# (compile_ahead.AheadCompiler.prefetch). A task takes about a second on one GPU and its ahead
# configs a few seconds of half the pool, while most are shared with the tasks before it. (With
# 4, the H200's DeepSeek-V3 TP 8 tune still waited 61 s for the compiler, 35 s of it in 20
# tasks, most of those the first of their kernel or shape; 2026-12-04.)
LOOKAHEAD = 8


@dataclass(frozen=True)
class _Assignment:
    """What the coordinator sends a worker: the task to tune, and the queued tasks it will
    likely take after it (``LOOKAHEAD``)."""

    task: Task
    upcoming: tuple[Task, ...] = ()


@dataclass
class TaskOutcome:
    task: Task
    record: TuneRecord | None
    error: str | None = None
    worker: str = ""
    lost: bool = False  # the worker died with the task (killed, crashed): nothing came back


OnOutcome = Callable[[TaskOutcome], None]


def _tune_with_errors(task: Task, opts: TuneOptions, compiler, worker: str) -> TaskOutcome:
    from generator.tune.search import tune_task

    try:
        return TaskOutcome(task, tune_task(task, opts, compiler), worker=worker)
    except Exception as exc:  # a task that breaks is reported, the run goes on
        return TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"[:500], worker=worker)


def _local_worker(
    index: int, conn: Connection, opts: TuneOptions, compile_workers: int, parent: int
) -> None:
    """One worker: receive a task, tune it, send the outcome back; ``None`` ends it.

    Ctrl-C is the coordinator's to handle: a terminal sends SIGINT to the whole process group,
    and each worker used to print its own ``KeyboardInterrupt`` traceback. The worker ignores
    it; the coordinator stops the workers and says in one line what was kept."""
    ignore_ctrl_c()
    die_with_parent(parent)
    import torch

    from generator.tune.compile_ahead import AheadCompiler
    from generator.tune.search import configs_known_ahead

    worker_opts = opts
    if opts.device.startswith("cuda"):
        torch.cuda.set_device(index)
        worker_opts = TuneOptions(**{**opts.__dict__, "device": f"cuda:{index}"})
    compiler = AheadCompiler(compile_workers if opts.device.startswith("cuda") else 0)
    code = 0
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:  # the coordinator is gone
                break
            if job is None:
                break
            compiler.prefetch(job.upcoming, partial(configs_known_ahead, opts=worker_opts))
            conn.send(_tune_with_errors(job.task, worker_opts, compiler, f"worker{index}"))
    except BaseException:  # noqa: BLE001 - reported here; the coordinator sees the exit code
        traceback.print_exc()
        code = 1
    finally:
        compiler.close()
        # Exit now, whatever ended the loop, not through the interpreter's shutdown: it waits
        # for the compile processes to finish jobs nobody needs (they die with this process,
        # see lifeline) and tears down CUDA. The H200's tune of 2026-12-04 spent 30 s after
        # its last task that way, until the coordinator's join gave up and killed this
        # worker; and a worker leaving on an exception never exited at all (its pipe never
        # closed, so the coordinator waited for it forever).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_inline(tasks: list[Task], opts: TuneOptions, on_outcome: OnOutcome) -> int:
    """Tune ``tasks`` one by one in this process (CPU tests and debugging: no worker
    processes, so what the caller patched applies)."""
    for t in sorted(tasks, key=Task.cost, reverse=True):
        on_outcome(_tune_with_errors(t, opts, None, "inline"))
    return 0


def _exit_reason(proc: mp.process.BaseProcess) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        return f"killed by signal {-code}"
    return f"exited with code {code}"


class _Pool:
    """The coordinator's side of the local workers: who holds which task, who is alive."""

    def __init__(self, workers: int, opts: TuneOptions, compile_workers: int):
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[mp.process.BaseProcess] = []
        self.in_flight: dict[int, Task] = {}
        self.alive: set[int] = set()
        for i in range(workers):
            ours, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(
                target=_local_worker,
                name=f"tune-worker-{i}",
                args=(i, theirs, opts, compile_workers, os.getpid()),
            )
            with children_hold_ctrl_c():
                proc.start()
            theirs.close()  # only the worker holds its end: its death is an EOF here
            self.conns.append(ours)
            self.procs.append(proc)
            self.alive.add(i)

    def feed(self, i: int, queue: deque[Task]) -> None:
        """Hand worker ``i`` the next task, or tell it to stop."""
        task = queue.popleft() if queue else None
        # the tasks this worker will likely take next: with W workers, about every W-th
        w = len(self.conns)
        upcoming = tuple(itertools.islice(queue, w - 1, w - 1 + w * LOOKAHEAD, w))
        try:
            self.conns[i].send(_Assignment(task, upcoming) if task is not None else None)
        except OSError:  # died since its last message: the task was never started
            if task is not None:
                queue.appendleft(task)
            self.alive.discard(i)
            return
        if task is not None:
            self.in_flight[i] = task

    def receive(self, i: int) -> TaskOutcome | None:
        """Worker ``i``'s outcome if it sent one; None if it died without (EOF)."""
        try:
            return self.conns[i].recv()
        except (EOFError, OSError):
            return None

    def close(self, abort: bool = False) -> None:
        """Stop every worker: at once when aborting (Ctrl-C, an error), else once idle."""
        for i in list(self.alive):
            try:
                self.conns[i].send(None)
            except OSError:
                pass
        for proc in self.procs:
            if abort and proc.is_alive():
                proc.kill()
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        for conn in self.conns:
            conn.close()


def run_local(
    tasks: list[Task], opts: TuneOptions, workers: int, compile_workers: int, on_outcome: OnOutcome
) -> int:
    """Tune ``tasks`` with ``workers`` processes (one per GPU); returns the number of tasks
    lost (each also reported to ``on_outcome`` with ``lost=True``): those in flight on a worker
    that died, and those no worker was left to run."""
    queue = deque(sorted(tasks, key=Task.cost, reverse=True))
    pool = _Pool(workers, opts, compile_workers)
    lost = 0
    try:
        for i in range(workers):
            pool.feed(i, queue)
        while pool.in_flight:
            # a worker's pipe is readable when its outcome arrives or when it dies (EOF)
            readable = {pool.conns[i]: i for i in pool.in_flight}
            for conn in wait(list(readable)):
                i = readable[conn]
                outcome = pool.receive(i)
                task = pool.in_flight.pop(i)
                if outcome is not None:
                    pool.feed(i, queue)  # first: the worker tunes on while this is merged
                    on_outcome(outcome)
                    continue
                pool.alive.discard(i)
                pool.procs[i].join(timeout=10)
                lost += 1
                why = f"worker{i} died ({_exit_reason(pool.procs[i])})"
                on_outcome(TaskOutcome(task, None, why, worker=f"worker{i}", lost=True))
        for task in queue:  # every worker died before these could start
            lost += 1
            on_outcome(TaskOutcome(task, None, "not run: no worker left", lost=True))
    except BaseException:
        pool.close(abort=True)
        raise
    pool.close()
    return lost


RAY_PROBE_S = 5.0  # how long the check of a Ray head's address waits for an answer


def _head(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address that names one ("10.0.0.1:6379", "ray://host:10001");
    None for "auto", "local" and other forms Ray resolves itself."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def ray_preflight(address: str | None) -> None:
    """Before any file is touched: the Ray head of ``address`` answers, and Ray is installed.

    Without this, an unreachable ``--address`` gave 25 s of Ray's warnings and a traceback,
    and a missing Ray was found after the run had rebuilt drop-in files. One line each now."""
    head = _head(address) if address else None
    if address and head is None and address not in ("auto", "local"):
        raise UserError(f"--address {address}: expected HOST:PORT (or ray://HOST:PORT, auto)")
    if head is not None:
        try:
            socket.create_connection(head, timeout=RAY_PROBE_S).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UserError(
                f"--address {address}: no Ray head answers there ({reason}); start one with "
                "`ray start --head` or leave --address out for a local Ray"
            ) from None
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'blockgemm-catalog[ray]'") from None


def run_ray(
    tasks: list[Task],
    opts: TuneOptions,
    address: str | None,
    on_outcome: OnOutcome,
    retries: int = RAY_RETRIES,
) -> int:
    """Tune ``tasks`` on a Ray cluster (``address``) or a local Ray instance (None); a task
    whose node dies is retried elsewhere up to ``retries`` times, then reported as failed."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'blockgemm-catalog[ray]'") from None
    on_cuda = opts.device.startswith("cuda")
    env = {} if on_cuda else {"TRITON_INTERPRET": "1"}
    try:
        ray.init(
            address=address,
            runtime_env={"env_vars": env},
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:  # what ray.init raises
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--address {address}: Ray could not connect ({first})") from None
    try:
        remote = ray.remote(num_gpus=1 if on_cuda else 0, max_retries=retries)(_ray_task)
        pending = {
            remote.options(**ray_placement(t)).remote(t, opts): t
            for t in sorted(tasks, key=Task.cost, reverse=True)
        }
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


def ray_placement(task: Task) -> dict:
    """Ray scheduling options for one task: none, so Ray places each task by the GPU it asks
    for. The one seam for pinning tasks to nodes (the fault test pins each task to a node, so
    which node holds which task is known, not left to Ray's scheduler)."""
    return {}


def _ray_task(task: Task, opts: TuneOptions) -> TaskOutcome:
    import ray

    node = ray.get_runtime_context().get_node_id()
    return _tune_with_errors(task, opts, None, f"ray:{node[:12]}")  # the spread per node
