"""Timing that the catalog can stand behind.

Why not single launches with a sync (what the reference tuners do): launch overhead and the
host dominate at small M, and repeated launches over one buffer measure L2, not HBM. Here:

* inputs are rotated: the caller builds several independent input sets, together larger than
  the L2 cache (``rotation_count``), and each timed replay walks through all of them;
* launches are captured once into a CUDA graph and the graph is replayed, so the GPU sees
  back-to-back kernels with no host gaps. The graph's size comes from a timed replay of the
  graph itself (:func:`grown_inner`), never from eager calls: at small M an eager pass is
  host-bound, and sized from it the replays held well under the 1 ms they are meant to;
* every candidate is warmed up (compiled, autotuned, its caches grown) before any graph is
  captured: a call that grows a cache (the decode kernel's tile-counter buffer) frees memory
  that an earlier graph captured;
* after a warm-up, each replay is timed with CUDA events; we report the median and the 20th /
  80th percentiles per call;
* candidates that are compared are timed *interleaved* (:func:`time_interleaved`): one graph
  each, replayed in turn, in balanced orders (:func:`round_orders`: Williams Latin squares, so
  every candidate is in every position and follows every other equally often), relabelled and
  shuffled from a seed of the point's own (:func:`order_seed`), so no two points share one
  imbalance. Timed one after the other, the same config measured up to 6 % slower when it came
  last after several prefill-sized GEMMs on the H200 (the GPU's clock settles lower under
  sustained load), which made identical configs look like regressions; interleaved, every
  candidate sees the same conditions;
* the GPU is kept ahead of the host: before each round a sleep kernel holds the stream long
  enough for the host to enqueue the whole round, so no sample can contain the host's time to
  launch a graph (were the GPU to drain between replays, the host's launch of the next graph
  would land between its start and end events). Each round checks, by an event, that its hold
  outlasted the host's enqueueing; a round that was not ahead is run again with a hold four
  times longer, and one still not ahead after ``HOLD_ATTEMPTS`` is dropped: the stats count
  only the rounds kept (``TimingStats.replays``), and with none kept the timing raises
  :class:`NotAheadOfHost` rather than report a number. The hold's end is followed by an
  untimed *pacer* replay (the round's last candidate), so the first timed replay of a round
  follows a GEMM as every other does, not the sleep kernel's end;
* every candidate's graph is captured into one memory pool on one stream, so what the calls
  allocate while they run lands at the same addresses for every candidate, as their inputs do
  (where an in-graph activation landed moved identical work by up to 21 %:
  :meth:`_Cuda.capture`). Callers avoid such allocations where they can: all of a graph's
  calls get the same address, one placement per timing, where buffers of each input set
  (up to ``MAX_WRITTEN_SETS``) average over several
  (``generator.bench.context.BenchContext.rotate``). A graph's first replay uploads it and is
  never timed (nor counted in the host's launch time that sizes the hold).

Identical work is still not timed identically everywhere (one point in 234 of the H200's
DeepSeek-V3 TP 8 sweep above 1 %, prefill shapes at 1-2 %: ``lab/README.md``, ``aa_alloc.py``),
which is why every point carries an A/A control and identical work is timed once.

The orchestration is written over a small device interface (:class:`_Cuda`; the tests give it
a fake): the order of warm-ups and captures, the graph sizing, the round bookkeeping and the
orders are plain functions of numbers and callbacks.

How a run timed is part of every row's provenance (``TIMING_METHOD``): rows timed another way
are re-measured, never relabelled.

Without a GPU (tests under the Triton interpreter) the same interface times with the host clock.
"""

from __future__ import annotations

import contextlib
import math
import random
import statistics
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

