"""The provider registry: names, duplicates, selection, requirements, shared operand helpers."""

from __future__ import annotations

import pytest
import torch

from generator.bench import registry as pv
from generator.bench.providers import batched, common
from generator.bench.providers.engine import lookup
from generator.bench.requirements import unmet
from generator.data.records import Origin, ProviderInfo, Scheme
from generator.errors import UserError
from generator.measure import timing
from kernels.quant import dequantize_weight_blocks, quantize_weight_blockwise

EXPECTED = {
    "torch-bf16",
    "fp8-tensor",
    "fp8-tensor-noquant",
    "fp8-channel",
    "fp8-channel-noquant",
    "cublas-fp8-block",
    "cublas-fp8-block-noquant",
    "cublas-fp8-block-v2",
    "int8-channel",
    "int8-channel-noquant",
    "triton-int8-block-default",
    "triton-int8-block-tuned",
    "triton-int8-azp",
    "triton-int8-azp-bias",
    "triton-fp8-block-default",
    "triton-fp8-block-tuned",
    "triton-fp8-block-vllm-0.33.0",
    "triton-fp8-block-sglang-0.5.23",
    "triton-fp8-block-sglang-default",
    "deepgemm-fp8-block",
    "deepgemm-fp8-block-noquant",
    "flashinfer-fp8-block-swapab",
    "triton-fp8-block-gluon",
    "triton-fp8-block-splitk",
    "triton-fp8-block-persistent",
    "triton-fp8-block-decode",
    "a16w8-triton",
    "a16w8-triton-swapped",
    "a16w8-bmm-bf16",
    "a16w8-dequant-bmm",
}


def _dummy(name: str) -> pv.Provider:
    return pv.Provider(
        info=common.info(name, name, "test", Scheme.BF16, Origin.OURS),
        compute=pv.Compute.BF16,
        setup=lambda p, ctx: pv.Prepared([]),
        reference=lambda p, ctx: torch.zeros(1),
        bytes_moved=lambda p, od: 1,
    )


