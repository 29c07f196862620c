"""The sweep loop and the per-point measurement, on fakes: saving after a failed point, the
fallback when the interleaved timing fails, the A/A control, shared work (code review of
2026-12-03). Timings are faked where the order of numbers matters: the interpreter's host
clock cannot be trusted to order anything."""

from __future__ import annotations

import pytest
import torch

from generator.bench import plan
from generator.bench import registry as pv
from generator.bench.points import measure_points
from generator.bench.providers.common import info
from generator.bench.run import run_sweep
from generator.data import records
from generator.data.provenance import collect_cpu
from generator.data.records import BenchFile, Ceilings, Origin, Scheme, Status
from generator.measure import timing
from generator.measure.timing import TimingStats

CEILINGS = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)


def _ctx(device: str) -> pv.BenchContext:
    return pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)


def test_a_point_whose_sources_fail_still_lets_the_final_save_happen(tmp_path, device):
    """A point whose operands cannot be made (out of memory) is recorded as an error, and the
    run's rows are saved at the end (the per-point result used to share the name of the
    save-failure flag, so after such a point the final save was skipped)."""
    ctx = _ctx(device)
    real_start = ctx.start

    def start(problem):
        if problem.M == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        real_start(problem)

    ctx.start = start
    points = [plan.SweepPoint(pv.Problem(M=m, N=32, K=64)) for m in (1, 3)]
    result = run_sweep(
        "square",
        points,
        pv.select(["torch-bf16"]),
        ctx,
        collect_cpu(),
        CEILINGS,
        tmp_path,
        replays=1,
        progress=False,
    )
    saved = records.load(result.path, BenchFile)
    by_m = {r.M: r.measurement for r in saved.rows}
    assert by_m[1].status == Status.OK
    assert by_m[3].status == Status.ERROR and "out of memory" in by_m[3].message


# --------------------------------------------------------------------------------------------
# measure_points on fake providers and fake timings


class _Call:
    """One rotated call of a fake provider, tagged with its provider's name (the fake timing
    reads the tag)."""

    def __init__(self, name: str, fn):
        self.name, self.fn = name, fn

    def __call__(self) -> torch.Tensor:
        return self.fn()


def _fake(name: str, origin: Origin = Origin.OURS, work=None, nbytes: int = 1000) -> pv.Provider:
    """A correct bf16 provider (torch.matmul) with calls tagged ``name``; ``work`` makes it
    identical work to another provider with the same value; ``nbytes``: what it reads."""

    def setup(p: pv.Problem, ctx: pv.BenchContext) -> pv.Prepared:
        w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
        x = ctx.x_bf16
        return pv.Prepared([_Call(name, lambda: torch.matmul(x, w.t()))], config=None, work=work)

    return pv.Provider(
        info=info(name, name, "fake provider (test)", Scheme.BF16, origin),
        compute=pv.Compute.BF16,
        setup=setup,
        reference=pv.get("torch-bf16").reference,
        bytes_moved=lambda p, od: nbytes,
    )


US = {"eng-a": 10.0, "ours-b": 8.0, "eng-c": 12.0, "ours-d": 9.0}


@pytest.fixture
def fake_timing(monkeypatch):
    """Timings by tag (``US``); ``bad_together`` tags make an interleaved run raise, and
    ``bad_alone`` tags make the one-alone check raise. Records every interleaved run's tags."""
    state = {"bad_together": set(), "bad_alone": set(), "runs": [], "seeds": []}

    def names(calls) -> str:
        return calls[0].name

    def interleaved(call_sets, on_cuda, max_replays=30, target_us=10_000.0, seed=None):
        tags = [names(c) for c in call_sets]
        state["runs"].append(tags)
        state["seeds"].append(seed)
        if state["bad_together"] & set(tags):
            raise RuntimeError("illegal memory access\nsecond line of the trace")
        out = [TimingStats(US[t], US[t] * 0.99, US[t] * 1.01, 5) for t in tags]
        twin = US[tags[-1]] * 1.004  # the A/A control, 0.4 % apart
        return [*out[:-1], TimingStats(twin, twin, twin, 5)]

    def alone(calls, on_cuda, max_replays=30, target_us=10_000.0):
        if names(calls) in state["bad_alone"]:
            raise RuntimeError("misaligned address")
        return TimingStats(1.0, 1.0, 1.0, 1)

    monkeypatch.setattr(timing, "time_interleaved", interleaved)
    monkeypatch.setattr(timing, "time_calls", alone)
    return state


def _measure(providers, device):
    ctx = _ctx(device)
    problem = pv.Problem(M=2, N=32, K=64)
    ctx.start(problem)
    return dict(
        zip(
            [p.name for p in providers],
            measure_points(providers, problem, ctx, CEILINGS, replays=2),
            strict=True,
        )
    )


