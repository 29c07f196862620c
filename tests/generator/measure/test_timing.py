"""The timing's logic without a GPU: balanced orders, graph sizing, round bookkeeping, and the
order of warm-ups and captures, on a fake device (the CUDA side is a thin class of its own,
``timing._Cuda``). Numbers here are synthetic."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

import pytest

from generator.measure import timing

# --------------------------------------------------------------------------------------------
# orders


@pytest.mark.parametrize("n", range(2, 8))
def test_williams_orders_are_balanced(n):
    """In every whole block each candidate is in each position equally often and each ordered
    pair is adjacent equally often (once for even n, twice for odd n), whatever the seed."""
    block = len(timing.williams_square(n))
    assert block == (n if n % 2 == 0 else 2 * n)
    for seed in (timing.order_seed(1, 7168, 2304, 4), timing.order_seed(1, 16, 512, 7168)):
        orders = timing.round_orders(n, 3 * block, seed)
        assert len(orders) == 3 * block
        for b in range(3):
            rows = orders[b * block : (b + 1) * block]
            assert all(sorted(r) == list(range(n)) for r in rows)
            for pos in range(n):
                assert Counter(r[pos] for r in rows) == {i: block // n for i in range(n)}
            pairs = Counter((r[j], r[j + 1]) for r in rows for j in range(n - 1))
            per_pair = 1 if n % 2 == 0 else 2
            assert pairs == {(a, c): per_pair for a in range(n) for c in range(n) if a != c}


def test_each_point_has_its_own_orders_and_every_run_the_same():
    """The seed comes from the point (a stable crc32, not the salted hash()): two points get
    different orders, the same point the same ones."""
    a, b = timing.order_seed(1, 4, 7168, 2304), timing.order_seed(1, 8, 7168, 2304)
    assert a != b and a == timing.order_seed(1, 4, 7168, 2304)
    assert timing.round_orders(5, 20, a) != timing.round_orders(5, 20, b)
    assert timing.round_orders(5, 20, a) == timing.round_orders(5, 20, a)


def test_round_counts_are_whole_blocks():
    assert timing.balanced_rounds(20, 4) == 20  # blocks of 4
    assert timing.balanced_rounds(20, 3) == 18  # blocks of 6: the nearest whole number
    assert timing.balanced_rounds(20, 13) == 26  # at least one block of 26
    assert timing.balanced_rounds(7, 1) == 7


# --------------------------------------------------------------------------------------------
# sizing


def _sized(us: dict[str, float], sets: int, overhead: float = 2.0):
    """Each candidate sized by ``_size_all`` on the fake device (its calls ``us[name]`` each,
    at ``sets`` input sets, a replay carrying ``overhead`` us of the graph's own launch): the
    passes captured per candidate, in order, and the captured results."""
    dev = FakeDevice(us, overhead=overhead)
    dev.new_pool()
    got = timing._size_all(dev, [[_Call(n)] * sets for n in us], 30, 5_000.0, 1000.0, "pool")
    passes = {n: [e[2] for e in dev.log if e[0] == "capture" and e[1] == n] for n in us}
    return passes, got


def test_the_graph_is_sized_from_its_own_replays():
    """A 3 us call at one input set: an eager pass said 20 us (host-bound) and sized the
    replay at 150 us. From graph replays (each carrying 2.5 us of the graph's own launch):
    one pass measures 5.5 us, the recapture 182 passes 548.5 us (under 0.9 ms), the next 332
    passes hold 1 ms."""
    passes, (c,) = _sized({"a": 3.0}, 1, overhead=2.5)
    assert passes == {"a": [1, 182, 332]} and c.launches == 332
    assert c.launches * 3.0 >= 0.9 * 1000.0
    assert timing.inner_for(20.0, 1, 1000.0) * 3.0 < 200  # what the eager estimate gave


def test_sizing_stops_once_a_replay_holds_the_minimum():
    """8 sets of 40 us (320 us a pass): one recapture at 4 passes holds 1 ms; a pass of 4
    sets of 1250 us already does; the replay count follows the GPU time asked for."""
    passes, (c,) = _sized({"a": 40.0}, 8, overhead=0.0)
    assert passes == {"a": [1, 4]} and c.launches == 32 and c.replays == timing.MIN_REPLAYS
    passes, (c,) = _sized({"b": 1250.0}, 4, overhead=0.0)
    assert passes == {"b": [1]} and c.launches == 4
    assert timing.grown_inner(1, 5000.0, 4, 1000.0, last=False) is None
    assert timing.grown_inner(1, 320.0, 8, 1000.0, last=True) is None  # the last keeps its graph
    assert timing.replay_count(40.0, 32, 5_000.0, 30) == timing.MIN_REPLAYS
    assert timing.replay_count(1.0, 10, 10_000.0, 30) == 30


# --------------------------------------------------------------------------------------------
# rounds


@dataclass
class _FakeRound:
    ahead: bool
    times: list[float]

    def times_us(self) -> list[float]:
        return self.times


def test_rounds_never_ahead_are_dropped_and_not_counted():
    """Round 1 is ahead on its second try (held 4x longer), round 3 never: it is dropped
    after HOLD_ATTEMPTS tries, and only the rounds kept are returned."""
    tries: Counter[int] = Counter()
    holds = []

    def enqueue(r, hold_ms):
        tries[r] += 1
        holds.append((r, hold_ms))
        ahead = r not in (1, 3) or (r == 1 and tries[r] == 2)
        return _FakeRound(ahead, [float(r)])

    syncs = []
    kept = timing.run_rounds(5, enqueue, lambda: syncs.append(1), 2.0)
    assert list(kept) == [0, 1, 2, 4]
    assert tries == {0: 1, 1: 2, 2: 1, 3: timing.HOLD_ATTEMPTS, 4: 1}
    assert [h for r, h in holds if r == 3] == [2.0, 8.0, 32.0, 128.0]
    assert len(syncs) == timing.HOLD_ATTEMPTS


# --------------------------------------------------------------------------------------------
# the whole timing on a fake device


class FakeDevice:
    """Graphs are (name, inner, sets) triples; a sizing replay takes ``us[name]`` per call
    plus 2 us of the graph's launch; ``ahead(k)`` says whether the k-th round enqueued (0, 1,
    ...; retries come after the first pass) was ahead of the host. A round that was not ahead
    times 3x slower (its samples would hold the host's launch)."""

    def __init__(self, us, ahead=lambda k: True, overhead=2.0):
        self.us, self.ahead, self.overhead = us, ahead, overhead
        self.log: list[tuple] = []
        self.rounds = 0

    def warm_up(self, calls):
        self.log.append(("warm", calls[0].name))

    def synchronize(self):
        pass

    def new_pool(self):
        self.live = 0  # graphs captured into the pool and still alive
        self.pool_used = False
        return "pool"

    def capture(self, calls, inner, pool):
        assert pool == "pool"
        # torch's caching allocator releases a pool once no live graph holds it; capturing
        # into it again then fails (an assert inside the allocator)
        if self.pool_used and self.live == 0:
            raise RuntimeError("use_count > 0 INTERNAL ASSERT FAILED (pool already released)")
        self.pool_used = True
        self.log.append(("capture", calls[0].name, inner))
        return _FakeGraph(self, calls[0].name, inner, len(calls))

    def replay_us(self, graphs, replays):
        self.log.append(("hold", len(graphs)))  # one hold for the graphs timed together
        out = []
        for name, inner, n in graphs:
            self.log.append(("time", name, inner, replays))
            out.append((self.overhead + inner * n * self.us[name], 1e-5))
        return out

    def enqueue_round(self, graphs, pacer, hold_ms):
        ahead = self.ahead(self.rounds)
        self.rounds += 1
        self.log.append(("round", [g[0] for g in graphs], pacer and pacer[0], hold_ms))
        slow = 1.0 if ahead else 3.0
        return _FakeRound(ahead, [g[1] * g[2] * self.us[g[0]] * slow for g in graphs])


class _FakeGraph(tuple):
    """(name, inner, sets) that counts itself among its pool's live graphs while it exists."""

    def __new__(cls, dev, name, inner, n):
        graph = super().__new__(cls, (name, inner, n))
        graph.dev = dev
        dev.live += 1
        return graph

    def __del__(self):
        self.dev.live -= 1


class _Call:
    def __init__(self, name):
        self.name = name

    def __call__(self):
        return None


def _time(dev, names, replays=12):
    sets = [[_Call(n), _Call(n)] for n in names]  # two input sets each
    return timing._interleave(dev, sets, replays, 1e9, 1000.0, timing.order_seed("test"))


def test_every_candidate_is_warmed_up_before_any_graph_is_captured():
    dev = FakeDevice({"a": 10.0, "b": 20.0, "c": 40.0})
    _time(dev, ["a", "b", "c"])
    kinds = [e[0] for e in dev.log]
    first_capture = kinds.index("capture")
    assert kinds[:first_capture] == ["warm"] * 3 and "warm" not in kinds[first_capture:]
    # each sized from its own graph: one pass (the median of 3 replays), then the passes
    # that hold 1 ms (one replay)
    timed = [e[1:] for e in dev.log if e[0] == "time"]
    assert [t for t in timed if t[0] == "a"] == [("a", 1, timing.SIZE_REPLAYS), ("a", 46, 1)]
    captures = [e[1:] for e in dev.log if e[0] == "capture"]
    # (a: 22 us for one pass of two 10 us calls and the launch, then 46 passes: 922 us)
    assert [c for c in captures if c[0] == "a"] == [("a", 1), ("a", 46)]
    assert ("c", 13) in captures
    # sized together: one hold per attempt for every candidate still growing
    assert [e for e in dev.log if e[0] == "hold"] == [("hold", 3), ("hold", 3)]


def test_sizing_together_keeps_each_candidates_own_size():
    """Candidates sized together get the passes each gets sized alone, whatever the others
    need: one holds 1 ms at one pass and stops there, one needs a second capture, one a
    third."""
    us = {"big": 600.0, "mid": 10.0, "tiny": 0.4}
    alone = {n: _sized({n: call_us}, 2)[1][0].launches // 2 for n, call_us in us.items()}
    dev = FakeDevice(us)
    dev.new_pool()
    sets = [[_Call(n), _Call(n)] for n in us]
    got = timing._size_all(dev, sets, 12, 1e9, 1000.0, "pool")
    assert {n: c.launches // 2 for n, c in zip(us, got, strict=True)} == alone
    assert len(set(alone.values())) == 3  # three different sizes: the test can tell them apart
    assert [e for e in dev.log if e[0] == "hold"] == [("hold", 3), ("hold", 2), ("hold", 1)]


def test_a_pass_takes_the_rounds_its_candidates_ask_for_not_whole_blocks():
    """Three candidates asking for 5 replays: a pass (whole_blocks=False) runs 5 rounds, each
    with every candidate once; timed for a comparison (whole Williams blocks of 6) it runs 6."""
    for whole, rounds in ((False, 5), (True, 6)):
        dev = FakeDevice({"a": 10.0, "b": 20.0, "c": 40.0})
        sets = [[_Call(n), _Call(n)] for n in "abc"]
        stats = timing._interleave(
            dev, sets, 5, 1e9, 1000.0, timing.order_seed("pass"), whole_blocks=whole
        )
        played = [e[1] for e in dev.log if e[0] == "round"]
        assert len(played) == rounds and all(sorted(p) == ["a", "b", "c"] for p in played)
        assert [s.median_us for s in stats] == [10.0, 20.0, 40.0]
        assert all(s.replays == rounds for s in stats)


def test_a_pass_leaves_out_of_its_rounds_what_is_sized_far_slower_than_its_fastest():
    """drop_over 1.5: a candidate sized at 4x the fastest (40 against 10 us a call) gets no
    round, and its stats are its sizing's (replays 0); one at exactly 1.5x and the fastest are
    timed in every round; without drop_over all three are. Below 1 it would drop the fastest
    too: an error."""
    for drop, timed in ((1.5, ["a", "b"]), (None, ["a", "b", "c"])):
        dev = FakeDevice({"a": 10.0, "b": 15.0, "c": 40.0}, overhead=0.0)
        sets = [[_Call(n), _Call(n)] for n in "abc"]
        stats = timing._interleave(
            dev, sets, 5, 1e9, 1000.0, timing.order_seed("pass"), False, drop_over=drop
        )
        played = [e[1] for e in dev.log if e[0] == "round"]
        assert played and all(sorted(p) == timed for p in played)
        assert [s.median_us for s in stats] == [10.0, 15.0, 40.0]
        assert [s.replays for s in stats] == [len(played), len(played), 0 if drop else len(played)]
    with pytest.raises(ValueError, match="at least 1"):
        timing._interleave(FakeDevice({"a": 1.0}), [[_Call("a")]], 5, 1e9, 1e3, 0, False, 0.5)


def test_a_lone_candidate_resized_keeps_its_pool_alive():
    """One candidate whose first graph is too short is captured again into the same pool: the
    first graph must still be alive then (the fp8 ceiling failed on the H200 without this)."""
    dev = FakeDevice({"a": 10.0})
    (stats,) = _time(dev, ["a"], replays=6)
    assert [e[1:] for e in dev.log if e[0] == "capture"] == [("a", 1), ("a", 46)]
    assert stats.median_us == 10.0


def test_a_pacer_replay_leads_every_round_and_samples_are_per_call():
    dev = FakeDevice({"a": 10.0, "b": 20.0})
    stats = _time(dev, ["a", "b"])
    rounds = [e for e in dev.log if e[0] == "round"]
    assert rounds and all(pacer == order[-1] for _, order, pacer, _ in rounds)
    assert [s.median_us for s in stats] == [10.0, 20.0]
    assert all(s.replays == 12 for s in stats)


def test_a_round_never_ahead_is_dropped_from_the_stats_and_the_count():
    """Of 12 rounds, round 5 is never ahead of the host (tried 4 times: enqueued as the 5th,
    12th, 14th and 15th) and round 7 only on its retry (the 13th): round 5 is dropped, its 3x
    samples unused, and the stats say 11 replays, not 12."""
    not_ahead = {5, 7, 12, 14, 15}
    dev = FakeDevice({"a": 10.0, "b": 20.0}, ahead=lambda k: k not in not_ahead)
    stats = _time(dev, ["a", "b"])
    assert dev.rounds == 12 + 2 + 1 + 1
    assert [s.replays for s in stats] == [11, 11]
    assert [s.p80_us for s in stats] == [10.0, 20.0]  # no 3x sample among them
    holds = [e[3] for e in dev.log if e[0] == "round"]
    assert holds[12] == holds[13] == holds[0] * 4 and holds[15] == holds[0] * 4**3


def test_no_round_ahead_is_an_error_not_a_number():
    dev = FakeDevice({"a": 10.0, "b": 20.0}, ahead=lambda k: False)
    with pytest.raises(timing.NotAheadOfHost, match="no round of 12 had the GPU ahead"):
        _time(dev, ["a", "b"])


def test_one_candidate_has_no_pacer():
    dev = FakeDevice({"a": 10.0})
    (stats,) = _time(dev, ["a"], replays=6)
    assert stats.median_us == 10.0 and stats.replays == 6
    rounds = [e for e in dev.log if e[0] == "round"]
    assert len(rounds) == 6 and all(e[2] is None for e in rounds)


def test_the_point_seed_is_the_same_in_another_process():
    """crc32, not hash(): a process with another hash seed derives the same point seed."""
    import os
    import subprocess
    import sys

    code = "from generator.measure import timing; print(timing.order_seed(1, 4, 7168, 2304))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == timing.order_seed(1, 4, 7168, 2304)


# --------------------------------------------------------------------------------------------
# the CUDA side's sizing replays, on stand-ins for torch.cuda (no GPU here)


class _FakeEvent:
    """A CUDA event on a fake clock: ``record`` stamps the fake GPU time."""

    def __init__(self, clock, enable_timing=False):
        self.clock, self.t = clock, None

    def record(self):
        self.t = self.clock["t"]

    def elapsed_time(self, end):
        return (end.t - self.t) / 1e3  # ms, as torch reports it


class _FakeCudaGraph:
    def __init__(self, clock, us):
        self.clock, self.us = clock, us

    def replay(self):
        self.clock["t"] += self.us


def test_sizing_replays_share_one_hold_and_retry_a_hold_the_host_outran(monkeypatch):
    """``_Cuda.replay_us`` holds the GPU once for every graph's replays, sized by their count;
    when the host fell behind (the hold's event already complete once all were enqueued), it
    times them again behind a hold HOLD_GROWTH times longer, and reports each graph's median."""
    clock = {"t": 0.0}
    holds: list[float] = []
    ahead_after = 2  # the first two holds are outrun by the host

    class _Released:
        def __init__(self, n):
            self.n = n

        def query(self):
            return self.n <= ahead_after  # complete: the host fell behind it

    def hold(ms):
        holds.append(ms)
        return _Released(len(holds))

    monkeypatch.setattr(timing, "hold_gpu", hold)
    monkeypatch.setattr(timing.torch.cuda, "Event", lambda **kw: _FakeEvent(clock, **kw))
    monkeypatch.setattr(timing.torch.cuda, "synchronize", lambda: None)
    graphs = [_FakeCudaGraph(clock, 40.0), _FakeCudaGraph(clock, 900.0)]
    out = timing._Cuda().replay_us(graphs, timing.SIZE_REPLAYS)
    first = timing.SIZE_HOLD_MS + timing.SIZE_HOLD_PER_REPLAY_MS * 2 * timing.SIZE_REPLAYS
    assert holds == pytest.approx([first, first * timing.HOLD_GROWTH, first * 16.0])
    assert [us for us, _ in out] == pytest.approx([40.0, 900.0])
    assert all(launch >= 0.0 for _, launch in out)


# --------------------------------------------------------------------------------------------
# the CUDA side's captures, on stand-ins for torch.cuda (no GPU here)


class _CapturedGraph:
    def __init__(self, log):
        self.log = log

    def capture_begin(self, pool=None):
        self.log.append(("begin", pool))

    def capture_end(self):
        self.log.append(("end",))
        if any(e == ("call", "bad") for e in self.log):
            raise RuntimeError("operation failed due to a previous error during capture")

    def replay(self):
        self.log.append(("replay",))


class _FakeStream:
    def wait_stream(self, other):
        pass


def _fake_cuda(monkeypatch):
    """torch.cuda's graph and stream calls recorded instead of run (no GPU here)."""
    log: list[tuple] = []
    made: list[_FakeStream] = []

    def new_stream(*a, **kw):
        made.append(_FakeStream())
        return made[-1]

    @contextlib.contextmanager
    def on_stream(stream):
        log.append(("stream", id(stream)))
        yield

    monkeypatch.setattr(timing, "_CAPTURE_STREAMS", {})
    monkeypatch.setattr(timing.torch.cuda, "CUDAGraph", lambda: _CapturedGraph(log))
    monkeypatch.setattr(timing.torch.cuda, "Stream", new_stream)
    monkeypatch.setattr(timing.torch.cuda, "stream", on_stream)
    monkeypatch.setattr(timing.torch.cuda, "current_stream", lambda: _FakeStream())
    monkeypatch.setattr(timing.torch.cuda, "current_device", lambda: 0)
    return log, made


def test_every_graph_is_captured_on_one_stream_into_the_pool_given(monkeypatch):
    """Two captures: one side stream for both (the caching allocator reuses a freed block only
    on its own stream, so a stream per capture put each graph's allocations elsewhere and
    moved identical work by up to 21 %, lab/aa_alloc.py), the pool handed to each capture,
    each call captured ``inner`` times, and each graph uploaded once."""
    log, made = _fake_cuda(monkeypatch)
    calls = [lambda: log.append(("call", "a")), lambda: log.append(("call", "b"))]
    timing._Cuda().capture(calls, 2, "pool-1")
    timing._Cuda().capture(calls, 1, "pool-1")
    assert len(made) == 1
    assert {e for e in log if e[0] == "stream"} == {("stream", id(made[0]))}
    assert [e for e in log if e[0] == "begin"] == [("begin", "pool-1")] * 2
    assert sum(e[0] == "call" for e in log) == 2 * 2 + 2 * 1
    assert log.count(("replay",)) == 2 and log.count(("end",)) == 2


def test_a_call_that_raises_while_captured_ends_the_capture_with_its_own_error(monkeypatch):
    """The capture is ended, and the error raised is the call's, not the one ``capture_end``
    of the broken capture raises (the tuner classifies a config by its error)."""
    log, _ = _fake_cuda(monkeypatch)

    def bad():
        log.append(("call", "bad"))
        raise MemoryError("out of resources: shared memory (test)")

    with pytest.raises(MemoryError, match="shared memory"):
        timing._Cuda().capture([bad], 1, "pool")
    assert log.count(("end",)) == 1 and ("replay",) not in log


def test_written_buffers_rotate_beyond_l2_up_to_sixteen_sets():
    """What a call writes gets as many sets as rotate it beyond L2 (three times the cache),
    at most MAX_WRITTEN_SETS, and never fewer than its inputs fill: a 176 MB weight's one set
    at decode gets 16 placements of its small activation and output, at prefill (hundreds of
    MB written a call) none extra."""
    l2 = 50 * 2**20
    assert timing.written_set_count(1, 100_000, l2) == timing.MAX_WRITTEN_SETS == 16
    assert timing.written_set_count(1, 230 * 2**20, l2) == 1
    assert timing.written_set_count(2, 15 * 2**20, l2) == 10  # ceil(150 / 15)
    assert timing.written_set_count(40, 100_000, l2) == 40  # the inputs' count stands
    assert timing.written_set_count(3, 100_000, 0) == 3  # no L2 known: the inputs'
