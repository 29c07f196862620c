"""The compile pool: a task's own request, and the configs of the next tasks prepared ahead.

The pool is a thread pool here and the compile a stand-in that blocks until the test lets it
go, so what runs when is decided by the test, not by timing (no sleeps)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from generator.configs.keys import config_key
from generator.data.tasks import Task
from generator.tune import compile_ahead
from generator.tune.compile_ahead import AheadCompiler, compile_key
from generator.tune.search import TuneOptions, configs_known_ahead, tune_task

WAIT_S = 30  # a bound on a thread being scheduled, never reached when the code is right
BASE = {"BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 128, "GROUP_SIZE_M": 1, "num_warps": 4}


BASE_1 = {**BASE, "BLOCK_SIZE_M": 16, "num_stages": 1}


def task(N: int = 48) -> Task:
    return Task("w8a8_block", "fp8", "bfloat16", 128, 128, N, 256, 1, 1)


def configs(n: int, **kw) -> list[dict[str, int]]:
    return [{**BASE, "BLOCK_SIZE_M": 16, "num_stages": s, **kw} for s in range(1, n + 1)]


class Gate:
    """The stand-in compile: records what started, in order, and holds each until let go."""

    def __init__(self):
        self.cond = threading.Condition()
        self.started: list[tuple] = []
        self.running = 0
        self.most_running = 0
        self.open = False

    def __call__(self, job):
        t, cfg = job
        with self.cond:
            self.started.append(compile_key(t, cfg))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.cond.notify_all()
            assert self.cond.wait_for(lambda: self.open, WAIT_S)
            self.running -= 1
        return "CompilationError: stand-in" if cfg["num_stages"] == 3 else None

    def wait_started(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.started) >= n, WAIT_S), self.started

    def release(self) -> None:
        with self.cond:
            self.open = True
            self.cond.notify_all()


@pytest.fixture
def gate(monkeypatch):
    g = Gate()
    monkeypatch.setattr(compile_ahead, "_compile_one", g)
    yield g
    g.release()


class RecordingPool(ThreadPoolExecutor):
    """A thread pool that keeps the order jobs were handed to it (two of its threads may
    start jobs handed in one order in the other: the order they start in is not asserted)."""

    def __init__(self, workers: int):
        super().__init__(workers)
        self.submitted: list[tuple] = []

    def submit(self, fn, job, /, *args, **kwargs):
        self.submitted.append(compile_key(*job))
        return super().submit(fn, job, *args, **kwargs)


@pytest.fixture
def pool():
    return RecordingPool(4)


@pytest.fixture
def compiler(pool):
    c = AheadCompiler(4, new_pool=lambda: pool)  # four compile slots, two of them for prefetching
    yield c
    c.close()


def test_prefetch_leaves_half_the_pool_to_the_task_being_timed(gate, compiler, pool):
    """Six configs prefetched take two slots; a config the running task asks for starts at
    once beside them, and the prefetched ones compile in the order given."""
    t = task()
    ahead = configs(6)
    compiler.prefetch([t], lambda _t: ahead)
    gate.wait_started(2)
    now = configs(1, BLOCK_SIZE_M=32)
    result = {}
    asking = threading.Thread(target=lambda: result.update(compiler(t, now)))
    asking.start()
    gate.wait_started(3)
    assert gate.started[2] == compile_key(t, now[0])  # not queued behind the prefetch
    assert gate.running == 3
    gate.release()
    asking.join(WAIT_S)
    assert result == {}
    failed = compiler(t, ahead)  # waits for the prefetched ones, compiles nothing again
    assert failed == {config_key(ahead[2]): "CompilationError: stand-in"}
    prefetched = [k for k in pool.submitted if k != compile_key(t, now[0])]
    assert prefetched == [compile_key(t, c) for c in ahead]
    assert sorted(gate.started) == sorted(pool.submitted) and gate.most_running <= 3


def test_a_new_prefetch_list_replaces_what_had_not_started(gate, compiler, pool):
    """When the next task starts, the prefetch of the one before is under way or done: what
    it queued and had not started is dropped, not compiled behind the new list."""
    first, second = task(48), task(64)
    compiler.prefetch([first], lambda _t: configs(6))
    gate.wait_started(2)
    later = configs(2, BLOCK_SIZE_M=64)
    compiler.prefetch([second], lambda _t: later)
    gate.release()
    compiler(second, later)
    compiler(first, configs(2))  # the two that had started: done, nothing compiled again
    expected = [compile_key(first, c) for c in configs(2)]
    expected += [compile_key(second, c) for c in later]
    assert pool.submitted == expected and sorted(gate.started) == sorted(expected)


def test_a_config_already_asked_for_is_never_compiled_twice(gate, compiler, pool):
    """Keys are shared across tasks of one specialization class (M = 1 and M = 2 are not,
    M = 16 and M = 32 are): what one task compiled, the next finds done."""
    a = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, 16)
    b = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, 32)
    gate.release()
    compiler(a, configs(2))
    compiler.prefetch([b], lambda _t: configs(2))
    compiler(b, configs(2))
    assert pool.submitted == [compile_key(a, c) for c in configs(2)]
    assert sorted(gate.started) == sorted(pool.submitted)


def test_a_failing_config_list_is_only_a_hint(gate, compiler):
    """A task whose ahead list cannot be built (here: it raises) is skipped; the next is
    prefetched and the task's own request still compiles."""

    def configs_of(t):
        if t.N == 40:
            raise ValueError("no space")
        return configs(1)

    assert compile_key(task(40), BASE_1) != compile_key(task(48), BASE_1)
    compiler.prefetch([task(40), task(48)], configs_of)
    gate.wait_started(1)  # nobody asked yet: the feeder went past the task it could not list
    assert gate.started == [compile_key(task(48), BASE_1)]
    gate.release()
    assert compiler(task(48), configs(1)) == {}
    assert compiler(task(40), configs(1)) == {}
    assert gate.started == [compile_key(task(n), BASE_1) for n in (48, 40)]