def test_the_control_leads_and_every_timed_row_carries_it(fake_timing, device):
    provs = [_fake("ours-b"), _fake("eng-a", Origin.ENGINE), _fake("eng-c", Origin.ENGINE)]
    res = _measure(provs, device)
    assert fake_timing["runs"] == [["eng-a", "ours-b", "eng-c", "eng-a"]]
    # the point's own orders: (B, M, N, K) of the point, not one seed for every point
    assert fake_timing["seeds"] == [timing.order_seed(1, 2, 32, 64)]
    assert {n: r.measurement.latency_us for n, r in res.items()} == {
        "ours-b": 8.0,
        "eng-a": 10.0,
        "eng-c": 12.0,
    }
    (control,) = {r.control.model_dump_json() for r in res.values()}
    c = res["eng-a"].control
    assert c.provider == "eng-a" and c.a_us == 10.0 and c.spread == pytest.approx(0.004)


def test_a_provider_that_fails_the_interleaved_run_is_isolated(fake_timing, device):
    """The fallback: the interleaved run raises, each provider is tried alone, the one that
    fails alone gets its one-line error, the others are timed together again with the A/A
    control still on the engines' kernel (the failed one led before)."""
    fake_timing["bad_together"] = {"eng-a"}
    fake_timing["bad_alone"] = {"eng-a"}
    provs = [_fake("eng-a", Origin.ENGINE), _fake("ours-b"), _fake("eng-c", Origin.ENGINE)]
    res = _measure(provs, device)
    assert fake_timing["runs"][-1] == ["eng-c", "ours-b", "eng-c"]
    bad = res["eng-a"].measurement
    assert bad.status == Status.ERROR and bad.latency_us is None and res["eng-a"].control is None
    assert bad.message == "timing: RuntimeError: misaligned address"
    assert res["ours-b"].measurement.latency_us == 8.0
    assert res["eng-c"].measurement.latency_us == 12.0
    assert res["ours-b"].control.provider == "eng-c" == res["eng-c"].control.provider


def test_a_retry_that_fails_too_marks_its_providers_failed_and_never_raises(fake_timing, device):
    """Every provider runs alone, but together they fail again: each gets a failed row with
    a one-line message (the retry used to run outside the try, so the error escaped)."""
    fake_timing["bad_together"] = {"ours-b"}
    provs = [_fake("eng-a", Origin.ENGINE), _fake("ours-b")]
    res = _measure(provs, device)
    for name in ("eng-a", "ours-b"):
        m = res[name].measurement
        assert m.status == Status.ERROR and m.latency_us is None and res[name].control is None
        assert m.message == "timing: RuntimeError: illegal memory access"


def test_followers_of_a_failed_leader_inherit_no_timing(fake_timing, device):
    """A shared-work group whose leader (the member timed) fails: no member gets a latency
    or a control, the other providers are timed as usual."""
    fake_timing["bad_together"] = fake_timing["bad_alone"] = {"eng-a"}
    provs = [
        _fake("eng-a", Origin.ENGINE, work=("same",)),
        _fake("eng-a2", Origin.ENGINE, work=("same",)),
        _fake("ours-b"),
    ]
    res = _measure(provs, device)
    for name in ("eng-a", "eng-a2"):
        r = res[name]
        assert r.measurement.status == Status.ERROR and r.measurement.latency_us is None
        assert r.gbps is None and r.roofline_pct is None and r.control is None
    assert res["ours-b"].measurement.latency_us == 8.0 and res["ours-b"].control is not None


def test_followers_of_shared_work_get_the_timing_with_their_own_bytes(fake_timing, device):
    """A provider that follows another's timing reads its own bytes (pre-quantized
    activations are fewer bytes): its GB/s and roofline are its own, not the leader's."""
    provs = [
        _fake("eng-a", Origin.ENGINE, work=("same",), nbytes=2_000_000),
        _fake("ours-d", work=("same",), nbytes=1_000_000),
    ]
    res = _measure(provs, device)
    lead, follow = res["eng-a"], res["ours-d"]
    assert follow.same_work_as == "eng-a" and lead.same_work_as is None
    assert follow.measurement.latency_us == lead.measurement.latency_us == 10.0
    assert lead.gbps == pytest.approx(2_000_000 / (10.0 * 1e3))
    assert follow.gbps == pytest.approx(1_000_000 / (10.0 * 1e3))
    assert follow.roofline_pct < lead.roofline_pct
    assert follow.control == lead.control is not None


# --------------------------------------------------------------------------------------------
# the context and resume


def test_a_failed_weight_generation_leaves_no_stale_shape(device, monkeypatch):
    """Making the weights of a new shape fails (out of memory): the next start at the old
    shape makes its weights again instead of matching a shape whose tensors are gone."""
    from generator.bench import context

    ctx = _ctx(device)
    a, b = pv.Problem(M=1, N=32, K=64), pv.Problem(M=1, N=64, K=64)
    ctx.start(a)
    real = context._spread_randn

    def fails(shape, g, dev):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    monkeypatch.setattr(context, "_spread_randn", fails)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        ctx.start(b)
    monkeypatch.setattr(context, "_spread_randn", real)
    ctx.start(a)
    assert ctx.w is not None and tuple(ctx.w.shape) == (32, 64)
    assert ctx.bias is not None and tuple(ctx.bias.shape) == (32,)