# Rotate through at least this many times the L2 size of input bytes, so no set is still cached.
L2_MULTIPLE = 3
MAX_INPUT_SETS = 64
# What a call writes (the quantized activation, its scales, the output) is rotated beyond L2 as
# its inputs are, over up to this many buffers, even where the inputs fit fewer sets (a 176 MB
# weight: one): where one small buffer lands moves a kernel's time by up to 21 %
# (lab/aa_alloc.py), so one or two would leave each timing one placement. The sets' calls then
# cycle through the inputs. Whether 16 placements average it out is what lab/placement.py
# measures. Large buffers (prefill outputs) get few: they span the cache's slices themselves,
# and each extra set adds a whole call to every replay.
MAX_WRITTEN_SETS = 16
# Least GPU work in one timed replay. Each replay also carries the graph's launch and the gap
# to the next graph, 2-3 us on the H100; with 50 us and one input set (a large weight: one
# launch a replay) that added 3 % to a 72 us kernel (lab/timing_overhead.py). With
# 1000 us it is amortized below 0.3 %, for the same total GPU time per measurement.
MIN_REPLAY_US = 1000.0
MIN_REPLAYS = 5
ORDER_SEED = 20261202  # mixed into every point's seed: the orders are the same in every run
# What the provenance of a measurement says about how it was timed (see the module doc and
# docs/methodology.md).
TIMING_METHOD = (
    "cuda-graph replays >= 1 ms sized from a timed graph replay, every candidate warmed up"
    " before any capture, interleaved in balanced (Williams) orders seeded per point with an"
    " untimed pacer after each hold, the GPU held ahead of the host (rounds never ahead"
    " dropped), one memory pool for every candidate's graph, captured on one stream (in-graph"
    " allocations at the same addresses)"
)
HOLD_ATTEMPTS = 4  # a round not ahead of the host is run again, held 4x longer each time
HOLD_GROWTH = 4.0
# Sizing: a graph of one pass over the input sets is timed, and captured again with as many
# passes as make MIN_REPLAY_US; again (at most SIZE_ATTEMPTS captures) while a replay holds
# less than SIZE_SLACK of it (the first estimate carries the graph's own launch).
SIZE_ATTEMPTS = 3
SIZE_SLACK = 0.9
SIZE_REPLAYS = 3  # replays timed of the one-pass graph (their median); larger ones: one
# The sizing replays are enqueued behind one hold: 1 ms, and 100 us per replay (a replay's
# host work, its graph launch and two events, takes tens of us); checked, and held longer
# while the host fell behind.
SIZE_HOLD_MS = 1.0
SIZE_HOLD_PER_REPLAY_MS = 0.1
MIN_CALL_US = 0.05  # a call is never taken for less (a zero would size an endless graph)


@dataclass(frozen=True)
class TimingStats:
    median_us: float
    p20_us: float
    p80_us: float
    replays: int  # samples behind the figures: the rounds kept


class NotAheadOfHost(RuntimeError):
    """No round of an interleaved timing had the GPU ahead of the host: every sample could
    hold the host's launch of a graph, so there is no number to report."""


def l2_cache_bytes(device: torch.device | int | None = None) -> int:
    """L2 size of the GPU (50 MB on H100); 0 on machines without CUDA."""
    if not torch.cuda.is_available():
        return 0
    props = torch.cuda.get_device_properties(device if device is not None else 0)
    return int(getattr(props, "L2_cache_size", 50 * 2**20))


def rotation_count(bytes_per_set: int, l2_bytes: int | None = None) -> int:
    """How many independent input sets to rotate through so none is served from L2."""
    l2 = l2_cache_bytes() if l2_bytes is None else l2_bytes
    if l2 <= 0 or bytes_per_set <= 0:
        return 1
    return max(1, min(MAX_INPUT_SETS, math.ceil(L2_MULTIPLE * l2 / bytes_per_set)))


def written_set_count(input_sets: int, written_bytes: int, l2_bytes: int | None = None) -> int:
    """How many sets a call rotates over when its inputs fill ``input_sets`` and it writes
    ``written_bytes`` a call: enough to rotate those beyond L2 too, up to
    ``MAX_WRITTEN_SETS`` (which says why), never fewer than the inputs'."""
    return max(input_sets, min(MAX_WRITTEN_SETS, rotation_count(written_bytes, l2_bytes)))


