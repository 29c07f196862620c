"""Tune one task on the current device: prune, time in passes, verify, record.

Search (pruned mode):
  1. coarse: one representative config per tile shape (``strategy.coarse_representatives``);
  2. refine: every (num_warps, num_stages) variant of the ``TOP_TILES`` fastest tiles;
  3. group: the best config with each surviving GROUP_SIZE_M.
Exhaustive mode times every config that survives the hard rules (the pruning check).

Each pass's configs are launched once alone (a config that fails to launch gets its status),
then timed together: interleaved in one timing of up to PASS_SIZE configs
(``timing.time_pass``), which shares the GPU holds the timing needs between them and compares
them under the same conditions; a pass that raises is timed again config by config.

Seeds: for the kernel the engines run, the entries vLLM and SGLang would pick from the files
they ship for this device and shape, and both engines' defaults, are timed in the same session
the same way (``generator.tune.baselines``); the kernel's own default is timed for every kernel,
so the catalog can show the speedup of tuning.

Then the fastest configs are run once more on *fresh* random operands into a NaN-poisoned output
and compared with the fp32 reference; the first that is correct is the search's winner, the next
correct ones are kept as runners-up. A config that fails to compile, runs out of resources or is
wrong gets that status and is never published.

Never worse than what users have: the search's winner and every distinct correct baseline are
timed against each other in one runoff, as the engine serves them (the activation's
quantization, then the GEMM: ``Tunable.served``), their CUDA-graph replays interleaved
(``time_interleaved``), with an A/A control: the first baseline timed twice, as two graphs of
the same calls. The control's spread is the runoff's noise, and the tie threshold (never below
1 %, ``TIE_FLOOR``): the fastest median wins, except that a config users already run (a shipped
entry first, then a default) within that threshold of the fastest is kept instead. Where the
control is wider than ``AA_TARGET``, the runoff is repeated with twice the rounds (up to
``RUNOFF_ATTEMPTS``), never judged with a wider margin; still wider after the last, the runoff
cannot tell the configs apart and the search's config is not published over what users run: the
fastest shipped entry is kept (else the baselines are judged among themselves), and the record
says why (``TuneRecord.runoff_note``). Why a runoff and not the search's own numbers: the
search's passes, and the seeds, are timed one after the other, and timings taken apart in a long
session drift by several per cent on the H200 (its clock settles under sustained load), enough
to make an identical config look 6 % slower; the baselines are never in the search's passes;
and a fixed margin of the runoff's widest p20-p80 spread (search 4, up to ~10 % at prefill)
kept the baseline listed first where another was 2-5 % faster.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import torch

from generator.configs.keys import config_key
from generator.configs.spaces import SMEM_BYTES_SM90, Problem
from generator.data.records import SEARCH_CURRENT, Measurement, Status, TuneRecord
from generator.data.tasks import Task
from generator.measure.timing import (
    TimingStats,
    order_seed,
    rotation_count,
    tflops,
    time_calls,
    time_interleaved,
    time_pass,
    written_set_count,
)
from generator.tune.baselines import engine_baselines
from generator.tune.strategy import (
    coarse_representatives,
    group_variants,
    refine_neighbours,
    tile_of,
)
from generator.tune.tunables import Operands, Tunable, get_tunable
from kernels.platform import is_rocm
from kernels.reference import relative_error, tolerance

TOP_TILES = 2
PASS_MIN_REPLAY_US = 250.0  # TuneOptions.pass_min_replay_us says why
PASS_DROP_OVER = 1.5  # TuneOptions.pass_drop_over says why
PASS_SIZE = 32  # configs timed together in one pass (time_pass); more wait in the next
RUNNERS_UP = 3
MAX_VERIFIED = 12  # stop looking for runners-up after this many checks
AA_TARGET = 0.01  # identical work within 1 %: a wider control repeats the runoff
# The tie threshold never goes below this. Until search 8 the runoff timed the GEMM alone on
# pre-quantized activations, where the engine (and the bench) runs it right after the
# activation quantization: a search config that won that runoff by under 1 % was slower than
# the shipped entry in the bench at 3 of 35 H200 DeepSeek-V3 TP 8 points (up to 3.6 %;
# lab/tune_vs_bench.py, 2026-12-03), and one that won by 1.8 % was 4.9 % slower (the sweep of
# a2ac973, 2026-12-04). The runoff now times what the engine runs; the floor stays the A/A
# target, identical work's noise.
TIE_FLOOR = AA_TARGET
RUNOFF_ATTEMPTS = 3  # runoffs with 1x, 2x, 4x the rounds before the control is taken as is
RUNOFF_REPLAYS = 60  # replays per config in the first interleaved runoff
RUNOFF_TARGET_US = 20_000.0  # GPU time per config in the first runoff


@dataclass(frozen=True)
class TuneOptions:
    device: str = "cuda"
    exhaustive: bool = False
    max_replays: int = 20
    target_us: float = 5_000.0
    coarse_target_us: float = 2_000.0  # the first pass only ranks tile shapes
    seed: int = 0
    device_name: str = ""  # vLLM's spelling: which shipped files are this device's baselines
    # Least GPU work in one replay of a search's pass (the runoff keeps MIN_REPLAY_US). A pass
    # only ranks configs; a shorter replay captures fewer calls per graph and lets the first
    # pass's 2 ms of GPU time a config be 8 rounds instead of 5 of 1 ms. At 12 H200 tasks the
    # winners of 250 us passes timed within 1.004 of those of 1 ms passes, in 17 % less
    # timing (lab/pass_replay.py, 2026-12-04).
    pass_min_replay_us: float = PASS_MIN_REPLAY_US
    # A pass's configs sized slower than this many times its fastest get no rounds, their
    # sizing's time recorded (timing._interleave); None: every config timed in full. The
    # sizing is within 9 % of the rounds' median at every config of two exhaustive H200
    # searches (4608x7168, M = 1024 and 4096: 1889 configs); with the drop each found the
    # same winner in 57-63 % of the timing (lab/pass_drop.py, 2026-12-04). The pruned search
    # is judged with it by the pruning check.
    pass_drop_over: float | None = PASS_DROP_OVER

    def __post_init__(self) -> None:
        # A bad value would fail every pass, and a failed pass is timed config by config:
        # the tune would go on, quietly without its interleaving.
        if not self.pass_min_replay_us > 0:
            raise ValueError(f"pass_min_replay_us {self.pass_min_replay_us}: must be > 0")
        if self.pass_drop_over is not None and not self.pass_drop_over >= 1.0:
            raise ValueError(f"pass_drop_over {self.pass_drop_over}: must be at least 1")


def device_smem_bytes(device: str) -> int:
    """Shared memory one block may use on ``device``: the budget of the spaces' shared-memory
    rule, queried, never assumed (the opt-in maximum: 227 KB on sm_90, 99 KB on sm_89 and
    sm_120, 64 KB of LDS on MI300). CPU runs (the interpreter has no limit) size it as for the
    lent H100 / H200, so that the CPU tests prune the space those GPUs tune."""
    if not device.startswith("cuda"):
        return SMEM_BYTES_SM90
    props = torch.cuda.get_device_properties(torch.device(device))
    for name in ("shared_memory_per_block_optin", "shared_memory_per_block"):
        value = int(getattr(props, name, 0) or 0)
        if value > 0:
            return value
    raise RuntimeError(
        f"{device}: torch reports no shared memory per block ({props.name}); cannot size the "
        "search space's shared-memory rule"
    )


def device_platform(device: str) -> str:
    """Which platform's knobs the spaces add on ``device`` (``SearchSpace.configs_for``)."""
    return "rocm" if device.startswith("cuda") and is_rocm() else "cuda"