def test_close_while_a_task_is_being_listed_submits_nothing_after(gate):
    """Closing while the feeder lists a task's configs returns at once; the feeder then
    stops without submitting what it listed."""
    c = AheadCompiler(2, new_pool=lambda: ThreadPoolExecutor(2))
    entered, hold = threading.Event(), threading.Event()

    def configs_of(_t):
        entered.set()
        assert hold.wait(WAIT_S)
        return configs(2)

    c.prefetch([task()], configs_of)
    assert entered.wait(WAIT_S)
    c.close()
    hold.set()
    c._feeder.join(WAIT_S)
    assert not c._feeder.is_alive() and gate.started == []


def test_close_does_not_wait_for_a_compile_nobody_needs(gate):
    """A worker that has sent its last outcome closes its pool and exits: a prefetched job
    still compiling must not hold it (it held the H200 tune 30 s past its last task)."""
    c = AheadCompiler(2, new_pool=lambda: ThreadPoolExecutor(2))
    c.prefetch([task()], lambda _t: configs(1))
    gate.wait_started(1)
    closing = threading.Thread(target=c.close)
    closing.start()
    closing.join(WAIT_S)
    assert not closing.is_alive() and gate.running == 1  # closed while the job still runs


def test_a_task_named_again_is_not_listed_again(gate, compiler):
    """Each task is in several successive prefetch lists (the next LOOKAHEAD): its configs
    are listed once, not pruned again every time."""
    listed = []
    cond = threading.Condition()

    def configs_of(t):
        with cond:
            listed.append(t.N)
            cond.notify_all()
        return configs(1)

    def wait_listed(n):
        with cond:
            assert cond.wait_for(lambda: len(listed) >= n, WAIT_S), listed

    gate.release()
    compiler.prefetch([task(40), task(48)], configs_of)
    wait_listed(2)
    compiler.prefetch([task(48), task(64)], configs_of)
    wait_listed(3)
    assert listed == [40, 48, 64]


def test_no_pool_no_prefetch():
    """CPU runs have no compile processes: launches compile, and prefetch does nothing."""
    c = AheadCompiler(0)
    c.prefetch([task()], lambda _t: configs(2))
    assert c(task(), configs(2)) == {} and c._feeder is None
    c.close()