def _percentiles(samples_us: list[float], replays: int) -> TimingStats:
    samples_us = sorted(samples_us)
    q = statistics.quantiles(samples_us, n=10, method="inclusive") if len(samples_us) > 1 else []
    p20 = q[1] if q else samples_us[0]
    p80 = q[7] if q else samples_us[0]
    return TimingStats(statistics.median(samples_us), p20, p80, replays)


# --------------------------------------------------------------------------------------------
# orders


def order_seed(*key: object) -> int:
    """The seed of one point's orders (e.g. its ``(B, M, N, K)``): a crc32 of the key, stable
    across runs and processes (Python's ``hash()`` of a string is salted per process)."""
    return zlib.crc32(repr((ORDER_SEED, *key)).encode())


def williams_square(n: int) -> list[list[int]]:
    """Orders of ``n`` candidates in which each is in each position equally often and each
    ordered pair of candidates is adjacent equally often (Williams' design): for even ``n`` one
    Latin square of ``n`` rows (every pair once), for odd ``n`` the square and its mirror
    image, ``2 n`` rows (every pair twice). The first row is 0, 1, n-1, 2, n-2, ...; row ``i``
    adds ``i`` (mod n) to it."""
    if n <= 1:
        return [[0]] if n == 1 else []
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        if len(first) % 2:
            first.append(lo)
            lo += 1
        else:
            first.append(hi)
            hi -= 1
    rows = [[(v + i) % n for v in first] for i in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return rows


def balanced_rounds(replays: int, n: int) -> int:
    """The round count nearest ``replays`` that is a whole number of Williams blocks (at least
    one): only whole blocks are balanced."""
    block = max(1, len(williams_square(n)))
    return max(block, int(replays / block + 0.5) * block)


def round_orders(n: int, rounds: int, seed: int = ORDER_SEED) -> list[list[int]]:
    """The order candidates are replayed in, per round: blocks of a Williams design
    (:func:`williams_square`), each with the candidates relabelled by a seeded permutation and
    its rows in a seeded order (both keep the balance), so each point (``seed``:
    :func:`order_seed`) has its own orders and every run the same."""
    block = williams_square(n)
    rng = random.Random(seed)
    orders: list[list[int]] = []
    while len(orders) < rounds and block:
        labels = list(range(n))
        rng.shuffle(labels)
        rows = [[labels[v] for v in row] for row in block]
        rng.shuffle(rows)
        orders.extend(rows)
    return orders[:rounds]


# --------------------------------------------------------------------------------------------
# sizing


def inner_for(call_us: float, n_calls: int, min_replay_us: float) -> int:
    """Passes over the ``n_calls`` input sets one replay must make to hold ``min_replay_us``."""
    return max(1, math.ceil(min_replay_us / (max(call_us, MIN_CALL_US) * max(1, n_calls))))


def replay_count(call_us: float, launches: int, target_us: float, max_replays: int) -> int:
    """Replays for ``target_us`` of GPU time, MIN_REPLAYS..``max_replays``."""
    work = max(call_us, MIN_CALL_US) * max(1, launches)
    return max(MIN_REPLAYS, min(max_replays, math.ceil(target_us / work)))


def grown_inner(
    inner: int, replay_us: float, n_calls: int, min_replay_us: float, last: bool
) -> int | None:
    """The sizing rule, one step: the passes to capture next after a graph of ``inner`` passes
    over ``n_calls`` sets measured ``replay_us`` a replay, or None to keep this graph (it holds
    SIZE_SLACK of ``min_replay_us``, it is the ``last`` attempt, or growing would not add a
    pass)."""
    if replay_us >= SIZE_SLACK * min_replay_us or last:
        return None
    call_us = max(replay_us / (inner * max(1, n_calls)), MIN_CALL_US)
    grown = inner_for(call_us, n_calls, min_replay_us)
    return grown if grown > inner else None


# --------------------------------------------------------------------------------------------
# rounds


class _Round(Protocol):
    ahead: bool  # the hold outlasted the host's enqueueing of the whole round

    def times_us(self) -> list[float]: ...  # each replay's us, in the round's order


def run_rounds(
    rounds: int,
    enqueue: Callable[[int, float], _Round],
    synchronize: Callable[[], None],
    hold_ms: float,
    attempts: int = HOLD_ATTEMPTS,
) -> dict[int, _Round]:
    """Run ``rounds`` rounds (``enqueue(r, hold_ms)``), each again with a hold HOLD_GROWTH
    times longer while it was not ahead of the host, ``attempts`` tries in all; returns the
    rounds kept (ahead), by index. A round never ahead is dropped, not kept."""
    kept: dict[int, _Round] = {}
    todo = list(range(rounds))
    for _ in range(attempts):
        pending = [(r, enqueue(r, hold_ms)) for r in todo]
        synchronize()
        kept.update((r, rnd) for r, rnd in pending if rnd.ahead)
        todo = [r for r, rnd in pending if not rnd.ahead]
        if not todo:
            break
        hold_ms *= HOLD_GROWTH
    return dict(sorted(kept.items()))


# --------------------------------------------------------------------------------------------
# the device


class _Device(Protocol):
    def warm_up(self, calls: Sequence[Callable[[], object]]) -> None: ...
    def synchronize(self) -> None: ...
    def new_pool(self) -> object: ...
    def capture(self, calls: Sequence[Callable[[], object]], inner: int, pool: object) -> Any: ...
    def replay_us(self, graphs: Sequence[Any], replays: int) -> list[tuple[float, float]]: ...
    def enqueue_round(self, graphs: Sequence[Any], pacer: Any, hold_ms: float) -> _Round: ...


_SLEEP_CYCLES_PER_MS: dict[int, float] = {}


def _sleep_cycles_per_ms() -> float:
    """Cycles ``torch.cuda._sleep`` spins per millisecond on the current GPU (measured once)."""
    device = torch.cuda.current_device()
    if device not in _SLEEP_CYCLES_PER_MS:
        cycles = 20_000_000
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(cycles // 10)  # warm-up
        start.record()
        torch.cuda._sleep(cycles)
        end.record()
        torch.cuda.synchronize()
        _SLEEP_CYCLES_PER_MS[device] = cycles / max(start.elapsed_time(end), 1e-3)
    return _SLEEP_CYCLES_PER_MS[device]


def hold_gpu(ms: float) -> torch.cuda.Event:
    """Enqueue a kernel that keeps the GPU busy for about ``ms`` and an event after it; the
    event has not completed while the GPU is still held (``Event.query()`` is False)."""
    torch.cuda._sleep(max(1, int(ms * _sleep_cycles_per_ms())))
    released = torch.cuda.Event()
    released.record()
    return released


_CAPTURE_STREAMS: dict[int, torch.cuda.Stream] = {}


def _capture_stream() -> torch.cuda.Stream:
    """The one side stream every graph on the current GPU is captured on (``_Cuda.capture``
    says why one)."""
    device = torch.cuda.current_device()
    if device not in _CAPTURE_STREAMS:
        _CAPTURE_STREAMS[device] = torch.cuda.Stream(device)
    return _CAPTURE_STREAMS[device]


@dataclass
class _CudaRound:
    ahead: bool
    events: list[tuple[torch.cuda.Event, torch.cuda.Event]]

    def times_us(self) -> list[float]:
        return [s.elapsed_time(e) * 1e3 for s, e in self.events]


class _Cuda:
    """The CUDA side of the timing, kept thin: each method is one step of the module doc."""

    def warm_up(self, calls: Sequence[Callable[[], object]]) -> None:
        for fn in calls:  # compile / autotune / allocate outside any graph
            fn()

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def new_pool(self) -> object:
        """A graph memory pool, from an emptied cache: once a capture is under way the caching
        allocator no longer frees cached blocks to satisfy it (``torch.cuda.graph`` emptied
        the cache before every capture; this timing captures without it, ``capture``)."""
        torch.cuda.empty_cache()
        return torch.cuda.graph_pool_handle()

    def capture(
        self, calls: Sequence[Callable[[], object]], inner: int, pool: object
    ) -> torch.cuda.CUDAGraph:
        """``inner`` passes over ``calls`` captured into ``pool`` on the device's one capture
        stream (:func:`_capture_stream`), and launched once, untimed, to upload the graph; the
        caller synchronizes before timing it (``replay_us`` does).

        Why not ``torch.cuda.graph(graph, pool, stream=torch.cuda.Stream())`` as before: the
        caching allocator hands a freed block only to an allocation on the stream it was
        freed on, so with a new stream per capture, what a call allocates inside the graph
        (the bench's quantized activation, its scales, the output) landed at new addresses in
        every graph, and where it landed changed the time: six graphs of the same calls at
        24576x7168, M = 2, timed 114 to 139 us, copy for copy in every repeat, and 0.2 %
        apart with the activation quantized before capture (``lab/aa_alloc.py``). On one
        stream each graph's allocations reuse the blocks the previous capture freed, so the
        same calls get the same addresses. (Graphs that share blocks overwrite each other's
        outputs and intermediates; each graph makes and reads its own within a replay, so
        replays in any order stay correct.) Since search 9 the bench's and the tuner's
        block-FP8 calls no longer allocate there: they write buffers of each input set
        (``BenchContext.rotate``); torch-composed calls still do. And ``torch.cuda.graph``
        synchronizes the device and empties the allocator's cache on entry, twice a config in
        a tune: the caller does both once, before the first capture (``_interleave``,
        ``new_pool``).

        A call that raises while captured ends the capture, and its own error is the one
        raised (``capture_end`` of an invalidated capture raises too, which would hide it:
        the tuner classifies a config by its error)."""
        graph = torch.cuda.CUDAGraph()
        stream = _capture_stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            graph.capture_begin(pool=pool)
            try:
                for _ in range(inner):
                    for fn in calls:
                        fn()
            except BaseException:
                with contextlib.suppress(Exception):
                    graph.capture_end()
                raise
            graph.capture_end()
        torch.cuda.current_stream().wait_stream(stream)
        graph.replay()  # the first launch uploads the graph: never timed
        return graph

    def replay_us(
        self, graphs: Sequence[torch.cuda.CUDAGraph], replays: int
    ) -> list[tuple[float, float]]:
        """Per graph, (median us of ``replays`` event-timed replays, host seconds to enqueue
        its first): the graphs are uploaded (``capture``), so the host time is the launch
        alone. One hold for all of them, checked as a round's is: timed again, held
        HOLD_GROWTH times longer, while the host fell behind it (at most HOLD_ATTEMPTS)."""
        hold_ms = SIZE_HOLD_MS + SIZE_HOLD_PER_REPLAY_MS * len(graphs) * replays
        for attempt in range(HOLD_ATTEMPTS):
            released = hold_gpu(hold_ms)
            timed = []
            for graph in graphs:
                events = []
                launch = 0.0
                for i in range(replays):
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    start.record()
                    t0 = time.perf_counter()
                    graph.replay()
                    if i == 0:
                        launch = time.perf_counter() - t0
                    end.record()
                    events.append((start, end))
                timed.append((events, launch))
            ahead = not released.query()
            torch.cuda.synchronize()
            if ahead or attempt == HOLD_ATTEMPTS - 1:
                break  # the last try is kept: sizing only needs a replay's rough length
            hold_ms *= HOLD_GROWTH
        return [
            (statistics.median(s.elapsed_time(e) * 1e3 for s, e in events), launch)
            for events, launch in timed
        ]

    def enqueue_round(
        self, graphs: Sequence[torch.cuda.CUDAGraph], pacer: Any, hold_ms: float
    ) -> _CudaRound:
        released = hold_gpu(hold_ms)
        if pacer is not None:
            pacer.replay()  # untimed: the first timed replay follows a GEMM, not the hold
        events = []
        for graph in graphs:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            events.append((start, end))
        return _CudaRound(not released.query(), events)  # still held: all enqueued in time


# --------------------------------------------------------------------------------------------
# the timing


@dataclass
class _Captured:
    graph: Any
    launches: int  # kernel calls in one replay
    replays: int  # replays this candidate wants for its share of GPU time
    launch_s: float  # host seconds to enqueue one replay (an uploaded graph)
    call_us: float  # one call's time as the sizing measured it (the last graph's replay)


def _size_all(
    dev: _Device,
    call_sets: Sequence[Sequence[Callable[[], object]]],
    max_replays: int,
    target_us: float,
    min_replay_us: float,
    pool: object,
) -> list[_Captured]:
    """Every candidate's ``calls`` (already warmed up) captured with as many passes as the
    sizing rule finds (:func:`grown_inner`: one pass first, recaptured while a replay holds
    less than SIZE_SLACK of ``min_replay_us``, at most SIZE_ATTEMPTS captures; the first
    estimate carries the graph's own launch, so it is too high at small sizes), each sized
    from its own graph's replays, the last graph measured kept. The candidates still growing
    are captured and timed together, one hold for all of them per attempt (a pass of the
    search sizes up to 32 graphs at once)."""
    n = len(call_sets)
    inner = [1] * n
    graphs: list[Any] = [None] * n
    kept: dict[int, tuple[float, float]] = {}  # candidate -> (one call's us, launch s)
    pending = list(range(n))
    for attempt in range(SIZE_ATTEMPTS):
        # Capture the new sizes before dropping the previous graphs: a pool with no live graph
        # is released, and capturing into it again fails inside torch's caching allocator
        # (``use_count > 0`` assert, torch 2.11; it broke the fp8 ceiling, the one call timed
        # alone whose first size is re-captured and that allocates while captured).
        new = [dev.capture(call_sets[i], inner[i], pool) for i in pending]
        for i, graph in zip(pending, new, strict=True):
            graphs[i] = graph  # the previous size's graph is dropped; its memory returns
        # a one-pass graph is cheap: the median of a few; a larger one is timed once
        timed = dev.replay_us(new, SIZE_REPLAYS if attempt == 0 else 1)
        growing = []
        for i, (us, launch_s) in zip(pending, timed, strict=True):
            sets = len(call_sets[i])
            grown = grown_inner(inner[i], us, sets, min_replay_us, attempt == SIZE_ATTEMPTS - 1)
            if grown is None:
                kept[i] = (max(us / (inner[i] * max(1, sets)), MIN_CALL_US), launch_s)
            else:
                inner[i] = grown
                growing.append(i)
        pending = growing
        if not pending:
            break
    out = []
    for i in range(n):
        call_us, launch_s = kept[i]
        launches = inner[i] * len(call_sets[i])
        replays = replay_count(call_us, launches, target_us, max_replays)
        out.append(_Captured(graphs[i], launches, replays, launch_s, call_us))
    return out


def _interleave(
    dev: _Device,
    call_sets: Sequence[Sequence[Callable[[], object]]],
    max_replays: int,
    target_us: float,
    min_replay_us: float,
    seed: int,
    whole_blocks: bool = True,
    drop_over: float | None = None,
) -> list[TimingStats]:
    """The steps of the module doc over ``dev``: warm up every candidate, then size and
    capture each, then run rounds held ahead of the host (whole balanced blocks of them, or,
    for a search's pass, as many as the most demanding candidate asks for); stats of the kept
    rounds.

    ``drop_over`` (a ranking pass only): a candidate whose sized call is more than this many
    times the fastest candidate's takes no part in the rounds, and its stats are its sizing's
    (median = p20 = p80 = that call time, ``replays`` 0): it cannot come near the fastest,
    and at prefill sizes such configs (several times the best, 5-15 ms a call) were most of
    an exhaustive pass's GPU time."""
    if drop_over is not None and not drop_over >= 1.0:
        raise ValueError(f"drop_over {drop_over}: must be at least 1 (the fastest is kept)")
    for calls in call_sets:
        dev.warm_up(calls)  # all of them before any capture (module doc)
    dev.synchronize()
    pool = dev.new_pool()
    sized = _size_all(dev, call_sets, max_replays, target_us, min_replay_us, pool)
    fastest = min(c.call_us for c in sized)
    timed = [
        i for i, c in enumerate(sized) if drop_over is None or c.call_us <= drop_over * fastest
    ]
    stats = _rounds(dev, [sized[i] for i in timed], seed, whole_blocks)
    out = [TimingStats(c.call_us, c.call_us, c.call_us, 0) for c in sized]
    for i, st in zip(timed, stats, strict=True):
        out[i] = st
    return out


def _rounds(
    dev: _Device, captured: list[_Captured], seed: int, whole_blocks: bool
) -> list[TimingStats]:
    """The rounds of :func:`_interleave` over graphs already sized and captured."""
    n = len(captured)
    wanted = max(c.replays for c in captured)
    rounds = balanced_rounds(wanted, n) if whole_blocks else wanted
    orders = round_orders(n, rounds, seed)
    pacing = n > 1  # one candidate has no neighbour to be fair to: no pacer
    launch_s = sum(c.launch_s for c in captured) + (
        max(c.launch_s for c in captured) if pacing else 0
    )
    hold_ms = 2e3 * launch_s + 1.0  # twice the host's time to enqueue a round, + 1 ms

    def enqueue(r: int, hold: float) -> _Round:
        order = orders[r]
        pacer = captured[order[-1]].graph if pacing else None
        return dev.enqueue_round([captured[i].graph for i in order], pacer, hold)

    kept = run_rounds(rounds, enqueue, dev.synchronize, hold_ms)
    if not kept:
        raise NotAheadOfHost(
            f"no round of {rounds} had the GPU ahead of the host after {HOLD_ATTEMPTS} holds"
            f" up to {hold_ms * HOLD_GROWTH ** (HOLD_ATTEMPTS - 1):.0f} ms; nothing timed"
        )
    samples: list[list[float]] = [[] for _ in captured]
    for r, rnd in kept.items():
        for i, us in zip(orders[r], rnd.times_us(), strict=True):
            samples[i].append(us / captured[i].launches)
    return [_percentiles(s, len(kept)) for s in samples]


def _capture(
    calls: Sequence[Callable[[], object]],
    max_replays: int,
    target_us: float,
    min_replay_us: float,
    pool: object = None,
) -> _Captured:
    """One candidate warmed up, sized and captured on its own (``lab/aa_bias.py`` interleaves
    such graphs in orders of its own)."""
    dev = _Cuda()
    dev.warm_up(calls)
    dev.synchronize()
    return _size_all(dev, [calls], max_replays, target_us, min_replay_us, pool)[0]


def time_cuda_graph(
    calls: Sequence[Callable[[], object]],
    max_replays: int = 30,
    target_us: float = 10_000.0,
    min_replay_us: float = MIN_REPLAY_US,
) -> TimingStats:
    """Median time of one call, from CUDA-graph replays of ``calls`` (one per input set).

    An eager pass compiles and warms up; a graph of one pass over the sets is captured and
    timed, and captured again with ``inner`` passes (at least ``min_replay_us`` of work, so
    event overhead stays small, :func:`grown_inner`); there are enough replays for ``target_us``
    of GPU time (at least MIN_REPLAYS, at most ``max_replays``). A replay's time divided by the
    launches in it is one sample.
    """
    return time_cuda_graphs_interleaved([calls], max_replays, target_us, min_replay_us)[0]


def time_cuda_graphs_interleaved(
    call_sets: Sequence[Sequence[Callable[[], object]]],
    max_replays: int = 30,
    target_us: float = 10_000.0,
    min_replay_us: float = MIN_REPLAY_US,
    seed: int = ORDER_SEED,
    whole_blocks: bool = True,
    drop_over: float | None = None,
) -> list[TimingStats]:
    """:func:`time_cuda_graph` for several candidates at once: each gets its graph, then the
    graphs are replayed in turn (balanced orders from ``seed``, :func:`round_orders`), so
    every candidate is timed under the same conditions. Every candidate gets the round count
    the most demanding one asks for (to whole balanced blocks, :func:`balanced_rounds`, unless
    ``whole_blocks`` is False).
    Raises :class:`NotAheadOfHost` when no round could be kept."""
    # One memory pool for every candidate's graph: what a call allocates while it runs (the
    # quantized activation, its scales, the output) comes from the same pool for every
    # candidate, as its inputs come from the same rotated sets (issue 22, lab/README.md).
    return _interleave(
        _Cuda(), call_sets, max_replays, target_us, min_replay_us, seed, whole_blocks, drop_over
    )


def time_host(calls: Sequence[Callable[[], object]], replays: int = 5) -> TimingStats:
    """Host-clock fallback for CPU-only runs (interpreter tests); not used for published data."""
    for fn in calls:
        fn()
    samples = []
    for _ in range(replays):
        t0 = time.perf_counter()
        for fn in calls:
            fn()
        samples.append((time.perf_counter() - t0) * 1e6 / len(calls))
    return _percentiles(samples, replays)


def time_calls(
    calls: Sequence[Callable[[], object]],
    on_cuda: bool,
    max_replays: int = 30,
    target_us: float = 10_000.0,
) -> TimingStats:
    if not calls:
        raise ValueError("time_calls: nothing to time")
    if on_cuda:
        return time_cuda_graph(calls, max_replays, target_us)
    return time_host(calls, min(max_replays, 3))


def time_interleaved(
    call_sets: Sequence[Sequence[Callable[[], object]]],
    on_cuda: bool,
    max_replays: int = 30,
    target_us: float = 10_000.0,
    seed: int = ORDER_SEED,
    whole_blocks: bool = True,
    min_replay_us: float = MIN_REPLAY_US,
    drop_over: float | None = None,
) -> list[TimingStats]:
    """Time several candidates against each other (see the module doc); one stats each.
    ``seed``: the orders' (:func:`order_seed` of the point, so points differ);
    ``whole_blocks``: rounds in whole balanced blocks (False: :func:`time_pass`);
    ``min_replay_us``: the least GPU work in one replay (MIN_REPLAY_US says why 1 ms);
    ``drop_over``: candidates sized slower than this many times the fastest get no rounds
    (:func:`_interleave`; a ranking pass only)."""
    if not call_sets or not all(call_sets):
        raise ValueError("time_interleaved: nothing to time")
    if on_cuda:
        return time_cuda_graphs_interleaved(
            call_sets, max_replays, target_us, min_replay_us, seed, whole_blocks, drop_over
        )
    return [time_host(calls, min(max_replays, 3)) for calls in call_sets]


def time_pass(
    call_sets: Sequence[Sequence[Callable[[], object]]],
    on_cuda: bool,
    max_replays: int = 30,
    target_us: float = 10_000.0,
    seed: int = ORDER_SEED,
    min_replay_us: float = MIN_REPLAY_US,
    drop_over: float | None = None,
) -> list[TimingStats]:
    """One pass of a search: its candidates ranked against each other in one interleaved
    timing (:func:`time_interleaved`), with as many rounds as the most demanding candidate
    asks for, not whole balanced blocks: a pass of 30 configs would otherwise take 30 rounds
    where 5 rank them. Every candidate is in every round, in seeded orders.

    Why one timing for the pass and not one per config: timed alone, a config paid a hold
    of the GPU (1 ms and more) for its sizing and one per round, six or more holds for its
    five replays of about 1 ms; the H200's DeepSeek-V3 TP 8 tune of 2026-12-03 spent 25 ms
    per config timed (9567 configs, 238 s). Together, the holds are shared, and the configs
    are compared under the same conditions (configs timed one after the other drift apart by
    several per cent, ``generator.tune.search``).
    Raises what a candidate raises: the caller times them alone to tell which one failed."""
    return time_interleaved(
        call_sets, on_cuda, max_replays, target_us, seed, False, min_replay_us, drop_over
    )


def tflops(flops: int, latency_us: float) -> float:
    return flops / (latency_us * 1e-6) / 1e12