def test_every_expected_provider_is_registered_once():
    names = [p.name for p in pv.all_providers()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED


def test_metadata_says_what_each_provider_is():
    """What the site reads instead of names: the scheme a provider computes, who wrote it,
    and which engines' users can install it (only the tuned drop-in files)."""
    infos = {p.name: p.info for p in pv.all_providers()}
    assert all(isinstance(i, ProviderInfo) and i.label for i in infos.values())
    assert len({i.label for i in infos.values()}) == len(infos)  # legends tell them apart
    installable = {n: i.installable for n, i in infos.items() if i.installable}
    assert installable == {
        "triton-fp8-block-tuned": ["vllm", "sglang"],
        "triton-int8-block-tuned": ["vllm", "sglang"],
    }
    assert {n for n, i in infos.items() if i.scheme == Scheme.INT8_BLOCK} == {
        "triton-int8-block-default",
        "triton-int8-block-tuned",
    }
    assert {n for n, i in infos.items() if i.origin == Origin.ENGINE} == {
        "triton-fp8-block-default",
        "triton-fp8-block-tuned",
        "triton-int8-block-default",
        "triton-int8-block-tuned",
        "triton-fp8-block-vllm-0.33.0",
        "triton-fp8-block-sglang-0.5.23",
        "triton-fp8-block-sglang-default",
    }
    shipped = {n: i.config_source for n, i in infos.items() if "shipped" in (i.config_source or "")}
    assert shipped == {
        "triton-fp8-block-vllm-0.33.0": "shipped:vllm-0.33.0",
        "triton-fp8-block-sglang-0.5.23": "shipped:sglang-0.5.23",
    }
    for name in ("triton-fp8-block-splitk", "triton-fp8-block-gluon", "a16w8-triton-swapped"):
        assert infos[name].origin == Origin.OURS and not infos[name].installable


def test_declarations_are_consistent():
    for p in pv.all_providers():
        assert p.description and isinstance(p.compute, pv.Compute)
        assert p.bytes_moved(pv.Problem(M=16, N=256, K=512, B=2), torch.bfloat16) > 0
    kinds = {p.name: p.kind for p in pv.all_providers()}
    assert {n for n, k in kinds.items() if k == pv.Kind.BATCHED} >= {
        "a16w8-triton",
        "a16w8-triton-swapped",
        "a16w8-bmm-bf16",
        "a16w8-dequant-bmm",
    }
    assert [p.name for p in pv.all_providers() if p.is_baseline] == [
        "torch-bf16",
        "a16w8-bmm-bf16",
    ]


def _runnable_here(ctx: pv.BenchContext) -> list[pv.Provider]:
    return [p for p in pv.all_providers(pv.Kind.GEMM) if unmet(p, ctx) is None]


def test_quant_timed_says_whether_the_timed_call_reads_the_bf16_activations(device):
    """``quant_timed`` is what the site prints as "activation quant timed": true exactly when
    the timed callable quantizes the layer's bf16 input itself. Checked by behaviour, not by
    name: scaling the bf16 activations after setup changes the output of a provider that
    quantizes inside its timed call, and leaves one that was handed pre-quantized operands
    as it was (bf16 itself quantizes nothing)."""
    ctx = pv.BenchContext(device=torch.device(device), site_data=None)
    problem = pv.Problem(M=3, N=256, K=256)
    runnable = _runnable_here(ctx)
    assert {"torch-bf16", "triton-fp8-block-default"} <= {p.name for p in runnable}
    checked = 0
    for p in runnable:
        ctx.start(problem)
        try:
            prepared = p.setup(problem, ctx)
        except pv.Unsupported:
            continue  # no table for this device (the tuned providers): nothing is timed
        before = prepared.calls[0]().float().clone()
        ctx.x_bf16.mul_(2.0)  # the activations every timed call that quantizes reads
        after = prepared.calls[0]().float()
        reads_activations = not torch.allclose(before, after)
        quantizes = p.info.scheme != Scheme.BF16
        assert p.quant_in_timed_region == (reads_activations and quantizes), p.name
        checked += 1
    assert checked >= 2


def test_duplicate_names_are_rejected():
    with pytest.raises(ValueError, match="'torch-bf16' is already registered"):
        pv.by_name([*pv.PROVIDERS, _dummy("torch-bf16")])
    assert list(pv.by_name([_dummy("a"), _dummy("b")])) == ["a", "b"]


def test_unknown_name_lists_known_ones():
    with pytest.raises(UserError) as info:
        pv.select(["torch-bf16", "cutlass-fp8"])
    message = str(info.value)
    assert "cutlass-fp8" in message and "known:" in message
    assert "triton-fp8-block-default" in message and "\n" not in message


def test_selection_by_names_and_comma_lists_keeps_registry_order():
    chosen = pv.select(["triton-fp8-block-default,torch-bf16", "a16w8-triton"])
    assert [p.name for p in chosen] == ["torch-bf16", "triton-fp8-block-default", "a16w8-triton"]
    assert len(pv.select(None)) == len(pv.all_providers())
    assert pv.get("fp8-tensor").name == "fp8-tensor"
    with pytest.raises(UserError, match="no provider named"):
        pv.select([" , "])


def test_library_providers_are_unsupported_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CPU-only behaviour")
    ctx = pv.BenchContext(device=torch.device("cpu"))
    for name in ("fp8-tensor", "cublas-fp8-block", "cublas-fp8-block-v2", "int8-channel"):
        message = unmet(pv.get(name), ctx)
        assert message and "CUDA" in message, name
    assert unmet(pv.get("torch-bf16"), ctx) is None
    assert unmet(pv.get("triton-fp8-block-default"), ctx) is None  # interpreter (conftest)
    # The Gluon kernel has no interpreter path: unsupported on the CPU, with the reason.
    assert "Hopper" in unmet(pv.get("triton-fp8-block-gluon"), ctx)


def test_context_memoizes_and_rotates(device):
    ctx = pv.BenchContext(device=torch.device(device), l2_bytes=1000)
    ctx.start(pv.Problem(M=4, N=32, K=64))
    w_first = ctx.w
    calls = []
    q1 = ctx.weight("k", lambda w: calls.append(1) or w * 2)
    assert ctx.weight("k", lambda w: calls.append(1) or w * 3) is q1 and len(calls) == 1
    ctx.start(pv.Problem(M=8, N=32, K=64))  # same weight shape: weights kept
    assert ctx.w is w_first and ctx.weight("k", lambda w: None) is q1
    assert ctx.x.shape == (8, 64)
    ctx.start(pv.Problem(M=8, N=48, K=64))  # new weight shape: rebuilt
    assert ctx.w.shape == (48, 64)
    col_major = torch.zeros(64, 8, device=device).t()
    sets = ctx.rotate((ctx.x, col_major, None), bytes_per_set=500)
    assert len(sets) == 6  # 3 x 1000 bytes of L2 / 500 per set
    for s in sets[1:]:
        assert torch.equal(s[0], ctx.x) and s[0].data_ptr() != ctx.x.data_ptr()
        assert s[1].stride() == col_major.stride() and s[2] is None


def test_rotated_sets_are_shared_by_every_provider_of_a_point(device):
    """Two providers that rotate the same operands read the same memory in every set (issue
    22: each used to clone its own); a weight's clones live for every M of its shape, an
    activation's for one problem."""
    ctx = pv.BenchContext(device=torch.device(device), l2_bytes=4096)
    ctx.start(pv.Problem(M=4, N=32, K=64))
    w = ctx.weight("w2", lambda w: w * 2)
    first = ctx.rotate((ctx.x_bf16, w), bytes_per_set=1024)
    second = ctx.rotate((ctx.x_bf16, w), bytes_per_set=1024)
    assert len(first) == 12
    ptrs = [[t.data_ptr() for t in s] for s in first]
    assert ptrs == [[t.data_ptr() for t in s] for s in second]
    assert len({p[1] for p in ptrs}) == 12  # new memory per set, same values
    assert all(torch.equal(s[1], w) for s in first)
    fewer = ctx.rotate((w,), bytes_per_set=4096)  # a larger set: the first 3 of the same
    assert [s[0].data_ptr() for s in fewer] == [p[1] for p in ptrs[:3]]
    ctx.start(pv.Problem(M=8, N=32, K=64))  # same weight: its clones stay, activations go
    again = ctx.rotate((ctx.x_bf16, ctx.weight("w2", lambda w: None)), bytes_per_set=1024)
    assert [s[1].data_ptr() for s in again] == [p[1] for p in ptrs]
    assert again[1][0].shape == (8, 64)


def test_what_a_call_writes_is_a_poisoned_buffer_per_set_shared_by_layout(device):
    """``written``: every set gets its own memory for what the call writes, after its inputs,
    poisoned, in the template's layout; enough sets to rotate them beyond L2 too (at most
    MAX_WRITTEN_SETS), the inputs cycling;
    providers writing the same layout share the buffers (no provider gets a placement of its
    own), and ``repoison`` refills the first set's before a check."""
    ctx = pv.BenchContext(device=torch.device(device), l2_bytes=4096)
    ctx.start(pv.Problem(M=4, N=32, K=64))
    out = torch.empty(4, 32, device=device, dtype=torch.bfloat16)
    scales = torch.empty(2, 4, device=device).t()  # column-major, as cuBLASLt's
    counters = torch.empty(3, device=device, dtype=torch.int32)
    first = ctx.rotate((ctx.x_bf16,), 4096, written=(out, scales, counters))
    inputs = ctx.rotate((ctx.x_bf16,), 4096)
    assert len(inputs) == 3 and len(first) == timing.MAX_WRITTEN_SETS == 16
    assert all(len(s) == 4 for s in first)
    assert [s[0].data_ptr() for s in first] == [inputs[i % 3][0].data_ptr() for i in range(16)]
    written = [t for s in first for t in s[1:]]
    assert len({t.data_ptr() for t in written}) == len(written)  # a buffer per set and layout
    for s in first:
        assert s[1].dtype == torch.bfloat16 and bool(s[1].isnan().all())
        assert s[2].stride() == (1, 4) and bool(s[2].isnan().all())
        assert bool((s[3] == torch.iinfo(torch.int32).min).all())
    second = ctx.rotate((ctx.x_bf16,), 4096, written=(out.clone(),))  # same layout: shared
    assert [s[1].data_ptr() for s in second] == [s[1].data_ptr() for s in first]
    first[0][1].zero_(), first[0][3].zero_(), first[5][1].zero_()
    ctx.repoison()
    assert bool(first[0][1].isnan().all()) and bool((first[0][3] < 0).all())
    assert not bool(first[5][1].isnan().any())  # only the first set, which the check runs
    ctx.start(pv.Problem(M=8, N=32, K=64))  # a new problem: new buffers
    again = ctx.rotate((ctx.x_bf16,), 4096, written=(torch.empty(8, 32, device=device),))
    assert again[0][1].shape == (8, 32) and len(ctx._written_sets) == 1  # the old ones dropped


def test_sources_are_reproducible(device):
    a = pv.BenchContext(device=torch.device(device))
    b = pv.BenchContext(device=torch.device(device))
    for ctx in (a, b):
        ctx.start(pv.Problem(M=3, N=16, K=32))
    assert torch.equal(a.x, b.x) and torch.equal(a.w, b.w) and torch.equal(a.bias, b.bias)


def test_dequantize_blocks_bf16_matches_fp32_dequant(rng):
    w = torch.randn(2, 200, 300, generator=rng)
    W, Ws = quantize_weight_blockwise(w, (128, 128))
    ref = dequantize_weight_blocks(W, Ws, (128, 128))
    got = batched.dequantize_blocks_bf16(W, Ws)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, ref.to(torch.bfloat16))