def test_resume_counts_only_rows_of_this_runs_timing_method(tmp_path, device):
    """--resume skips a point only where its rows were timed the way this run times: rows of
    another method are measured again (and replaced), never kept as done."""
    chosen = pv.select(["torch-bf16"])
    points = [plan.SweepPoint(pv.Problem(M=m, N=32, K=64)) for m in (1, 3)]
    one_commit = collect_cpu().model_copy(update={"git_sha": "c" * 40})
    old = one_commit.model_copy(update={"method": "host clock, one replay (old)"})
    new = one_commit.model_copy(update={"method": "cuda graphs (this run)"})

    def sweep(prov, pts, resume):
        return run_sweep(
            "square",
            pts,
            chosen,
            _ctx(device),
            prov,
            CEILINGS,
            tmp_path,
            replays=1,
            resume=resume,
            progress=False,
        )

    sweep(old, points[:1], False)  # M = 1 timed the old way
    sweep(new, points[1:], False)  # M = 3 timed this way
    resumed = sweep(new, points, True)
    assert resumed.skipped == 1 and resumed.measured == 1
    saved = records.load(resumed.path, BenchFile)
    assert {r.M: r.provenance.method for r in saved.rows} == {1: new.method, 3: new.method}


def test_resume_measures_again_rows_of_another_commit_and_whole_points(tmp_path, device):
    """--resume keeps a point only where every provider asked has rows of this code version:
    rows of an earlier commit (another tuned file, other code) are measured again, and a point
    with one provider missing is measured again for all of them, so a point's providers always
    come from one run on the same operands (issue 22)."""
    bf16, default = pv.get("torch-bf16"), pv.get("triton-fp8-block-default")
    points = [plan.SweepPoint(pv.Problem(M=m, N=32, K=64)) for m in (1, 3, 5)]
    before = collect_cpu().model_copy(update={"git_sha": "1" * 40})
    now = collect_cpu().model_copy(update={"git_sha": "2" * 40})

    def sweep(prov, pts, chosen, resume):
        return run_sweep(
            "square", pts, chosen, _ctx(device), prov, CEILINGS, tmp_path,
            replays=1, resume=resume, progress=False,
        )  # fmt: skip

    sweep(before, points[:1], [bf16, default], False)  # M = 1: an earlier commit
    sweep(now, points[1:2], [bf16], False)  # M = 3: this commit, one provider of two
    sweep(now, points[2:], [bf16, default], False)  # M = 5: this commit, both providers
    # the machine that measured M = 5 knew its commit by the abbreviated sha: the same version
    resumed = sweep(now.model_copy(update={"git_sha": "2" * 7}), points, [bf16, default], True)
    assert resumed.skipped == 2 and resumed.measured == 4
    saved = records.load(resumed.path, BenchFile)
    sha = {(r.provider, r.M): r.provenance.git_sha for r in saved.rows}
    assert sha[bf16.name, 1] == sha[default.name, 1] == "2" * 7  # re-measured
    assert sha[bf16.name, 3] == sha[default.name, 3] == "2" * 7  # the whole point
    assert sha[bf16.name, 5] == sha[default.name, 5] == "2" * 40  # kept


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("92c81c9", "92c81c9" + "0" * 33, True),
        ("92c81c9" + "0" * 33, "92c81c9", True),
        ("92c81c9", "92c81ca" + "0" * 33, False),
        ("92c81c", "92c81c9" + "0" * 34, False),  # too short to name a commit
        ("92c81c9-dirty", "92c81c9-dirty", True),
        ("92c81c9-dirty", "92c81c9", False),
        ("unknown", "unknown", False),
    ],
)
def test_same_commit(a, b, same):
    from generator.data.provenance import same_commit

    assert same_commit(a, b) is same


def test_a_provider_that_skips_part_of_its_output_is_caught_on_the_poisoned_buffer(device):
    """The output a call writes comes from its set, poisoned (``BenchContext.rotate``): a
    kernel that leaves one row unwritten is incorrect, even right after a correct provider
    wrote the same result (the buffers are never shared)."""

    def setup(p: pv.Problem, ctx: pv.BenchContext) -> pv.Prepared:
        w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))
        template = torch.empty((p.M, p.N), dtype=torch.bfloat16, device=ctx.device)

        def run(x: torch.Tensor, w: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
            out[1:] = torch.matmul(x[1:], w.t())  # row 0 never written
            return out

        sets = ctx.rotate((ctx.x_bf16, w), 1000, written=(template,))
        return pv.Prepared([lambda s=s: run(*s) for s in sets])

    lazy = pv.Provider(
        info=info("lazy", "lazy", "fake provider skipping a row (test)", Scheme.BF16, Origin.OURS),
        compute=pv.Compute.BF16,
        setup=setup,
        reference=pv.get("torch-bf16").reference,
        bytes_moved=lambda p, od: 1000,
    )
    ctx = _ctx(device)
    problem = pv.Problem(M=3, N=32, K=64)
    ctx.start(problem)
    good, bad = measure_points([pv.get("torch-bf16"), lazy], problem, ctx, CEILINGS, replays=1)
    assert good.measurement.status == Status.OK
    assert bad.measurement.status == Status.INCORRECT
    assert bad.measurement.message == "output has NaN/inf"