@pytest.mark.parametrize("exhaustive", [False, True])
def test_the_configs_known_ahead_are_ones_the_task_asks_for(exhaustive, monkeypatch):
    """Prefetching is worth it only if the search then times those configs: every config
    known ahead is one the task's own passes ask the compile pool for."""
    from generator.tune import search

    t = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, 3)
    if exhaustive:  # a space small enough for the interpreter
        space = configs(2) + configs(2, BLOCK_SIZE_M=32)
        report = SimpleNamespace(in_space=len(space), pruned=0)
        monkeypatch.setattr(search, "candidates_for", lambda *a: (space, report))
    opts = TuneOptions(
        device="cpu", max_replays=1, exhaustive=exhaustive, device_name="NVIDIA_H200"
    )
    asked: set[tuple] = set()

    def ensure_compiled(task_, cfgs):
        asked.update(config_key(c) for c in cfgs)
        return {}

    tune_task(t, opts, ensure_compiled)
    ahead = {config_key(c) for c in configs_known_ahead(t, opts)}
    assert ahead and ahead <= asked


# --- a compile process that dies (real spawned pools: only they lose a process) -------------


def test_a_config_that_kills_its_compiler_fails_alone_and_the_pool_lives_on():
    """Its death broke the pool and every job in it; the others compile in a fresh pool, only
    the config that kills a process on its own is recorded, and later tasks still compile."""
    from tests.fixtures.compile_faults import DEADLY_STAGES, die_on_deadly

    pools = []

    def new_pool():
        pools.append(compile_ahead._process_pool(2))
        return pools[-1]

    c = AheadCompiler(2, new_pool=new_pool, job=die_on_deadly)
    try:
        cfgs = configs(4)
        failed = c(task(), cfgs)
        deadly = next(cfg for cfg in cfgs if cfg["num_stages"] == DEADLY_STAGES)
        assert failed == {config_key(deadly): compile_ahead.DIED}
        assert c(task(64), configs(2)) == {}  # the next task's compiles run
        made = len(pools)
        recorded = c._futures[compile_key(task(), deadly)]
        assert c(task(), cfgs) == failed  # and the deadly one is not tried again:
        assert len(pools) == made  # no pool broke, none was made
        assert c._futures[compile_key(task(), deadly)] is recorded
    finally:
        c.close()


def test_a_compiler_that_died_once_costs_no_config(tmp_path, monkeypatch):
    from tests.fixtures.compile_faults import die_once

    monkeypatch.setenv("COMPILE_FAULTS_DIR", str(tmp_path))
    c = AheadCompiler(2, job=die_once)
    try:
        assert c(task(), configs(4)) == {}
        assert (tmp_path / "died").exists()  # it did die, and every config compiled after
    finally:
        c.close()


def test_prefetch_goes_on_after_a_pool_broke():
    """A prefetched config kills its process; the next prefetch's submit finds the pool
    broken, renews it and goes on (the feeder used to stop there for good)."""
    from tests.fixtures.compile_faults import DEADLY_STAGES, die_on_deadly

    c = AheadCompiler(2, job=die_on_deadly)

    def futures_of(t, cfgs):
        return [c._futures.get(compile_key(t, cfg)) for cfg in cfgs]

    def all_done(t, cfgs):
        return all(f is not None and f.done() for f in futures_of(t, cfgs))

    try:
        deadly = [cfg for cfg in configs(DEADLY_STAGES) if cfg["num_stages"] == DEADLY_STAGES]
        c.prefetch([task()], lambda t: deadly)
        with c._cond:  # its job finished (the pool broke): a done job notifies
            assert c._cond.wait_for(lambda: all_done(task(), deadly), WAIT_S)
        later = configs(2)
        c.prefetch([task(80)], lambda t: later)
        with c._cond:
            assert c._cond.wait_for(lambda: all_done(task(80), later), WAIT_S)
            assert [f.result() for f in futures_of(task(80), later)] == [None, None]
    finally:
        c.close()