@pytest.mark.parametrize(
    "fn, rows_shape",
    [
        (common.fp8_quant_tensorwise, ()),
        (common.fp8_quant_rowwise, (5, 1)),
        (common.int8_quant_rowwise, (5, 1)),
    ],
    ids=["fp8-tensor", "fp8-row", "int8-row"],
)
def test_torch_quant_helpers_round_trip(fn, rows_shape, rng):
    x = torch.randn(5, 64, generator=rng, dtype=torch.float32).to(torch.bfloat16)
    q, s = fn(x)
    assert tuple(s.shape) == rows_shape and s.dtype == torch.float32
    err = (q.float() * s - x.float()).norm() / x.float().norm()
    assert err < 0.05


def _gluon_default():
    from kernels.w8a8_block_gluon import default_gluon_config

    return default_gluon_config()


def _decode_default():
    from kernels.w8a8_block_decode import default_decode_config

    return default_decode_config(1)


@pytest.mark.parametrize(
    "kernel, fallback",
    [("w8a8_block_gluon", _gluon_default()), ("w8a8_block_decode", _decode_default())],
)
def test_fast_providers_use_the_tuned_winner_nearest_in_m(kernel, fallback, tmp_path):
    """The Gluon and decode providers read the tuner's TuneFile for their kernel, device and
    shape (nearest tuned M); without one the lookup finds nothing and the provider runs the
    kernel's own default."""
    from generator.data.lookup import tune_file_path
    from generator.data.records import Measurement, Status, TuneFile, TuneRecord, atomic_write_text
    from generator.data.tasks import Task
    from tests.fixtures.make_synthetic import provenance

    ctx = pv.BenchContext(device=torch.device("cpu"), site_data=tmp_path, device_name="GPU_X")
    problem = pv.Problem(M=3000, N=7168, K=2304)
    assert lookup(kernel, "fp8", problem, ctx) is None  # nothing tuned

    def record(m: int, stages: int) -> TuneRecord:
        cfg = {**fallback, "num_stages": stages}
        return TuneRecord(
            M=m,
            winner=Measurement(status=Status.OK, config=cfg),
            default=Measurement(status=Status.OK),
            configs_in_space=48,
            configs_pruned=0,
            configs_timed=20,
            wall_s=1.0,
        )

    tf = TuneFile(
        kernel=kernel,
        input_type="fp8",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=7168,
        K=2304,
        provenance=provenance("GPU_X", "Synthetic GPU"),
        records=[record(1024, 3), record(4096, 5)],
    )
    task = Task(
        kernel=kernel,
        input_type="fp8",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=7168,
        K=2304,
        B=1,
        M=4096,
    )
    atomic_write_text(tune_file_path(tmp_path, "GPU_X", task, False), tf.model_dump_json())
    assert lookup(kernel, "fp8", problem, ctx)["num_stages"] == 5  # nearer 4096
    smaller = pv.Problem(M=1500, N=7168, K=2304)
    assert lookup(kernel, "fp8", smaller, ctx)["num_stages"] == 3
    other = "w8a8_block_gluon" if kernel == "w8a8_block_decode" else "w8a8_block_decode"
    assert lookup(other, "fp8", problem, ctx) is None  # per kernel


