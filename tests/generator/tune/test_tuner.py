"""The tuner on CPU: search space and pruning, per-task tuning with verification, the merging
writer, resume, the CLI's errors, and the local multi-process and Ray backends (interpreter,
tiny shapes)."""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import torch

from generator.cli import main as cli_main
from generator.configs.kernel_table import SPACES
from generator.configs.spaces import Problem, smem_estimate
from generator.configs.spaces import w8a8_block as space
from generator.configs.spaces.w8a8_block import full_space
from generator.data.lookup import tune_file_path
from generator.data.provenance import collect_cpu
from generator.data.records import SEARCH_CURRENT, Status, TuneFile, load
from generator.data.tasks import Task
from generator.errors import UserError
from generator.tune import cli as tune_cli
from generator.tune import strategy
from generator.tune.baselines import Baseline
from generator.tune.dispatch import TaskOutcome, run_local
from generator.tune.plan import build_tasks
from generator.tune.search import TuneOptions, tune_task
from generator.tune.store import finished_tasks, merge_result
from generator.tune.tunables import TUNABLES, W8A8Block, registry


def prune(configs, problem, exhaustive=False):
    """The drop-in kernel's space's pruning over ``configs``."""
    return space.SPACE.prune(problem, exhaustive, configs)


TINY = dict(
    kernel="w8a8_block",
    input_type="fp8",
    out_dtype="bfloat16",
    block_n=128,
    block_k=128,
    N=48,
    K=256,
    B=1,
)


def tiny_task(M: int, **kw) -> Task:
    return Task(**{**TINY, **kw, "M": M})


# --- space ----------------------------------------------------------------------------------


def test_full_space_is_vllms_1280_configs():
    configs = full_space()
    assert len(configs) == 1280
    assert len({tuple(sorted(c.items())) for c in configs}) == 1280
    expected = set(
        itertools.product(
            space.BLOCK_M, space.BLOCK_N, space.BLOCK_K, space.GROUPS, space.WARPS, space.STAGES
        )
    )
    got = {
        (
            c["BLOCK_SIZE_M"],
            c["BLOCK_SIZE_N"],
            c["BLOCK_SIZE_K"],
            c["GROUP_SIZE_M"],
            c["num_warps"],
            c["num_stages"],
        )
        for c in configs
    }
    assert got == expected


@pytest.mark.parametrize("M", [1, 16, 200, 4096])
def test_pruning_rules_hold_for_every_survivor(M):
    p = Problem(M=M, N=4608, K=7168, block_k=128)
    kept, report = prune(full_space(), p)
    exhaustive, _ = prune(full_space(), p, exhaustive=True)
    assert 0 < len(kept) < len(exhaustive) < 1280
    assert report.in_space == 1280 and report.pruned == 1280 - len(kept)
    keys = {tuple(sorted(c.items())) for c in kept}
    assert keys <= {tuple(sorted(c.items())) for c in exhaustive}
    for c in kept:
        assert 128 % c["BLOCK_SIZE_K"] == 0
        assert smem_estimate(c, p) <= p.smem_bytes
    # No "8 warps on a small tile" rule: exhaustive search found such configs fastest at M = 1
    # on long-K weights (H200), so the refine pass must be able to reach them.
    if M == 1:
        assert any(c["num_warps"] == 8 and c["BLOCK_SIZE_M"] == 16 for c in kept)
    if M == 1:  # one tile row: every GROUP_SIZE_M is equivalent, only one survives per config
        assert {c["GROUP_SIZE_M"] for c in kept} == {1}
        assert max(c["BLOCK_SIZE_M"] for c in kept) == 64


def test_shared_memory_rule_removes_what_cannot_launch():
    p = Problem(M=4096, N=4096, K=4096, smem_bytes=100_000)
    kept, report = prune(full_space(), p, exhaustive=True)
    assert report.removed["shared memory"] > 0
    assert all(smem_estimate(c, p) <= 100_000 for c in kept)


def test_block_k_rule_with_block_64():
    kept, report = prune(full_space(), Problem(M=64, N=512, K=512, block_k=64), exhaustive=True)
    assert {c["BLOCK_SIZE_K"] for c in kept} == {64}
    assert report.removed["BLOCK_SIZE_K does not divide block_k"] == 640


def test_coarse_pass_has_one_config_per_tile():
    kept, _ = prune(full_space(), Problem(M=256, N=4096, K=7168))
    reps = strategy.coarse_representatives(kept)
    tiles = [strategy.tile_of(c) for c in reps]
    assert len(tiles) == len(set(tiles)) == len({strategy.tile_of(c) for c in kept})