def problem_of(task: Task, tunable: Tunable, device: str) -> Problem:
    return Problem(
        M=task.M,
        N=task.N,
        K=task.K,
        block_k=task.block_k,
        a_bytes=tunable.a_bytes(task),
        b_bytes=1,
        smem_bytes=device_smem_bytes(device),
        platform=device_platform(device),
    )


def candidates_for(task: Task, device: str, exhaustive: bool):
    tunable = get_tunable(task.kernel)
    return tunable.space.prune(problem_of(task, tunable, device), exhaustive)


def configs_known_ahead(task: Task, opts: TuneOptions) -> list[dict[str, int]]:
    """The configs ``tune_task`` will time at ``task`` whatever the timings say: its first
    pass (every candidate, for the exhaustive search), the default and the engines' shipped
    entries; what the compile pool prepares before the task starts (``dispatch.LOOKAHEAD``)."""
    tunable = get_tunable(task.kernel)
    candidates, _ = candidates_for(task, opts.device, opts.exhaustive)
    first = candidates if opts.exhaustive else coarse_representatives(candidates)
    seeds = [b.config for b in engine_baselines(tunable, task, opts.device_name)]
    return [*first, tunable.default_config(task), *seeds]


def _classify(exc: BaseException) -> Status:
    name = type(exc).__name__
    if name == "OutOfResources" or "out of resource" in str(exc).lower():
        return Status.OUT_OF_RESOURCES
    if name in ("CompilationError", "CompileTimeAssertionFailure") or "compil" in name.lower():
        return Status.COMPILE_ERROR
    return Status.ERROR


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class _Session:
    """Operands and bookkeeping for one task; each config is timed at most once."""

    def __init__(
        self,
        task: Task,
        opts: TuneOptions,
        ensure_compiled: Callable[[Task, list[dict[str, int]]], dict] | None,
    ):
        self.task = task
        self.opts = opts
        self.tunable = get_tunable(task.kernel)
        self.on_cuda = opts.device.startswith("cuda")
        self.ensure_compiled = ensure_compiled
        seed = zlib.crc32(task.label().encode()) ^ opts.seed
        self.gen = torch.Generator(device=opts.device)
        self.gen.manual_seed(seed)
        self.results: dict[tuple[int, ...], Measurement] = {}
        # Where the task's time goes (TuneRecord.phase_s): "operands", "compile" (waiting for
        # the compile-ahead pool), "timing" (the search's passes and the seeds), "verify",
        # "runoff"; the rest of the task's wall time is host work between them. Inside
        # "timing", "timing_alone" is also kept apart: configs of a failed pass timed one by
        # one (their times are sequential, not interleaved with the pass's others).
        self.phase_s: Counter[str] = Counter()
        with self.phase("operands"):
            n_sets = rotation_count(self.tunable.bytes(task)) if self.on_cuda else 1
            self.sets = [
                self.tunable.make_operands(task, self.gen, opts.device) for _ in range(n_sets)
            ]
            self.outs = [self.tunable.new_output(task, opts.device) for _ in self.sets]
        self._served: list[tuple[Operands, torch.Tensor]] | None = None  # _served_sets

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phase_s[name] += time.perf_counter() - t0

    def measure_all(
        self, configs: list[dict[str, int]], target_us: float | None = None
    ) -> list[Measurement]:
        """Each config not yet timed: compiled (ahead, in parallel), launched once alone (a
        config that fails to launch gets its status), then the rest timed together in passes
        of at most PASS_SIZE (``time_pass``)."""
        todo = list(
            {config_key(c): c for c in configs if config_key(c) not in self.results}.values()
        )
        with self.phase("compile"):
            compile_ahead = self.ensure_compiled and todo
            failed = self.ensure_compiled(self.task, todo) if compile_ahead else {}
        with self.phase("timing"):
            runnable = []
            for cfg in todo:
                key = config_key(cfg)
                if key in failed:
                    self.results[key] = Measurement(
                        config=cfg, status=Status.COMPILE_ERROR, message=failed[key]
                    )
                    continue
                launch_error = self._launch_error(cfg)
                if launch_error is not None:
                    self.results[key] = launch_error
                    continue
                runnable.append(cfg)
            for chunk in even_chunks(runnable, PASS_SIZE):
                for cfg, m in zip(chunk, self._time_together(chunk, target_us), strict=True):
                    self.results[config_key(cfg)] = m
        return [self.results[config_key(c)] for c in configs]

    def _launch_error(self, cfg: dict[str, int]) -> Measurement | None:
        """The config launched once on the first input set: None if it ran, else its status
        (out of resources, a compile error at launch, ...), recorded. An error that breaks the
        CUDA context (an illegal address) raises again at the second synchronize and ends the
        task, as a timing of it did before: nothing after it on that device could be trusted."""
        try:
            self.tunable.run(self.task, self.sets[0], cfg, self.outs[0])
            if self.on_cuda:
                torch.cuda.synchronize()  # an error of this launch surfaces here, not later
        except Exception as exc:  # one bad config must not stop a tune
            if self.on_cuda:
                torch.cuda.synchronize()
            return Measurement(config=cfg, status=_classify(exc), message=_one_line(exc))
        return None

    def _time_together(
        self, configs: list[dict[str, int]], target_us: float | None
    ) -> list[Measurement]:
        """``configs`` (each launched once already) timed against each other in one pass; if
        the pass raises, each is timed alone, which tells the one that fails."""
        target = self.opts.target_us if target_us is None else target_us
        try:
            stats = time_pass(
                [self._calls(c) for c in configs],
                self.on_cuda,
                self.opts.max_replays,
                target,
                seed=order_seed(self.task.label(), "pass", len(self.results)),
                min_replay_us=self.opts.pass_min_replay_us,
                drop_over=self.opts.pass_drop_over,
            )
        except Exception:  # noqa: BLE001 - found below, config by config
            stats = None
        if stats is None:
            # Outside the except: its traceback would keep the failed pass's graphs (and
            # their pool's memory) alive while each config is timed alone.
            if self.on_cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
            with self.phase("timing_alone"):  # the record says these times are sequential
                return [self._time(c, target_us) for c in configs]
        return [
            _measured(self.task, self.tunable, c, st) for c, st in zip(configs, stats, strict=True)
        ]

    def _calls(self, cfg: dict[str, int], served: bool = False) -> list[Callable[[], torch.Tensor]]:
        """One call per input set: the kernel alone, or as served (``Tunable.served``, over
        :meth:`_served_sets`)."""
        if served:
            sets = self._served_sets()
            return [partial(self.tunable.served, self.task, ops, cfg, out) for ops, out in sets]
        return [
            partial(self.tunable.run, self.task, ops, cfg, out)
            for ops, out in zip(self.sets, self.outs, strict=True)
        ]

    def _served_sets(self) -> list[tuple[Operands, torch.Tensor]]:
        """The input sets with their outputs, and on a GPU more, up to
        ``timing.written_set_count``: the same inputs again with buffers of their own for what
        the served call writes (``Tunable.served_writes``, and the output), so those rotate
        beyond L2 too. Where one buffer lands moves a kernel's time (``lab/aa_alloc.py``),
        and a task whose inputs fill one or two sets would time each config on one or two
        placements; the bench rotates what its calls write the same way
        (``BenchContext.rotate``)."""
        if self._served is None:
            n = len(self.sets)
            first = self.sets[0]
            written = self.outs[0].untyped_storage().nbytes() + sum(
                first[k].untyped_storage().nbytes() for k in self.tunable.served_writes
            )
            total = written_set_count(n, written) if self.on_cuda else n
            sets = list(zip(self.sets, self.outs, strict=True))
            with self.phase("operands"):
                for i in range(n, total):
                    ops = self.sets[i % n]
                    own = {k: torch.empty_like(ops[k]) for k in self.tunable.served_writes}
                    sets.append(
                        ({**ops, **own}, self.tunable.new_output(self.task, self.opts.device))
                    )
            self._served = sets
        return self._served

    def _time(self, cfg: dict[str, int], target_us: float | None = None) -> Measurement:
        target = self.opts.target_us if target_us is None else target_us
        try:
            stats = time_calls(self._calls(cfg), self.on_cuda, self.opts.max_replays, target)
        except Exception as exc:  # recorded, never fatal: one bad config must not stop a tune
            if self.on_cuda:
                torch.cuda.synchronize()
            return Measurement(config=cfg, status=_classify(exc), message=_one_line(exc))
        return _measured(self.task, self.tunable, cfg, stats)

    def checked(self, verifier: _Verifier, cfg: dict[str, int]) -> Measurement:
        """The measurement of ``cfg``, verified against the reference (once)."""
        key = config_key(cfg)
        m = self.results[key]
        if m.status == Status.OK and m.rel_error is None:
            with self.phase("verify"):
                m = verifier.check(m)
            self.results[key] = m
        return m

    def interleaved(self, configs: list[dict[str, int]], rounds: int = 1) -> list[TimingStats]:
        """The configs timed against each other as an engine serves them (the W8A8 kernels
        after the activation's quantization, ``Tunable.served``), replays interleaved
        (``time_interleaved``), with ``rounds`` times the runoff's replays and GPU time."""
        calls = [self._calls(cfg, served=True) for cfg in configs]
        return time_interleaved(
            calls,
            self.on_cuda,
            RUNOFF_REPLAYS * rounds,
            RUNOFF_TARGET_US * rounds,
            seed=order_seed(self.task.label(), rounds),
        )

    def runoff(self, configs: list[dict[str, int]]) -> tuple[list[TimingStats], float]:
        """``configs`` timed against each other with an A/A control (a twin of the first);
        repeated with twice the rounds while the control is wider than ``AA_TARGET``. Returns
        the configs' stats and the control's spread."""
        for attempt in range(RUNOFF_ATTEMPTS):
            stats = self.interleaved([*configs, configs[0]], rounds=2**attempt)
            aa = _aa_spread(stats[0], stats[-1])
            if aa <= AA_TARGET:
                break
        return stats[:-1], aa

    def decide(
        self, cand: Measurement | None, baselines: dict[str, Measurement], shipped: set[str]
    ) -> tuple[Measurement | None, str, dict[str, float], float | None, str | None]:
        """The published winner: the search's ``cand`` or a baseline (module doc).

        Returns (winner, its source, the runoff's median times by name, the control's
        spread, why the runoff did not decide alone or None); ``shipped`` names the
        baselines that are shipped entries."""
        ok = {n: m for n, m in baselines.items() if _ok(m)}
        if not ok:
            return cand, "search", {}, None, None
        names_by_config: dict[tuple, list[str]] = {}
        for n, m in ok.items():
            names_by_config.setdefault(config_key(m.config), []).append(n)
        configs = [ok[names[0]].config for names in names_by_config.values()]
        if cand is not None and config_key(cand.config) not in names_by_config:
            configs.append(cand.config)
        try:
            with self.phase("runoff"):
                stats, aa = self.runoff(configs)
        except Exception:  # noqa: BLE001 - they ran before; if not now, keep what users have
            if self.on_cuda:
                torch.cuda.synchronize()
            name = _best_baseline(ok)
            return ok[name], name, {}, None, None
        by_key = {config_key(c): st.median_us for c, st in zip(configs, stats, strict=True)}
        runoff = {n: by_key[config_key(m.config)] for n, m in ok.items()}
        if cand is not None and config_key(cand.config) not in names_by_config:
            runoff["search"] = by_key[config_key(cand.config)]
        name, note = decide_runoff(runoff, [n for n in ok if n in shipped], aa)
        winner = cand if name == "search" else ok[name]
        return winner, name, runoff, aa, note

    def ranked_ok(self) -> list[Measurement]:
        ok = [m for m in self.results.values() if m.status == Status.OK]
        return sorted(ok, key=lambda m: m.latency_us)