def test_swapped_a16w8_provider_reads_its_batched_tuning_file(tmp_path):
    """The batched lookup names the file by the Tunable's input type (bf16) and the batch B:
    a file tuned for B = 16 is used at B = 16 only."""
    from generator.data.lookup import tune_file_path
    from generator.data.records import Measurement, Status, TuneFile, TuneRecord, atomic_write_text
    from generator.data.tasks import Task
    from kernels.a16w8_batched_swapped import default_swapped_config
    from tests.fixtures.make_synthetic import provenance

    ctx = pv.BenchContext(device=torch.device("cpu"), site_data=tmp_path, device_name="GPU_X")
    fallback = default_swapped_config(128)
    tuned = {**fallback, "TILES_PER_PROGRAM": 8}
    tf = TuneFile(
        kernel="a16w8_batched_swapped",
        input_type="bf16",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=512,
        K=128,
        B=16,
        provenance=provenance("GPU_X", "Synthetic GPU"),
        records=[
            TuneRecord(
                M=128,
                winner=Measurement(status=Status.OK, config=tuned),
                default=Measurement(status=Status.OK),
                configs_in_space=1,
                configs_pruned=0,
                configs_timed=1,
                wall_s=1.0,
            )
        ],
    )
    task = Task(
        kernel="a16w8_batched_swapped",
        input_type="bf16",
        out_dtype="bfloat16",
        block_n=128,
        block_k=128,
        N=512,
        K=128,
        B=16,
        M=128,
    )
    atomic_write_text(tune_file_path(tmp_path, "GPU_X", task, False), tf.model_dump_json())

    def at(B: int) -> dict[str, int] | None:
        problem = pv.Problem(M=128, N=512, K=128, B=B, kind=pv.Kind.BATCHED)
        return lookup("a16w8_batched_swapped", "bf16", problem, ctx)

    assert at(16) == tuned
    assert at(32) is None


def test_shipped_providers_run_the_engines_entry_or_say_there_is_none(monkeypatch):
    """Same kernel, the config the engine picks from its shipped file (nearest key); a device
    or shape the engine ships no file for is "unsupported" with the reason."""
    from generator.bench.providers import engine
    from generator.data.shipped import shipped_set

    vllm = shipped_set("vllm-0.33.0")
    ctx = pv.BenchContext(device=torch.device("cpu"), device_name="NVIDIA_H200")
    with pytest.raises(pv.Unsupported, match="ships no file"):
        engine._setup_shipped(pv.Problem(M=3, N=64, K=128), ctx, vllm)
    picked = []
    monkeypatch.setattr(engine, "prepare_block", lambda p, c, it, cfg, *a: picked.append(cfg))
    engine._setup_shipped(pv.Problem(M=300, N=24576, K=7168), ctx, vllm)
    assert picked == [vllm.table("NVIDIA_H200", 24576, 7168)[256]]  # nearest key to 300