@pytest.mark.parametrize("M", [256, 1024, 4096])
def test_coarse_and_refine_passes_time_tiles_at_a_grouping_that_reuses_l2(M):
    """At large M a tile is judged at GROUP_SIZE_M 16 (or the grouping nearest it that survives
    deduplication), never at group 1, which re-streams a wide weight once per tile row."""
    kept, _ = prune(full_space(), Problem(M=M, N=24576, K=7168))
    for cfg in strategy.coarse_representatives(kept):
        rows = -(-M // cfg["BLOCK_SIZE_M"])
        assert cfg["GROUP_SIZE_M"] == (16 if rows >= 16 else cfg["GROUP_SIZE_M"]), cfg
        assert rows == 1 or cfg["GROUP_SIZE_M"] > 1, cfg
    refined = strategy.refine_neighbours(kept, [(64, 128, 128)])
    assert refined and {c["GROUP_SIZE_M"] for c in refined} == {16}


def test_one_tile_row_keeps_group_one():
    kept, _ = prune(full_space(), Problem(M=1, N=7168, K=2048))
    assert {c["GROUP_SIZE_M"] for c in strategy.coarse_representatives(kept)} == {1}


# --- tuning one task ------------------------------------------------------------------------


def test_a_kernels_own_space_and_knobs_survive_pruning_and_refinement():
    """The Gluon kernel searches its own space; its extra knobs (LAG, ORDERED) are neither
    merged as duplicates by the pruning nor dropped by the refinement pass."""
    from generator.tune.search import candidates_for
    from generator.tune.tunables import get_tunable

    task = Task(
        kernel="w8a8_block_gluon",
        input_type="fp8",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=7168,
        K=2304,
        B=1,
        M=4096,
    )
    assert get_tunable("w8a8_block_gluon").space is not space.SPACE
    kept, _ = candidates_for(task, "cpu", exhaustive=False)
    assert len(kept) == len(get_tunable("w8a8_block_gluon").space.configs())
    refined = strategy.refine_neighbours(kept, [(128, 128, 128)])
    assert {(c["LAG"], c["ORDERED"]) for c in refined} == {
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    }
    assert len(strategy.refine_neighbours(full_space(), [(64, 128, 128)])) == 8  # warps x stages


def test_decode_space_is_valid_and_keeps_its_split_k_choices():
    """Every config of the decode kernel's own space passes its wrapper's validation, and at
    M = 1 the pruning keeps each SPLIT_K choice (auto included) of the 16-token tiles: the
    decode space has hard rules only (vLLM's "8 warps on a small tile" used to remove 60 of its
    configs here)."""
    from generator.configs.spaces.decode import SPACE, decode_space
    from generator.tune.search import candidates_for
    from generator.tune.tunables import get_tunable
    from kernels.w8a8_block_decode import _validate

    for cfg in decode_space():
        _validate(cfg, 128)
    assert get_tunable("w8a8_block_decode").space is SPACE
    task = Task(
        kernel="w8a8_block_decode",
        input_type="fp8",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=4608,
        K=7168,
        B=1,
        M=1,
    )
    kept, report = candidates_for(task, "cpu", exhaustive=False)
    assert report.in_space == len(decode_space()) > len(kept)
    assert set(report.removed) == {"shared memory"}  # no rule of another kernel's space
    splits = {
        c.get("SPLIT_K")
        for c in kept
        if c["BLOCK_SIZE_M"] == 16 and c["BLOCK_SIZE_N"] == 256 and c["num_stages"] == 6
    }
    assert splits == {None, 2, 4, 8, 16}
    assert {c["BLOCK_SIZE_M"] for c in kept} == {16, 64}
    assert any(c["num_warps"] == 8 and c["BLOCK_SIZE_M"] == 16 for c in kept)


@pytest.mark.parametrize(
    "kernel", ["w8a8_block_gluon", "w8a8_block_decode", "a16w8_batched_swapped"]
)
@pytest.mark.parametrize("M", [1, 16, 4096])
def test_own_spaces_lose_configs_only_to_hard_rules(kernel, M):
    """A kernel with its own space is never pruned by the drop-in kernel's soft rules: the
    pruned and the exhaustive tiers are the same (the Gluon kernel's 48 configs all survive at
    M <= 16, where vLLM's "BLOCK_SIZE_M far from M" used to remove every one)."""
    from generator.tune.search import candidates_for

    B = 16 if kernel.startswith("a16w8") else 1
    task = Task(kernel, "bf16" if B > 1 else "fp8", "bfloat16", 128, 128, 512, 512, B, M)
    pruned, report = candidates_for(task, "cpu", exhaustive=False)
    exhaustive, _ = candidates_for(task, "cpu", exhaustive=True)
    assert pruned == exhaustive and pruned
    hard = {"shared memory", "BLOCK_SIZE_K does not divide block_k", "equivalent GROUP_SIZE_M"}
    assert set(report.removed) <= hard


def test_group_variants_match_configs_with_and_without_an_optional_key():
    """A space may omit a key (SPLIT_K: chosen at launch); the group pass compares whole
    configs, so it neither fails on the missing key nor mixes the two kinds."""
    base = {
        "BLOCK_SIZE_M": 16,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "num_warps": 4,
        "num_stages": 3,
    }
    cands = [
        {**base, "GROUP_SIZE_M": g, **split} for g in (1, 16) for split in ({}, {"SPLIT_K": 4})
    ]
    best = {**base, "GROUP_SIZE_M": 1, "SPLIT_K": 4}
    assert strategy.group_variants(cands, best) == [{**base, "GROUP_SIZE_M": 16, "SPLIT_K": 4}]
    assert strategy.group_variants(cands, {**base, "GROUP_SIZE_M": 1}) == [
        {**base, "GROUP_SIZE_M": 16}
    ]


def test_tune_task_verifies_winner_and_times_default():
    rec = tune_task(tiny_task(5), TuneOptions(device="cpu", max_replays=1))
    assert rec.winner is not None and rec.winner.status == Status.OK
    assert rec.winner.rel_error is not None and rec.winner.rel_error < 5e-3
    assert rec.default.status == Status.OK and rec.default.rel_error is not None
    assert rec.configs_timed == sum(rec.status_counts.values()) >= 2
    assert rec.configs_pruned + len(prune(full_space(), Problem(5, 48, 256))[0]) == 1280
    ups = [m.latency_us for m in rec.runners_up]
    assert ups == sorted(ups)  # the winner is decided by the runoff: it need not sort first
    if rec.winner_source == "search":
        assert set(rec.runoff_us) <= {"search", "vllm-default", "sglang-default"}
    else:
        assert rec.winner.config == rec.baselines[rec.winner_source].config


@pytest.fixture
def broken_tunable(monkeypatch):
    """The drop-in kernel, except that configs with BLOCK_SIZE_M 16 return wrong numbers (and
    return them fastest, so they rank first and must be caught by verification) and those with
    BLOCK_SIZE_M 32 raise: both must be recorded and never win."""

    class Broken(W8A8Block):
        name = "broken_for_test"
        space = SPACES["w8a8_block"]  # a test kernel: in no kernel table, publishes nothing
        engine_files = ()

        def run(self, task, ops, cfg, out):
            if cfg["BLOCK_SIZE_M"] == 32:
                raise RuntimeError("simulated launch failure")
            if cfg["BLOCK_SIZE_M"] == 16:
                return out.fill_(1.0)
            return super().run(task, ops, cfg, out)

    t = Broken()
    monkeypatch.setitem(TUNABLES, t.name, t)
    return t


def test_wrong_or_failing_configs_are_recorded_never_published(broken_tunable):
    rec = tune_task(
        tiny_task(3, kernel=broken_tunable.name), TuneOptions(device="cpu", max_replays=1)
    )
    assert rec.winner is not None and rec.winner.config["BLOCK_SIZE_M"] == 64
    assert all(m.config["BLOCK_SIZE_M"] == 64 for m in rec.runners_up)
    assert rec.status_counts.get(Status.INCORRECT, 0) >= 1
    assert rec.status_counts.get(Status.ERROR, 0) >= 1


def test_a_pass_times_only_the_configs_that_launch_together(broken_tunable, monkeypatch):
    """Configs that raise at launch (BLOCK_SIZE_M 32) get their status from one launch alone;
    every other config of a pass is timed in one ``time_pass`` call of at most PASS_SIZE, and
    none alone."""
    from generator.measure import timing
    from generator.tune import search

    passes, alone = [], []

    def pass_(call_sets, *a, **kw):
        passes.append([c[0].args[2]["BLOCK_SIZE_M"] for c in call_sets])
        return timing.time_pass(call_sets, *a, **kw)

    def one(calls, *a, **kw):
        alone.append(calls[0].args[2])
        return timing.time_calls(calls, *a, **kw)

    monkeypatch.setattr(search, "time_pass", pass_)
    monkeypatch.setattr(search, "time_calls", one)
    rec = tune_task(
        tiny_task(3, kernel=broken_tunable.name), TuneOptions(device="cpu", max_replays=1)
    )
    assert passes and not alone
    assert all(32 not in p and 0 < len(p) <= search.PASS_SIZE for p in passes)
    assert any(len(p) > 1 for p in passes)
    errors = [m for m in rec.runners_up if m.status == Status.ERROR]
    assert not errors and rec.status_counts[Status.ERROR] >= 1


def test_a_pass_replays_as_little_as_the_options_say_and_the_runoff_a_millisecond(monkeypatch):
    """``TuneOptions.pass_min_replay_us`` and ``pass_drop_over`` reach every pass's timing down
    to the graph sizing; the runoff, which decides what is published, keeps the 1 ms replays
    and times every candidate in full."""
    from generator.measure import timing
    from generator.tune import search

    sized = []

    def on_gpu(call_sets, max_replays, target_us, min_replay_us, seed, whole_blocks, drop_over):
        sized.append((whole_blocks, min_replay_us, drop_over))  # what the CUDA timing gets
        return [timing.time_host(c, 1) for c in call_sets]

    monkeypatch.setattr(timing, "time_cuda_graphs_interleaved", on_gpu)
    real = search.time_pass
    monkeypatch.setattr(
        search, "time_pass", lambda sets, on_cuda, *a, **kw: real(sets, True, *a, **kw)
    )
    real_interleaved = search.time_interleaved
    monkeypatch.setattr(
        search,
        "time_interleaved",
        lambda sets, on_cuda, *a, **kw: real_interleaved(sets, True, *a, **kw),
    )
    opts = TuneOptions(device="cpu", max_replays=1, pass_min_replay_us=250.0, pass_drop_over=2.0)
    tune_task(tiny_task(3), opts)
    passes = [(us, drop) for whole, us, drop in sized if not whole]
    runoffs = [(us, drop) for whole, us, drop in sized if whole]
    assert passes and set(passes) == {(250.0, 2.0)}
    assert runoffs and set(runoffs) == {(timing.MIN_REPLAY_US, None)}


def test_the_runoff_times_the_kernel_as_served_and_the_passes_the_kernel_alone(monkeypatch):
    """What decides the published file is timed as the engine runs it (the activation's
    quantization, then the GEMM); the passes, which only rank, time the GEMM alone."""
    from generator.measure import timing
    from generator.tune import search

    paths = []

    def on_gpu(call_sets, max_replays, target_us, min_replay_us, seed, whole_blocks, drop_over):
        names = {calls[0].func.__name__ for calls in call_sets}
        paths.append((whole_blocks, names))
        return [timing.time_host(c, 1) for c in call_sets]

    monkeypatch.setattr(timing, "time_cuda_graphs_interleaved", on_gpu)
    for name in ("time_pass", "time_interleaved"):
        real = getattr(search, name)
        monkeypatch.setattr(
            search, name, lambda sets, on_cuda, *a, _real=real, **kw: _real(sets, True, *a, **kw)
        )
    tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    passes = set().union(*(n for whole, n in paths if not whole))
    runoffs = set().union(*(n for whole, n in paths if whole))
    assert passes == {"run"} and runoffs == {"served"}


@pytest.mark.parametrize("name", ["w8a8_block", "w8a8_block_splitk", "w8a8_block_decode"])
def test_served_is_the_same_product_as_run(name):
    """The served call quantizes the operands' own activation: its result is the kernel's on
    the operands' (A, As), bit for bit, so the runoff times the configs the passes ranked."""
    tunable = TUNABLES[name]
    task = tiny_task(5, kernel=name)
    g = torch.Generator().manual_seed(5)
    ops = tunable.make_operands(task, g, "cpu")
    cfg = tunable.default_config(task)
    ran = tunable.run(task, ops, cfg, torch.full_like(tunable.new_output(task, "cpu"), torch.nan))
    served = tunable.served(
        task, ops, cfg, torch.full_like(tunable.new_output(task, "cpu"), torch.nan)
    )
    assert not ran.isnan().any() and torch.equal(ran, served)


def test_served_quantizes_into_the_sets_own_activation(monkeypatch):
    """The served call writes the quantized activation into the set's (A, As), not into new
    memory (whose one address per graph reordered configs, ``BenchContext.rotate``)."""
    tunable = TUNABLES["w8a8_block"]
    task = tiny_task(5, kernel="w8a8_block")
    ops = tunable.make_operands(task, torch.Generator().manual_seed(5), "cpu")
    A, As = ops["A"].clone(), ops["As"].clone()
    ops["A"].zero_(), ops["As"].fill_(torch.nan)
    seen = []
    real = tunable._gemm
    monkeypatch.setattr(
        tunable, "_gemm", lambda t, a, s, o, c, out: seen.append((a, s)) or real(t, a, s, o, c, out)
    )
    tunable.served(task, ops, tunable.default_config(task), tunable.new_output(task, "cpu"))
    ((a, s),) = seen
    assert a is ops["A"] and s is ops["As"]
    assert torch.equal(a.float(), A.float()) and torch.equal(s, As)


@pytest.mark.parametrize(
    "bad", [{"pass_drop_over": 0.5}, {"pass_drop_over": float("nan")}, {"pass_min_replay_us": 0}]
)
def test_pass_options_out_of_range_are_refused(bad):
    """A drop below 1 would drop every config of a pass and fail it; the tune would then time
    each config alone, quietly: the options are refused instead."""
    with pytest.raises(ValueError, match="pass_"):
        TuneOptions(device="cpu", **bad)


def test_a_pass_that_raises_is_timed_again_config_by_config(monkeypatch):
    """A pass fails as a whole when one of its graphs does (here: a fake pass that raises
    whenever a BLOCK_SIZE_M 64 config is in it); each of its configs is then timed alone, the
    one that fails gets its status and the others their times."""
    from generator.measure.timing import TimingStats
    from generator.tune import search

    def pass_(call_sets, *a, **kw):
        if any(c[0].args[2]["BLOCK_SIZE_M"] == 64 for c in call_sets):
            raise RuntimeError("CUDA error: simulated failure in a captured graph")
        return [TimingStats(5.0, 5.0, 5.0, 5) for _ in call_sets]

    alone = []

    def one(calls, *a, **kw):
        alone.append(calls[0].args[2]["BLOCK_SIZE_M"])
        if calls[0].args[2]["BLOCK_SIZE_M"] == 64:
            raise RuntimeError("CUDA error: simulated failure in a captured graph")
        return TimingStats(7.0, 7.0, 7.0, 5)

    monkeypatch.setattr(search, "time_pass", pass_)
    monkeypatch.setattr(search, "time_calls", one)
    rec = tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    # the configs of every failed pass, 64s and others, were timed alone, none dropped
    assert 64 in alone and set(alone) - {64}
    assert rec.status_counts[Status.ERROR] == alone.count(64)
    # and the configs of passes without one were timed together, not alone
    assert rec.status_counts[Status.OK] > len(alone) - alone.count(64)
    assert rec.winner is not None and rec.winner.config["BLOCK_SIZE_M"] != 64
    assert rec.phase_s["timing_alone"] <= rec.phase_s["timing"]  # the record says so


def test_passes_are_split_evenly_never_leaving_one_config_alone(monkeypatch):
    """With PASS_SIZE 4, a pass of n configs is timed in ceil(n / 4) chunks whose sizes differ
    by at most one (9 configs: 3, 3, 3, not 4, 4, 1)."""
    from generator.tune import search

    assert [len(c) for c in search.even_chunks(list(range(9)), 4)] == [3, 3, 3]
    assert [len(c) for c in search.even_chunks(list(range(33)), 32)] == [17, 16]
    assert [len(c) for c in search.even_chunks(list(range(8)), 4)] == [4, 4]
    assert search.even_chunks([], 4) == []
    sizes = []

    def pass_(call_sets, *a, **kw):
        sizes.append(len(call_sets))
        return [TimingStats(5.0, 5.0, 5.0, 5) for _ in call_sets]

    from generator.measure.timing import TimingStats

    monkeypatch.setattr(search, "PASS_SIZE", 4)
    monkeypatch.setattr(search, "time_pass", pass_)
    rec = tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    assert "timing_alone" not in rec.phase_s  # no pass failed: none timed alone
    assert sizes and max(sizes) <= 4
    assert any(s > 1 for s in sizes)
    coarse = sizes[: -(-12 // 4)]  # the tiny task's coarse pass: 12 tile shapes, 3 chunks
    assert coarse == [4, 4, 4]


def test_a_failed_pass_is_released_before_its_configs_are_timed_alone(monkeypatch):
    """The failed pass's graphs (here: an object held by the raising frame) are freed before
    the configs are timed one by one: while its traceback lived they held their pool's
    memory, and the configs timed alone could run out of it."""
    import weakref

    from generator.measure.timing import TimingStats
    from generator.tune import search

    class Graphs:
        pass

    held: list[weakref.ref] = []
    alive_when_alone: list[bool] = []

    def pass_(call_sets, *a, **kw):
        graphs = Graphs()  # what _interleave's frame holds when a replay raises
        held.append(weakref.ref(graphs))
        raise RuntimeError("CUDA error: out of memory")

    def one(calls, *a, **kw):
        alive_when_alone.append(any(ref() is not None for ref in held))
        return TimingStats(7.0, 7.0, 7.0, 5)

    monkeypatch.setattr(search, "time_pass", pass_)
    monkeypatch.setattr(search, "time_calls", one)
    tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    assert alive_when_alone and not any(alive_when_alone)


def test_registry_rejects_duplicate_names():
    with pytest.raises(ValueError, match="already registered"):
        registry(W8A8Block(), W8A8Block())


def test_only_the_drop_in_and_a16w8_kernels_publish_tables():
    """Which tunable writes which published tables is declared once, in the kernel table
    (nothing downstream branches on a kernel's name); variants of the drop-in kernel write
    none."""
    published = {name: [f.value for f in t.engine_files] for name, t in TUNABLES.items()}
    assert published == {
        "w8a8_block": ["vllm", "sglang"],
        "a16w8_batched": ["a16w8"],
        "w8a8_block_splitk": [],
        "w8a8_block_decode": [],
        "w8a8_block_persistent": [],
        "w8a8_block_gluon": [],
        "a16w8_batched_swapped": [],
    }


# --- the writer: merge, atomic files, resume ------------------------------------------------


def _record(M: int):
    return tune_task(tiny_task(M), TuneOptions(device="cpu", max_replays=1))


def test_results_from_several_workers_merge_into_one_file(tmp_path):
    prov = collect_cpu()
    recs = {M: _record(M) for M in (1, 20)}
    # two "workers" finish in reverse order; both batch sizes must survive
    merge_result(tmp_path, prov, tiny_task(20), recs[20], exhaustive=False)
    merge_result(tmp_path, prov, tiny_task(1), recs[1], exhaustive=False)
    tf = load(tune_file_path(tmp_path, prov.device_name, tiny_task(1), False), TuneFile)
    assert [r.M for r in tf.records] == [1, 20]
    vllm = tmp_path / "devices/CPU_INTERPRETER/configs/vllm"
    (name,) = [p.name for p in vllm.iterdir()]
    assert name == (
        "N=48,K=256,device_name=CPU_INTERPRETER,dtype=fp8_w8a8,block_shape=[128,128].json"
    )
    table = json.loads((vllm / name).read_text())
    assert list(table) == ["1", "20"]
    assert table["1"] == recs[1].winner.config
    assert list(table["1"]) == [
        "BLOCK_SIZE_M",
        "BLOCK_SIZE_N",
        "BLOCK_SIZE_K",
        "GROUP_SIZE_M",
        "num_warps",
        "num_stages",
    ]
    sglang = tmp_path / "devices/CPU_INTERPRETER/configs/sglang"
    assert [p.name for p in sglang.iterdir()] == [name.replace("[128,128]", "[128, 128]")]
    assert finished_tasks(tmp_path, prov.device_name, [tiny_task(1), tiny_task(7)], False) == {
        tiny_task(1)
    }
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_rerun_keeps_exhaustive_records_of_a_search_that_changed_only_the_runoff(tmp_path):
    """Search 8 changed only the runoff, which the exhaustive search does not have: its
    records of search 7 are current (a resumed pruning check keeps them), while pruned
    records of search 7 and exhaustive ones of search 6 are tuned again."""
    from generator.data.records import EXHAUSTIVE_SEARCH_SINCE, SEARCH_V6, SEARCH_V7

    assert EXHAUSTIVE_SEARCH_SINCE == SEARCH_V7 < SEARCH_CURRENT
    prov = collect_cpu()
    rec = _record(1)
    for M, search in ((1, SEARCH_V7), (7, SEARCH_V6)):
        old = rec.model_copy(update={"M": M, "search": search})
        for exhaustive in (False, True):
            merge_result(tmp_path, prov, tiny_task(M), old, exhaustive=exhaustive)
    tasks = [tiny_task(1), tiny_task(7)]
    assert finished_tasks(tmp_path, prov.device_name, tasks, True) == {tiny_task(1)}
    assert finished_tasks(tmp_path, prov.device_name, tasks, False) == set()


def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    prov = collect_cpu()
    rec = _record(1)
    path = merge_result(tmp_path, prov, tiny_task(1), rec, exhaustive=False)
    before = path.read_bytes()

    def killed(*_a, **_k):
        raise KeyboardInterrupt("killed at the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt, match="^killed at the rename$"):
        merge_result(tmp_path, prov, tiny_task(20), _record(20), exhaustive=False)
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- backends -------------------------------------------------------------------------------


def test_local_backend_two_workers_lose_nothing(tmp_path):
    tasks = [tiny_task(m) for m in (1, 2, 17, 33)]
    got: list[TaskOutcome] = []
    left = run_local(
        tasks,
        TuneOptions(device="cpu", max_replays=1),
        workers=2,
        compile_workers=0,
        on_outcome=got.append,
    )
    assert left == 0
    assert sorted(o.task.M for o in got) == [1, 2, 17, 33]
    assert all(o.record is not None and o.record.winner is not None for o in got)
    assert {o.worker for o in got} <= {"worker0", "worker1"}


@pytest.mark.ray
def test_ray_backend_on_local_instance(tmp_path):
    pytest.importorskip("ray", reason="the optional ray extra is not installed")
    code = cli_main(
        [
            "tune",
            "--N",
            "48",
            "--K",
            "256",
            "--batch-sizes",
            "1,9",
            "--kernels",
            "w8a8_block",
            "--backend",
            "ray",
            "--allow-cpu",
            "--save-path",
            str(tmp_path),
        ]
    )
    assert code == 0
    (f,) = (tmp_path / "devices/CPU_INTERPRETER/tuning").glob("*.json")
    assert [r.M for r in load(f, TuneFile).records] == [1, 9]


# --- command line ---------------------------------------------------------------------------


def test_no_gpu_changes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli_main(["tune", "--save-path", str(tmp_path)]) == 0
    assert "no CUDA GPU" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--N", "512", "--K", "300"], "not a multiple of --block-k"),
        (["--N", "512"], "--N and --K go together"),
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "qwen3-32b", "--tp-size", "3"], "does not divide"),
        (["--model-config", "MISSING"], "nope.json: cannot read"),
        (["--kernels", "nope"], "unknown kernel"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(argv, message, tmp_path, capsys):
    argv = [a if a != "MISSING" else str(tmp_path / "nope.json") for a in argv]
    code = cli_main(["tune", *argv, "--allow-cpu", "--save-path", str(tmp_path / "sd")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "sd").exists()


def test_cpu_run_writes_records_and_resumes(tmp_path, capsys):
    argv = [
        "tune",
        "--N",
        "48",
        "--K",
        "256",
        "--batch-sizes",
        "1,20",
        "--kernels",
        "w8a8_block",
        "--allow-cpu",
        "--cpu-workers",
        "1",
        "--save-path",
        str(tmp_path),
    ]
    assert cli_main(argv) == 0
    files = sorted(Path(tmp_path).rglob("*.json"))
    assert any("tuning" in str(f) for f in files) and any("vllm" in str(f) for f in files)
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    capsys.readouterr()
    assert cli_main(argv) == 0
    assert "2 of 2 tasks already tuned" in capsys.readouterr().out
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes


def test_tasks_cover_models_and_mla_shapes():
    p = tune_cli.add_parser(__import__("argparse").ArgumentParser().add_subparsers(), "tune")
    args = p.parse_args(["--model", "deepseek-v3", "--batch-sizes", "1,64"])
    tasks = build_tasks(tune_cli._request(args))
    dense = {(t.N, t.K) for t in tasks if t.kernel == "w8a8_block"}
    mla = {(t.B, t.N, t.K) for t in tasks if t.kernel == "a16w8_batched"}
    assert len(dense) == 15 and (7168, 2304) in dense
    assert mla == {(16, 512, 128), (16, 128, 512)}
    assert len(tasks) == (15 + 2) * 2


@pytest.mark.parametrize(
    "argv",
    [
        [],
        [
            "--model",
            "deepseek-v3",
            "--tp-size",
            "1",
            "--tp-size",
            "2",
            "--kernels",
            "a16w8_batched",
        ],
        ["--model", "llama-3.1-8b", "--model", "qwen3-32b", "--tp-size", "1"],
        ["--N", "4096", "--K", "7168", "--batch-sizes", "1,64", "--out-dtype", "float16"],
        ["--input-type", "int8", "--block-n", "64", "--block-k", "128", "--kernels", "w8a8_block"],
    ],
)
def test_the_command_a_tune_time_shows_asks_for_the_same_tune(argv):
    """The device page shows each tune time's command: run as shown, it asks for the same
    tune (an earlier description, ``tune: deepseek-v3 tp8``, could not be run)."""
    import shlex

    p = tune_cli.add_parser(__import__("argparse").ArgumentParser().add_subparsers(), "tune")
    req = tune_cli._request(p.parse_args(argv))
    words = shlex.split(req.command())
    assert words[:4] == ["python", "-m", "generator", "tune"]
    assert tune_cli._request(p.parse_args(words[4:])) == req


def test_batched_kernels_of_our_own_get_the_mla_shapes():
    """A Tunable marked batched (the swapped A16W8 kernel) is tuned on the MLA shapes with its
    own input type, next to the linear-layer kernels on the dense ones."""
    p = tune_cli.add_parser(__import__("argparse").ArgumentParser().add_subparsers(), "tune")
    args = p.parse_args(
        [
            "--model",
            "deepseek-v3",
            "--batch-sizes",
            "1,128",
            "--kernels",
            "a16w8_batched_swapped,w8a8_block_decode",
        ]
    )
    tasks = build_tasks(tune_cli._request(args))
    swapped = [t for t in tasks if t.kernel == "a16w8_batched_swapped"]
    assert {(t.B, t.N, t.K, t.M) for t in swapped} == {
        (16, n, k, m) for n, k in ((512, 128), (128, 512)) for m in (1, 128)
    }
    assert {t.input_type for t in swapped} == {"bf16"}
    decode = {(t.N, t.K, t.B, t.input_type) for t in tasks if t.kernel == "w8a8_block_decode"}
    assert len(decode) == 15 and all(b == 1 and it == "fp8" for _, _, b, it in decode)


# --- seeded with what users run today ---------------------------------------------------------


def test_shipped_sets_are_the_engines_files_with_their_lookup():
    from generator.data.shipped import shipped_set, shipped_sets
    from generator.tune.baselines import engine_baselines
    from generator.tune.tunables import get_tunable

    assert [s.id for s in shipped_sets()] == ["vllm-0.33.0", "sglang-0.5.23"]
    vllm = shipped_set("vllm-0.33.0")
    table = vllm.table("NVIDIA_H200", 24576, 7168)
    assert table is not None and len(table) == 18
    assert vllm.table("NVIDIA_H200", 48, 256) is None  # no file: the engine runs its default
    assert vllm.default_config()["num_stages"] == 2
    assert shipped_set("sglang-0.5.23").default_config()["num_stages"] == 3
    task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, 24576, 7168, 1, 300)
    baselines = engine_baselines(get_tunable("w8a8_block"), task, "NVIDIA_H200")
    # shipped entries first, then the defaults; each says which it is
    assert [(b.name, b.shipped) for b in baselines] == [
        ("vllm-0.33.0", True),
        ("sglang-0.5.23", True),
        ("vllm-default", False),
        ("sglang-default", False),
    ]
    assert baselines[0].config == table[256]  # nearest key to M = 300
    # Kernels no engine runs have no baselines, whatever their class inherits.
    for name in ("w8a8_block_splitk", "w8a8_block_decode", "a16w8_batched"):
        assert engine_baselines(get_tunable(name), task, "NVIDIA_H200") == []


@pytest.fixture
def slow_except_seed(monkeypatch):
    """Timings where every config but one "shipped" entry is slower (the host clock of the
    interpreter cannot be trusted to order configs): the search cannot find anything as
    fast, so the shipped config must be published."""
    from generator.measure.timing import TimingStats
    from generator.tune import search

    seed = {
        "BLOCK_SIZE_M": 32,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 2,
    }

    def fake_time_calls(calls, on_cuda, max_replays, target_us):
        for fn in calls:
            fn()  # still runs (and can still fail)
        us = 10.0 if calls[0].args[2] == seed else 20.0 + calls[0].args[2]["BLOCK_SIZE_M"]
        return TimingStats(us, us * 0.999, us * 1.001, 1)

    _fake_timings(monkeypatch, fake_time_calls)
    monkeypatch.setattr(
        search, "engine_baselines", lambda tunable, task, dev: [Baseline("vllm-test", seed, True)]
    )
    return seed


def _fake_timings(monkeypatch, fake):
    """Replace the timing entry points of the search by ``fake(calls, ...)``."""
    from generator.tune import search

    def each(call_sets, on_cuda, max_replays, target_us, **kw):
        return [fake(calls, on_cuda, max_replays, target_us) for calls in call_sets]

    monkeypatch.setattr(search, "time_calls", fake)
    monkeypatch.setattr(search, "time_pass", each)
    monkeypatch.setattr(search, "time_interleaved", each)


def test_a_faster_baseline_is_published_never_beaten_by_the_search(slow_except_seed):
    seed = slow_except_seed
    rec = tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    assert rec.winner_source == "vllm-test" and rec.winner.config == seed
    assert rec.winner.rel_error is not None and rec.winner.status == Status.OK
    assert set(rec.baselines) == {"vllm-test"} and rec.search == SEARCH_CURRENT
    assert all(m.config != seed for m in rec.runners_up)


def test_the_control_spread_and_the_fallback_choice():
    from generator.data.records import Measurement
    from generator.measure.timing import TimingStats
    from generator.tune import search

    def m(us, err=1e-3, status=Status.OK):
        return Measurement(status=status, latency_us=us, rel_error=err, config={})

    same = TimingStats(100.0, 99.0, 101.0, 5)
    assert search._aa_spread(same, TimingStats(101.0, 100.0, 102.0, 5)) == pytest.approx(0.01)
    assert search._aa_spread(same, same) == 0.0
    base = {"a": m(10.0), "b": m(9.0, status=Status.INCORRECT), "c": m(9.5), "d": m(9.5)}
    assert search._best_baseline(base) == "c"  # fastest correct; first listed on a tie
    assert search._best_baseline({"x": m(1.0, err=None)}) is None  # unverified never counts


def test_a_search_win_within_the_control_goes_to_the_baseline(slow_except_seed, monkeypatch):
    """The search's best (20.1 us: 0.5 % faster than the 20.2 us shipped entry) is within the
    runoff's noise (its A/A control, the shipped entry timed twice, came out 0.8 % apart):
    the shipped config is kept."""
    from generator.measure.timing import TimingStats
    from generator.tune import search

    seed = slow_except_seed

    def close_call(calls, on_cuda, max_replays, target_us):
        cfg = calls[0].args[2]
        us = 20.2 if cfg == seed else 20.1 if cfg["BLOCK_SIZE_M"] == 16 else 40.0
        return TimingStats(us, us * 0.999, us * 1.001, 1)

    def runoff(call_sets, on_cuda, max_replays, target_us, **kw):
        stats = [close_call(calls, on_cuda, max_replays, target_us) for calls in call_sets]
        twin = stats[-1].median_us * 1.008  # the control: the first candidate, 0.8 % apart
        return [*stats[:-1], TimingStats(twin, twin, twin, 1)]

    monkeypatch.setattr(search, "time_calls", close_call)
    monkeypatch.setattr(
        search, "time_pass", lambda sets, *a, **kw: [close_call(c, *a) for c in sets]
    )
    monkeypatch.setattr(search, "time_interleaved", runoff)
    rec = tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    assert rec.winner_source == "vllm-test" and rec.winner.config == seed
    assert rec.runoff_aa_spread == pytest.approx(0.008)
    assert rec.runners_up and rec.runners_up[0].config["BLOCK_SIZE_M"] == 16
    assert rec.runners_up[0].latency_us < rec.winner.latency_us  # faster, but within the noise


def test_pruning_check_stores_every_point_and_the_worst(tmp_path, monkeypatch):
    """The check's machinery on one tiny point (timings faked by config: the interpreter's
    host clock cannot order configs): both searches run, their winners and times are stored,
    the worst ratio is reported, and a rerun resumes without re-tuning."""
    import zlib

    from generator.data.records import PruningCheck
    from generator.measure.timing import TimingStats
    from generator.tune import pruning_check
    from generator.tune.run import RunSettings

    def fake_time_calls(calls, on_cuda, max_replays, target_us):
        us = 10.0 + zlib.crc32(repr(sorted(calls[0].args[2].items())).encode()) % 1000 / 100
        return TimingStats(us, us, us, 1)

    _fake_timings(monkeypatch, fake_time_calls)
    tasks = [tiny_task(3), tiny_task(40)]
    settings = RunSettings(save_path=tmp_path, gpus=0, cpu_workers=0)  # in process: patched
    assert pruning_check.run_pruning_check(tasks, settings, slice(0, 1)) == 0
    dev = collect_cpu().device_name
    check = load(tmp_path / "devices" / dev / "checks" / "pruning.json", PruningCheck)
    assert check.points_planned == 2 and len(check.points) == 1 and check.search == SEARCH_CURRENT
    (point,) = check.points
    assert point.M == 3 and point.exhaustive_timed > point.pruned_timed
    assert point.exhaustive_us <= point.pruned_us  # exhaustive times a superset
    assert check.worst_ratio == point.ratio >= 1.0
    tuned = sorted((tmp_path / "devices" / dev / "tuning").glob("*.json"))
    assert len(tuned) == 2  # pruned and exhaustive records, kept apart
    stamp = {p: p.stat().st_mtime_ns for p in tuned}
    assert pruning_check.run_pruning_check(tasks, settings, slice(0, 1)) == 0
    assert {p: p.stat().st_mtime_ns for p in tuned} == stamp
    assert pruning_check.parse_points("3:", 90) == slice(3, 90)
    with pytest.raises(UserError, match="START:STOP"):
        pruning_check.parse_points("a-b", 90)


@pytest.mark.parametrize(
    "times, spreads, expected",
    [
        # the default is 0.5 % faster than the shipped entry, within the 0.8 % control: the
        # shipped entry is kept
        ({"ship": 100.0, "dflt": 99.5, "srch": 99.4}, [0.008], "vllm-test"),
        # the same times with a control of 0: the tie is still the 1 % floor (the runoff's
        # GEMM-only times are not the engine's quant+GEMM), so the shipped entry is kept
        ({"ship": 100.0, "dflt": 99.5, "srch": 99.4}, [0.0], "vllm-test"),
        # the search's config 0.7 % faster than the shipped entry, control 0: within the floor,
        # the shipped entry is kept; 1.5 % faster: the search's config wins
        ({"ship": 100.0, "dflt": 101.0, "srch": 99.3}, [0.0], "vllm-test"),
        ({"ship": 100.0, "dflt": 101.0, "srch": 98.5}, [0.0], "search"),
        # a default 1.5 % faster than the shipped entry, the search's within 1 % of it: the
        # default is kept before ours
        ({"ship": 100.0, "dflt": 98.5, "srch": 98.0}, [0.0], "sglang-default"),
        # the default is clearly faster than the shipped entry: the default's config wins
        ({"ship": 100.0, "dflt": 95.0, "srch": 94.5}, [0.008], "sglang-default"),
        # the search's config is clearly faster than every baseline: it wins
        ({"ship": 100.0, "dflt": 99.0, "srch": 90.0}, [0.008], "search"),
        # a wide control is timed again with more rounds, not judged with a wider margin:
        # 5 %, then 0.3 %: the default (1.5 % faster) wins
        ({"ship": 100.0, "dflt": 98.5, "srch": 98.6}, [0.05, 0.003], "sglang-default"),
        # wide every time: the runoff cannot tell them apart; what users run is kept, the
        # shipped entry, over a default 1.5 % faster and the search's config 10 % faster
        ({"ship": 100.0, "dflt": 98.5, "srch": 99.0}, [0.05, 0.05, 0.05], "vllm-test"),
        ({"ship": 100.0, "dflt": 99.0, "srch": 90.0}, [0.05, 0.02, 0.011], "vllm-test"),
    ],
)
def test_the_runoff_decides_by_its_fastest_median_and_its_control(
    times, spreads, expected, monkeypatch
):
    """Every distinct baseline and the search's winner are run off against each other with an
    A/A control (the first baseline timed twice); the fastest median wins, a config users
    already run (shipped, then default) within the control's spread of it is kept instead."""
    from generator.data.records import Measurement
    from generator.measure.timing import TimingStats
    from generator.tune import search

    cfg = {
        "BLOCK_SIZE_M": 64,
        "BLOCK_SIZE_N": 64,
        "BLOCK_SIZE_K": 128,
        "GROUP_SIZE_M": 1,
        "num_warps": 4,
        "num_stages": 3,
    }
    configs = {"ship": cfg, "dflt": {**cfg, "num_stages": 2}, "srch": {**cfg, "num_warps": 8}}
    name_of = {tuple(sorted(c.items())): n for n, c in configs.items()}
    rounds_asked = []

    def interleaved(self, cfgs, rounds=1):
        rounds_asked.append(rounds)
        stats = [TimingStats(times[name_of[tuple(sorted(c.items()))]], 0, 0, 5) for c in cfgs]
        twin = stats[0].median_us * (1 + spreads[len(rounds_asked) - 1])
        return [*stats[:-1], TimingStats(twin, 0, 0, 5)]

    monkeypatch.setattr(search._Session, "interleaved", interleaved)
    session = object.__new__(search._Session)
    session.on_cuda = False
    session.phase_s = Counter()

    def m(name):
        return Measurement(status=Status.OK, config=configs[name], latency_us=1.0, rel_error=0.0)

    winner, source, runoff, aa, note = session.decide(
        m("srch"), {"vllm-test": m("ship"), "sglang-default": m("dflt")}, {"vllm-test"}
    )
    wide = spreads[-1] > search.AA_TARGET
    assert (note is not None) == wide and runoff["search"] == times["srch"]
    if wide:
        assert note.startswith(f"A/A control {spreads[-1]:.1%} > 1% after 3 runoffs")
        assert "the search's config is not published" in note
    assert source == expected
    assert (
        winner.config
        == configs[{"vllm-test": "ship", "sglang-default": "dflt"}.get(source, "srch")]
    )
    assert runoff["vllm-test"] == times["ship"] and runoff["sglang-default"] == times["dflt"]
    assert rounds_asked == [1, 2, 4][: len(spreads)] and aa == pytest.approx(spreads[-1])


def test_a_wide_control_without_a_shipped_entry_leaves_the_baselines_to_decide():
    """No shipped entry ran (the release ships no file for the shape): with the control
    still wide the search's config is not published; the fastest default is."""
    from generator.tune import search

    runoff = {"vllm-default": 100.0, "sglang-default": 97.0, "search": 80.0}
    name, note = search.decide_runoff(runoff, [], 0.03)
    assert name == "sglang-default"
    assert note == (
        "A/A control 3.0% > 1% after 3 runoffs: the baselines decided among themselves; "
        "the search's config is not published"
    )
    assert search.decide_runoff(runoff, [], 0.004) == ("search", None)  # within: it wins


def test_the_record_says_why_the_search_was_not_published(slow_except_seed, monkeypatch):
    """End to end: the search's best is 30 % faster in the runoff, but the control stays 5 %
    wide in all three runoffs: the shipped entry is published, and the record says why; a
    record written before the field existed still loads."""
    from generator.data.records import TuneRecord
    from generator.measure.timing import TimingStats
    from generator.tune import search

    seed = slow_except_seed
    calls_seen = []

    def runoff(call_sets, on_cuda, max_replays, target_us, **kw):
        calls_seen.append(len(call_sets))
        stats = []
        for calls in call_sets[:-1]:
            us = 20.0 if calls[0].args[2] == seed else 14.0
            stats.append(TimingStats(us, us, us, 5))
        twin = stats[0].median_us * 1.05
        return [*stats, TimingStats(twin, twin, twin, 5)]

    monkeypatch.setattr(search, "time_interleaved", runoff)
    rec = tune_task(tiny_task(3), TuneOptions(device="cpu", max_replays=1))
    assert len(calls_seen) == search.RUNOFF_ATTEMPTS
    assert rec.winner_source == "vllm-test" and rec.winner.config == seed
    assert rec.runoff_us["search"] == 14.0 and rec.runoff_us["vllm-test"] == 20.0
    assert rec.runoff_note and "the shipped entry is kept" in rec.runoff_note
    old = rec.model_dump(mode="json", exclude={"runoff_note"})
    assert TuneRecord.model_validate(old).runoff_note is None


def test_the_runoff_rotates_what_it_writes_beyond_l2_over_up_to_sixteen_sets(monkeypatch):
    """On a GPU the served calls of a runoff write MAX_WRITTEN_SETS placements of a small
    quantized activation and output (they rotate beyond L2 like the inputs), the inputs
    cycling through the task's sets; the first sets are the task's own (so the runoff runs on
    what the passes ran)."""
    from generator.measure.timing import MAX_WRITTEN_SETS
    from generator.tune.search import TuneOptions, _Session

    task = tiny_task(5, kernel="w8a8_block")
    s = _Session(task, TuneOptions(device="cpu"), None)
    assert len(s._served_sets()) == len(s.sets)  # no GPU: no placements to average
    from generator.measure import timing

    monkeypatch.setattr(timing, "l2_cache_bytes", lambda device=None: 50 * 2**20)  # an H100's
    s = _Session(task, TuneOptions(device="cpu"), None)
    s.on_cuda = True  # the GPU branch, on the CPU tensors
    sets = s._served_sets()
    n = len(s.sets)
    assert len(sets) == MAX_WRITTEN_SETS > n
    assert all(ops is s.sets[i] and out is s.outs[i] for i, (ops, out) in enumerate(sets[:n]))
    for i, (ops, _) in enumerate(sets):
        base = s.sets[i % n]
        assert all(ops[k] is base[k] for k in ("X", "B", "Bs"))
    owned = [t.data_ptr() for ops, out in sets for t in (ops["A"], ops["As"], out)]
    assert len(set(owned)) == len(owned)
    cfg = s.tunable.default_config(task)
    results = [c() for c in s._calls(cfg, served=True)]
    assert torch.equal(
        results[-1], s.tunable.run(task, s.sets[(len(sets) - 1) % n], cfg, s.outs[0])
    )
