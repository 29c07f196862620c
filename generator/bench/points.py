"""Measure providers at one point: check each against its fp32 reference, time the correct.

Per point, every provider derives its operands from the same source tensors
(``context.BenchContext``); each is first run once and checked against the fp32 reference of
its own operands (``kernels.reference.relative_error`` under ``tolerance(out dtype)``); only
the correct providers are timed, together (CUDA-graph replays over L2-rotated inputs,
interleaved between providers so every one sees the same GPU conditions,
``generator.measure.timing``). A wrong result is "incorrect" with its error and no latency, so
it can never show up as fast; exceptions become "unsupported" (the library refused, or no tuned
config), "out_of_resources", "compile_error" or "error", with a one-line message. Nothing a
provider does stops the sweep.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from generator.bench import requirements
from generator.bench.context import BenchContext
from generator.bench.problem import Problem
from generator.bench.provider import Prepared, Provider, Unsupported
from generator.data.records import AAControl, Ceilings, Measurement, Origin, Status
from generator.measure import timing
from generator.measure.ceilings import compute_ceiling_tflops, roofline_pct
from kernels.reference import relative_error, tolerance

DEFAULT_REPLAYS = 20
MESSAGE_CHARS = 300


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:MESSAGE_CHARS]


def classify_exception(exc: BaseException, provider: Provider) -> Status:
    """Status of a failed provider run (see module doc)."""
    from triton.compiler.errors import CompilationError
    from triton.runtime.errors import OutOfResources

    if isinstance(exc, Unsupported):
        return Status.UNSUPPORTED
    if isinstance(exc, OutOfResources):
        return Status.OUT_OF_RESOURCES
    if isinstance(exc, CompilationError):
        return Status.COMPILE_ERROR
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return Status.ERROR
    if provider.library and isinstance(exc, (RuntimeError, NotImplementedError, ValueError)):
        return Status.UNSUPPORTED
    return Status.ERROR


@dataclass
class PointResult:
    measurement: Measurement
    gbps: float | None = None
    roofline_pct: float | None = None
    same_work_as: str | None = None  # the provider whose identical work was timed for this one
    control: AAControl | None = None  # the point's A/A control (set on every timed result)


@contextlib.contextmanager
def full_precision_reductions():
    """cuBLAS may reduce split-K partial sums in bf16/fp16 by default; that alone can push a
    bf16 GEMM at small M and large K past the bf16 tolerance, flagging the baseline as wrong.
    Benchmarks run with fp32 reductions (a negligible cost: the reduction is tiny)."""
    m = torch.backends.cuda.matmul
    prev = (m.allow_bf16_reduced_precision_reduction, m.allow_fp16_reduced_precision_reduction)
    m.allow_bf16_reduced_precision_reduction = False
    m.allow_fp16_reduced_precision_reduction = False
    try:
        yield
    finally:
        m.allow_bf16_reduced_precision_reduction, m.allow_fp16_reduced_precision_reduction = prev


def _sync(ctx: BenchContext) -> None:
    if ctx.on_cuda:
        torch.cuda.synchronize(ctx.device)


@dataclass
class _Checked:
    """A provider that ran correctly once on this problem, ready to be timed."""

    provider: Provider
    prepared: Prepared
    err: float


def _check(provider: Provider, problem: Problem, ctx: BenchContext) -> PointResult | _Checked:
    """Set up ``provider`` and check its first output against its fp32 reference: a failed
    :class:`PointResult`, or what to time."""
    unmet = requirements.unmet(provider, ctx)
    if unmet:
        return PointResult(Measurement(status=Status.UNSUPPORTED, message=unmet))
    config = None
    try:
        prepared = provider.setup(problem, ctx)
        config = prepared.config
        ctx.repoison()  # the written buffers are shared: not another provider's result
        out = prepared.calls[0]()
        _sync(ctx)
        ref = ctx.reference_of(provider.reference, problem)
        if tuple(out.shape) != tuple(ref.shape):
            message = f"output shape {tuple(out.shape)} != expected {tuple(ref.shape)}"
            return PointResult(Measurement(config=config, status=Status.INCORRECT, message=message))
        err = relative_error(out, ref)
        tol = tolerance(out.dtype)
        del out, ref
    except Exception as exc:  # noqa: BLE001 - every failure becomes a status, never a crash
        return PointResult(
            Measurement(
                config=config, status=classify_exception(exc, provider), message=one_line(exc)
            )
        )
    finite = math.isfinite(err)
    if not (finite and err <= tol):
        why = f"relative error {err:.3g} > tolerance {tol:.3g}" if finite else "output has NaN/inf"
        return PointResult(
            Measurement(
                config=config,
                status=Status.INCORRECT,
                rel_error=err if finite else None,
                message=why,
            )
        )
    return _Checked(provider, prepared, err)


def _timed(
    c: _Checked,
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    stats: timing.TimingStats,
) -> PointResult:
    provider = c.provider
    flops = provider.flops(problem)
    nbytes = provider.bytes_moved(problem, ctx.out_dtype)
    latency_us = stats.median_us
    meas = Measurement(
        config=c.prepared.config,
        status=Status.OK,
        latency_us=latency_us,
        p20_us=stats.p20_us,
        p80_us=stats.p80_us,
        tflops=timing.tflops(flops, latency_us),
        rel_error=c.err,
    )
    pct = None
    if ceilings is not None:
        pct = roofline_pct(
            latency_us,
            flops,
            nbytes,
            compute_ceiling_tflops(ceilings, provider.compute.value),
            ceilings.copy_gbps,
        )
    return PointResult(meas, gbps=nbytes / (latency_us * 1e3), roofline_pct=pct)


def _timing_failed(c: _Checked, exc: BaseException) -> PointResult:
    return PointResult(
        Measurement(
            config=c.prepared.config,
            status=classify_exception(exc, c.provider),
            rel_error=c.err,
            message="timing: " + one_line(exc),
        )
    )


def _sync_quietly(ctx: BenchContext) -> None:
    try:
        _sync(ctx)
    except Exception:  # noqa: BLE001 - a failed kernel may leave an error to clear
        pass


def _time_together(
    ready: list[_Checked],
    ctx: BenchContext,
    replays: int,
    point_key: tuple[int, ...],
) -> tuple[dict[int, timing.TimingStats | PointResult], AAControl | None]:
    """Time the checked providers interleaved, with one more candidate: a twin of the first
    (the A/A control). Returns, by id, each provider's stats or its failed result, and the
    control (None if nothing could be timed). A provider whose timing fails is isolated by
    timing each once alone, and the others are timed together again without it, the control's
    provider leading again (:func:`_control_first`); if that run fails too, its providers get
    its one-line error. Never raises, except KeyboardInterrupt."""
    try:
        return _timed_all(ready, ctx, replays, point_key)
    except Exception:  # noqa: BLE001
        _sync_quietly(ctx)
    results: dict[int, timing.TimingStats | PointResult] = {}
    good = []
    for c in ready:
        try:
            timing.time_calls(c.prepared.calls, ctx.on_cuda, 1)
            good.append(c)
        except Exception as exc:  # noqa: BLE001
            _sync_quietly(ctx)
            results[id(c)] = _timing_failed(c, exc)
    control = None
    if good:
        good = _control_first(good)
        try:
            timed, control = _timed_all(good, ctx, replays, point_key)
            results.update(timed)
        except Exception as exc:  # noqa: BLE001 - each ran alone, together they do not
            _sync_quietly(ctx)
            results.update({id(c): _timing_failed(c, exc) for c in good})
    return results, control


def _timed_all(
    ready: list[_Checked],
    ctx: BenchContext,
    replays: int,
    point_key: tuple[int, ...],
) -> tuple[dict[int, timing.TimingStats | PointResult], AAControl | None]:
    """``ready`` and a twin of ``ready[0]`` timed in one interleaved run (raises if one
    fails): the stats by id and the A/A control. The orders are the point's own
    (``timing.order_seed`` of ``point_key``: every point its own balanced orders)."""
    call_sets = [c.prepared.calls for c in ready]
    stats = timing.time_interleaved(
        [*call_sets, call_sets[0]], ctx.on_cuda, replays, seed=timing.order_seed(*point_key)
    )
    results: dict[int, timing.TimingStats | PointResult] = {
        id(c): st for c, st in zip(ready, stats, strict=False)
    }
    a, b = stats[0].median_us, stats[-1].median_us
    ok = a > 0 and b > 0
    control = AAControl(provider=ready[0].provider.name, a_us=a, b_us=b) if ok else None
    return results, control


def _control_first(reps: list[_Checked]) -> list[_Checked]:
    """The candidates with the A/A control's provider first: the first Triton kernel the
    engines run (the comparisons the catalog draws are between its config tables), else the
    first candidate."""
    engine = [c for c in reps if c.provider.info.origin == Origin.ENGINE]
    first = engine[0] if engine else reps[0]
    return [first, *(c for c in reps if c is not first)]


def measure_points(
    providers: Sequence[Provider],
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    replays: int = DEFAULT_REPLAYS,
) -> list[PointResult]:
    """Check every provider on the current problem of ``ctx`` (``ctx.start(problem)`` first),
    then time the correct ones *interleaved* (``timing.time_interleaved``: the same conditions
    for all, so their ratios are not the GPU's drift); never raises, except KeyboardInterrupt.

    Identical work (equal ``Prepared.work``) is timed once: the first provider that declares it
    is timed, the others get its timing with ``same_work_as`` naming it (their GB/s and roofline
    from their own bytes: a provider that reads pre-quantized activations moves fewer), or its
    failure, never a time, where its timing failed. One candidate is timed
    twice, as two graphs of the same calls: the point's A/A control, stored with every timed
    result. See the module doc for the statuses."""
    with full_precision_reductions():
        checked = [_check(p, problem, ctx) for p in providers]
        ready = [c for c in checked if isinstance(c, _Checked)]
        groups: dict[object, list[_Checked]] = {}
        for c in ready:
            key = c.prepared.work if c.prepared.work is not None else ("provider", id(c))
            groups.setdefault(key, []).append(c)
        timed: dict[int, timing.TimingStats | PointResult] = {}
        control = None
        if ready:
            reps = _control_first([g[0] for g in groups.values()])
            key = (problem.B, problem.M, problem.N, problem.K)
            timed, control = _time_together(reps, ctx, replays, key)
        out: dict[int, PointResult] = {}
        for group in groups.values():
            leader = group[0]
            outcome = timed[id(leader)]
            for c in group:
                if isinstance(outcome, timing.TimingStats):
                    # the leader's timing, with this provider's own bytes, flops and error
                    result = _timed(c, problem, ctx, ceilings, outcome)
                    result.control = control
                else:  # the leader's timing failed: the failure, never a time
                    update = {"rel_error": c.err, "config": c.prepared.config}
                    result = replace(
                        outcome, measurement=outcome.measurement.model_copy(update=update)
                    )
                if c is not leader:
                    result.same_work_as = leader.provider.name
                out[id(c)] = result
        return [out[id(c)] if isinstance(c, _Checked) else c for c in checked]


def measure_point(
    provider: Provider,
    problem: Problem,
    ctx: BenchContext,
    ceilings: Ceilings | None,
    replays: int = DEFAULT_REPLAYS,
) -> PointResult:
    """:func:`measure_points` for one provider."""
    return measure_points([provider], problem, ctx, ceilings, replays)[0]
