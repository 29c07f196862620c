"""Timing that the catalog can stand behind.

Why not single launches with a sync (what the reference tuners do): launch overhead and the
host dominate at small M, and repeated launches over one buffer measure L2, not HBM. Here:

* inputs are rotated: the caller builds several independent input sets, together larger than
  the L2 cache (``rotation_count``), and each timed replay walks through all of them;
* launches are captured once into a CUDA graph and the graph is replayed, so the GPU sees
  back-to-back kernels with no host gaps;
* after a warm-up, each replay is timed with CUDA events; we report the median and the 20th /
  80th percentiles per call;
* candidates that are compared are timed *interleaved* (:func:`time_interleaved`): one graph
  each, replayed in turn, in a new seeded random order every round, so each candidate follows
  every other as often (a fixed cyclic order put the same neighbour before a candidate in
  almost every round). Timed one after the other, the same config measured up to 6 % slower
  when it came last after several prefill-sized GEMMs on the H200 (the GPU's clock settles
  lower under sustained load), which made identical configs look like regressions;
  interleaved, every candidate sees the same conditions;
* the GPU is kept ahead of the host: before each round a sleep kernel holds the stream long
  enough for the host to enqueue the whole round, so no sample can contain the host's time to
  launch a graph (were the GPU to drain between replays, the host's launch of the next graph
  would land between its start and end events). Each round checks, by an event, that its hold
  outlasted the host's enqueueing; a round that was not ahead is not used, and is run again
  with a hold four times longer;
* every candidate's graph is captured into one memory pool, so what the calls allocate while
  they run lands in the same memory for every candidate, as their inputs do.

Identical work still timed apart in the bench's sweeps after these (issue 22, open:
``lab/README.md``, ``aa_bias.py`` / ``aa_sweep.py``), which is why every point carries an A/A
control and identical work is timed once.

How a run timed is part of every row's provenance (``TIMING_METHOD``): rows timed another way
are re-measured, never relabelled.

Without a GPU (tests under the Triton interpreter) the same interface times with the host clock.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

# Rotate through at least this many times the L2 size of input bytes, so no set is still cached.
L2_MULTIPLE = 3
MAX_INPUT_SETS = 64
# Least GPU work in one timed replay. Each replay also carries the graph's launch and the gap
# to the next graph, 2-3 us on the H100; with 50 us and one input set (a large weight: one
# launch a replay) that added 3 % to a 72 us kernel (lab/timing_overhead.py). With
# 1000 us it is amortized below 0.3 %, for the same total GPU time per measurement.
MIN_REPLAY_US = 1000.0
MIN_REPLAYS = 5
ORDER_SEED = 20261202  # the interleaving orders are random, and the same in every run
# What the provenance of a measurement says about how it was timed (see the module doc and
# docs/methodology.md): CUDA-graph replays of at least 1 ms, interleaved in seeded random order.
TIMING_METHOD = (
    "cuda-graph replays >= 1 ms, interleaved in seeded random order, the GPU held ahead of the"
    " host, one memory pool for every candidate's graph"
)
HOLD_ATTEMPTS = 4  # a round not ahead of the host is run again, held 4x longer each time


@dataclass(frozen=True)
class TimingStats:
    median_us: float
    p20_us: float
    p80_us: float
    replays: int


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


def _percentiles(samples_us: list[float], replays: int) -> TimingStats:
    samples_us = sorted(samples_us)
    q = statistics.quantiles(samples_us, n=10, method="inclusive") if len(samples_us) > 1 else []
    p20 = q[1] if q else samples_us[0]
    p80 = q[7] if q else samples_us[0]
    return TimingStats(statistics.median(samples_us), p20, p80, replays)


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    launches: int  # kernel calls in one replay
    replays: int  # replays this candidate wants for its share of GPU time
    launch_s: float  # host seconds to enqueue one replay (its warm-up replay)


def _capture(
    calls: Sequence[Callable[[], object]],
    max_replays: int,
    target_us: float,
    min_replay_us: float,
    pool: object = None,
) -> _Captured:
    """Compile and warm up ``calls``, estimate one call's time, and capture a graph that runs
    every call ``inner`` times (at least ``min_replay_us`` of work, so event overhead stays
    small); the replay count gives ``target_us`` of GPU time (MIN_REPLAYS..``max_replays``)."""
    for fn in calls:  # compile / autotune / allocate outside the graph
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for fn in calls:
        fn()
    end.record()
    torch.cuda.synchronize()
    est_call_us = max(start.elapsed_time(end) * 1e3 / len(calls), 0.5)
    inner = max(1, math.ceil(min_replay_us / (est_call_us * len(calls))))
    launches = inner * len(calls)
    replays = max(MIN_REPLAYS, min(max_replays, math.ceil(target_us / (est_call_us * launches))))
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        with torch.cuda.graph(graph, pool=pool, stream=stream):
            for _ in range(inner):
                for fn in calls:
                    fn()
    torch.cuda.current_stream().wait_stream(stream)
    t0 = time.perf_counter()
    graph.replay()  # warm-up replay (its host time sizes the hold of the timed replays)
    launch_s = time.perf_counter() - t0
    torch.cuda.synchronize()
    return _Captured(graph, launches, replays, launch_s)


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


def time_cuda_graph(
    calls: Sequence[Callable[[], object]],
    max_replays: int = 30,
    target_us: float = 10_000.0,
    min_replay_us: float = MIN_REPLAY_US,
) -> TimingStats:
    """Median time of one call, from CUDA-graph replays of ``calls`` (one per input set).

    An eager pass compiles and warms up; a second, event-timed eager pass estimates the call
    time, which sizes the graph: each replay runs every call ``inner`` times over (at least
    ``min_replay_us`` of work, so event overhead stays small), and there are enough replays for
    ``target_us`` of GPU time (at least MIN_REPLAYS, at most ``max_replays``). A replay's time
    divided by the launches in it is one sample.
    """
    return time_cuda_graphs_interleaved([calls], max_replays, target_us, min_replay_us)[0]


def round_orders(n: int, rounds: int, seed: int = ORDER_SEED) -> list[list[int]]:
    """The order candidates are replayed in, per round: a seeded random permutation each, so
    no candidate always follows the same neighbour and every run uses the same orders."""
    rng = random.Random(seed * 1_000_003 + n)
    orders = []
    for _ in range(rounds):
        order = list(range(n))
        rng.shuffle(order)
        orders.append(order)
    return orders


def time_cuda_graphs_interleaved(
    call_sets: Sequence[Sequence[Callable[[], object]]],
    max_replays: int = 30,
    target_us: float = 10_000.0,
    min_replay_us: float = MIN_REPLAY_US,
) -> list[TimingStats]:
    """:func:`time_cuda_graph` for several candidates at once: each gets its graph, then the
    graphs are replayed in turn (a seeded random order each round, :func:`round_orders`), so
    every candidate is timed under the same conditions. Every candidate gets the replay count
    the most demanding one asks for."""
    # One memory pool for every candidate's graph: what a call allocates while it runs (the
    # quantized activation, its scales, the output) comes from the same pool for every
    # candidate, as its inputs come from the same rotated sets (issue 22, lab/README.md).
    pool = torch.cuda.graph_pool_handle()
    captured = [_capture(calls, max_replays, target_us, min_replay_us, pool) for calls in call_sets]
    replays = max(c.replays for c in captured)
    n = len(captured)
    events = [
        [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(replays)
        ]
        for _ in captured
    ]
    orders = round_orders(n, replays)
    # each round held for twice the host's time to enqueue it (+ 1 ms), longer where needed
    hold_ms = 2e3 * sum(c.launch_s for c in captured) + 1.0
    todo = list(range(replays))
    for _ in range(HOLD_ATTEMPTS):
        ahead = []
        for r in todo:
            released = hold_gpu(hold_ms)
            for i in orders[r]:
                start, end = events[i][r]
                start.record()
                captured[i].graph.replay()
                end.record()
            ahead.append(not released.query())  # still held: the round was all enqueued
        torch.cuda.synchronize()
        todo = [r for r, ok in zip(todo, ahead, strict=True) if not ok]
        if not todo:
            break
        hold_ms *= 4
    out = []
    for c, evs in zip(captured, events, strict=True):
        samples = [s.elapsed_time(e) * 1e3 / c.launches for s, e in evs]
        out.append(_percentiles(samples, replays))
    del captured
    return out


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
) -> list[TimingStats]:
    """Time several candidates against each other (see the module doc); one stats each."""
    if not call_sets or not all(call_sets):
        raise ValueError("time_interleaved: nothing to time")
    if on_cuda:
        return time_cuda_graphs_interleaved(call_sets, max_replays, target_us)
    return [time_host(calls, min(max_replays, 3)) for calls in call_sets]


def tflops(flops: int, latency_us: float) -> float:
    return flops / (latency_us * 1e-6) / 1e12
