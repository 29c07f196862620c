"""Tune one task on the current device: prune, time in passes, verify, record.

Search (pruned mode):
  1. coarse: one representative config per tile shape (``strategy.coarse_representatives``);
  2. refine: every (num_warps, num_stages) variant of the ``TOP_TILES`` fastest tiles;
  3. group: the best config with each surviving GROUP_SIZE_M.
Exhaustive mode times every config that survives the hard rules (the pruning check).

Then the fastest configs are run once more on *fresh* random operands into a NaN-poisoned output
and compared with the fp32 reference; the first that is correct wins, and the next correct ones
are kept as runners-up. A config that fails to compile, runs out of resources or is wrong gets
that status and is never published. vLLM's default config is timed and checked the same way, so
the catalog can show the speedup of tuning.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from generator.bench.timing import rotation_count, tflops, time_calls
from generator.configs.keys import config_key
from generator.configs.spaces import SMEM_BYTES_SM90, Problem
from generator.data.records import Measurement, Status, TuneRecord
from generator.tune.strategy import (
    coarse_representatives,
    group_variants,
    refine_neighbours,
    tile_of,
)
from generator.tune.tasks import Task
from generator.tune.tunables import Tunable, get_tunable
from kernels.reference import relative_error, tolerance

TOP_TILES = 2
RUNNERS_UP = 3
MAX_VERIFIED = 12  # stop looking for correct configs after this many checks


@dataclass(frozen=True)
class TuneOptions:
    device: str = "cuda"
    exhaustive: bool = False
    max_replays: int = 20
    target_us: float = 5_000.0
    seed: int = 0


def device_smem_bytes(device: str) -> int:
    if not device.startswith("cuda"):
        return SMEM_BYTES_SM90
    props = torch.cuda.get_device_properties(torch.device(device))
    return int(getattr(props, "shared_memory_per_block_optin", SMEM_BYTES_SM90))


def problem_of(task: Task, tunable: Tunable, device: str) -> Problem:
    return Problem(
        M=task.M,
        N=task.N,
        K=task.K,
        block_k=task.block_k,
        a_bytes=tunable.a_bytes(task),
        b_bytes=1,
        smem_bytes=device_smem_bytes(device),
    )


def candidates_for(task: Task, device: str, exhaustive: bool):
    tunable = get_tunable(task.kernel)
    return tunable.space.prune(problem_of(task, tunable, device), exhaustive)


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
        n_sets = rotation_count(self.tunable.bytes(task)) if self.on_cuda else 1
        self.sets = [self.tunable.make_operands(task, self.gen, opts.device) for _ in range(n_sets)]
        self.outs = [self.tunable.new_output(task, opts.device) for _ in self.sets]
        self.results: dict[tuple[int, ...], Measurement] = {}

    def measure_all(self, configs: list[dict[str, int]]) -> list[Measurement]:
        todo = [c for c in configs if config_key(c) not in self.results]
        failed = self.ensure_compiled(self.task, todo) if (self.ensure_compiled and todo) else {}
        for cfg in todo:
            key = config_key(cfg)
            if key in failed:
                self.results[key] = Measurement(
                    config=cfg, status=Status.COMPILE_ERROR, message=failed[key]
                )
                continue
            self.results[key] = self._time(cfg)
        return [self.results[config_key(c)] for c in configs]

    def _time(self, cfg: dict[str, int]) -> Measurement:
        calls = [
            partial(self.tunable.run, self.task, ops, cfg, out)
            for ops, out in zip(self.sets, self.outs, strict=True)
        ]
        try:
            stats = time_calls(calls, self.on_cuda, self.opts.max_replays, self.opts.target_us)
        except Exception as exc:  # recorded, never fatal: one bad config must not stop a tune
            if self.on_cuda:
                torch.cuda.synchronize()
            return Measurement(config=cfg, status=_classify(exc), message=_one_line(exc))
        return Measurement(
            config=cfg,
            status=Status.OK,
            latency_us=stats.median_us,
            p20_us=stats.p20_us,
            p80_us=stats.p80_us,
            tflops=tflops(self.tunable.flops(self.task), stats.median_us),
        )

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
        s.measure_all(coarse_representatives(candidates))
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

    verifier = _Verifier(s)
    verified: list[Measurement] = []
    for m in s.ranked_ok()[:MAX_VERIFIED]:
        checked = verifier.check(m)
        s.results[config_key(m.config)] = checked
        if checked.status == Status.OK:
            verified.append(checked)
            if len(verified) > RUNNERS_UP:
                break
    if default.status == Status.OK:
        default = s.results[config_key(default_cfg)]
        if default.rel_error is None:
            default = verifier.check(default)
            s.results[config_key(default_cfg)] = default

    counts = Counter(m.status for m in s.results.values())
    return TuneRecord(
        M=task.M,
        winner=verified[0] if verified else None,
        runners_up=verified[1:],
        default=default,
        status_counts=dict(counts),
        configs_in_space=report.in_space,
        configs_pruned=report.pruned,
        configs_timed=len(s.results),
        wall_s=round(time.perf_counter() - t0, 3),
    )