class _Verifier:
    """Runs configs on fresh operands (not the timed ones) against the fp32 reference."""

    def __init__(self, session: _Session):
        s = session
        self.s = s
        self.operands = s.tunable.make_operands(s.task, s.gen, s.opts.device)
        self.reference = s.tunable.reference(s.task, self.operands)
        self.tol = tolerance(s.outs[0].dtype)

    def check(self, m: Measurement) -> Measurement:
        s = self.s
        out = torch.full_like(s.outs[0], float("nan"))
        try:
            s.tunable.run(s.task, self.operands, m.config, out)
            err = relative_error(out, self.reference)
        except Exception as exc:
            return m.model_copy(update={"status": _classify(exc), "message": _one_line(exc)})
        update: dict = {"rel_error": err}
        if not err <= self.tol:
            update |= {
                "status": Status.INCORRECT,
                "message": f"relative error {err:.3g} > bound {self.tol:.3g}",
            }
        return m.model_copy(update=update)


def even_chunks(items: list, most: int) -> list[list]:
    """``items`` in the fewest chunks of at most ``most``, their sizes as even as can be (33
    configs: 17 and 16, not 32 and a last one timed almost alone)."""
    if not items:
        return []
    count = -(-len(items) // most)
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def _measured(task: Task, tunable: Tunable, cfg: dict[str, int], stats: TimingStats) -> Measurement:
    return Measurement(
        config=cfg,
        status=Status.OK,
        latency_us=stats.median_us,
        p20_us=stats.p20_us,
        p80_us=stats.p80_us,
        tflops=tflops(tunable.flops(task), stats.median_us),
    )


def _aa_spread(a: TimingStats, b: TimingStats) -> float:
    """How far apart identical work timed: |a - b| / min(a, b) of the medians."""
    low = min(a.median_us, b.median_us)
    return abs(a.median_us - b.median_us) / low if low > 0 else float("inf")


def choose(runoff: dict[str, float], preferred: list[list[str]], tie: float) -> str:
    """The runoff's winner: of the configs within ``tie`` of the fastest median, the fastest
    of the first group in ``preferred`` that has one (shipped entries, then defaults), else
    the fastest ("search": a config of ours wins only by more than the tie)."""
    fastest = min(runoff.values())
    near = {n for n, us in runoff.items() if us <= fastest * (1.0 + tie)}
    for group in preferred:
        mine = [n for n in group if n in near]
        if mine:
            return min(mine, key=lambda n: runoff[n])
    return min(runoff, key=lambda n: runoff[n])


def decide_runoff(
    runoff: dict[str, float], shipped: list[str], aa: float
) -> tuple[str, str | None]:
    """The runoff's winner (its medians by name: the baselines and "search"), and why it was
    not simply the fastest beyond the tie, or None. With the A/A control ``aa`` within
    ``AA_TARGET`` the tie is the control's spread (:func:`choose`: a shipped entry, then a
    default, kept within it). Wider, the runoff cannot tell the configs apart: the search's
    config is never published; the fastest ``shipped`` entry is kept, where one ran, else the
    baselines are judged among themselves with the widest tie."""
    baselines = [n for n in runoff if n != "search"]
    if aa <= AA_TARGET:
        tie = max(aa, TIE_FLOOR)
        return choose(runoff, [shipped, [n for n in baselines if n not in shipped]], tie), None
    keep = [n for n in shipped if n in runoff] or baselines
    name = choose({n: runoff[n] for n in keep}, [keep], AA_TARGET)
    why = (
        f"A/A control {aa:.1%} > {AA_TARGET:.0%} after {RUNOFF_ATTEMPTS} runoffs: "
        + ("the shipped entry is kept" if shipped else "the baselines decided among themselves")
        + ("; the search's config is not published" if "search" in runoff else "")
    )
    return name, why


def tune_task(
    task: Task,
    opts: TuneOptions,
    ensure_compiled: Callable[[Task, list[dict[str, int]]], dict] | None = None,
) -> TuneRecord:
    """Tune one task; ``ensure_compiled`` compiles configs ahead in parallel (GPU runs)."""
    t0 = time.perf_counter()
    candidates, report = candidates_for(task, opts.device, opts.exhaustive)
    s = _Session(task, opts, ensure_compiled)

    if opts.exhaustive:
        s.measure_all(candidates)
    else:
        s.measure_all(coarse_representatives(candidates), opts.coarse_target_us)
        top_tiles: list[tuple[int, int, int]] = []
        for m in s.ranked_ok():
            if tile_of(m.config) not in top_tiles:
                top_tiles.append(tile_of(m.config))
            if len(top_tiles) == TOP_TILES:
                break
        s.measure_all(refine_neighbours(candidates, top_tiles))
        ranked = s.ranked_ok()
        if ranked:
            s.measure_all(group_variants(candidates, ranked[0].config))

    default_cfg = s.tunable.default_config(task)
    default = s.measure_all([default_cfg])[0]
    engine = engine_baselines(s.tunable, task, opts.device_name)
    seeds = {b.name: b.config for b in engine}
    shipped = {b.name for b in engine if b.shipped}
    s.measure_all(list(seeds.values()))
    seed_keys = {config_key(c) for c in seeds.values()}

    with s.phase("verify"):
        verifier = _Verifier(s)
    verified: list[Measurement] = []
    for i, m in enumerate(s.ranked_ok()):
        if i >= MAX_VERIFIED and verified:
            break  # enough checked; without a correct one yet, go on down the list
        if config_key(m.config) in seed_keys and not opts.exhaustive:
            continue  # a baseline is checked below and competes as one
        with s.phase("verify"):
            checked = verifier.check(m)
        s.results[config_key(m.config)] = checked
        if checked.status == Status.OK:
            verified.append(checked)
            if len(verified) > RUNNERS_UP:
                break
    default = s.checked(verifier, default_cfg)
    baselines = {name: s.checked(verifier, cfg) for name, cfg in seeds.items()}

    winner, source, runoff, aa, note = (verified[0] if verified else None), "search", {}, None, None
    if not opts.exhaustive:
        winner, source, runoff, aa, note = s.decide(winner, baselines, shipped)
    runners_up = [m for m in verified if winner is None or m.config != winner.config]

    counts = Counter(m.status for m in s.results.values())
    return TuneRecord(
        M=task.M,
        winner=winner,
        runners_up=runners_up[:RUNNERS_UP],
        default=default,
        baselines=baselines,
        winner_source=source,
        runoff_us=runoff,
        runoff_aa_spread=aa,
        runoff_note=note,
        search=SEARCH_CURRENT,
        status_counts=dict(counts),
        configs_in_space=report.in_space,
        configs_pruned=report.pruned,
        configs_timed=len(s.results),
        wall_s=round(time.perf_counter() - t0, 3),
        phase_s={k: round(v, 3) for k, v in sorted(s.phase_s.items())},
    )


def _best_baseline(baselines: dict[str, Measurement]) -> str | None:
    """The fastest correct baseline (the first listed on a tie: shipped before default)."""
    ok = [(m.latency_us, i, n) for i, (n, m) in enumerate(baselines.items()) if _ok(m)]
    return min(ok)[2] if ok else None


def _ok(m: Measurement) -> bool:
    return m.status == Status.OK and m.latency_us is not None and m.rel_error is not None


def paired_times(task: Task, configs: list[dict[str, int]], opts: TuneOptions) -> list[float]:
    """Median time of each config, timed interleaved on the same operands in one session, as
    the engine serves it (``_Session.interleaved``; GEMM alone before search 8): the fair
    comparison of configs found by different searches."""
    s = _Session(task, opts, None)
    return [st.median_us for st in s.interleaved(configs)]
