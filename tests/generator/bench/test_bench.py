"""Benchmark sweeps on tiny shapes: row schema, flagging of wrong providers, merge-by-key, CLI.

Providers registered here are deliberately broken (a result off by 10%, an exception, NaN);
they go through the same ``run_sweep`` code path as real providers, under the interpreter.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from generator.bench import plan, report, store
from generator.bench import registry as pv
from generator.bench.points import measure_point
from generator.bench.providers.common import info
from generator.bench.run import SweepResult, run_sweep
from generator.cli import main
from generator.data import records
from generator.data.external_figures import mla_figures
from generator.data.models import load_model
from generator.data.provenance import collect_cpu
from generator.data.records import (
    BenchFile,
    BenchRow,
    Ceilings,
    Measurement,
    Origin,
    Scheme,
    SiteDataError,
    Status,
)

CEILINGS = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)
TINY = [plan.SweepPoint(pv.Problem(M=5, N=64, K=128))]
HAS_CUDA = torch.cuda.is_available()


def _bf16_setup(scale: float = 1.0, nan: bool = False, drop_column: bool = False):
    def setup(p: pv.Problem, ctx: pv.BenchContext) -> pv.Prepared:
        w = ctx.weight("bf16", lambda w: w.to(torch.bfloat16))

        def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            out = torch.matmul(x, w.t()) * scale
            if drop_column:
                return out[:, :-1]
            return out.fill_(float("nan")) if nan else out

        return pv.Prepared([lambda: run(ctx.x_bf16, w)])

    return setup


def _raise(message: str, exc_type: type[Exception] = RuntimeError):
    def setup(p: pv.Problem, ctx: pv.BenchContext) -> pv.Prepared:
        def run() -> torch.Tensor:
            raise exc_type(message + "\nsecond line")

        return pv.Prepared([run])

    return setup


def _test_provider(name: str, setup, library: bool = False) -> pv.Provider:
    return pv.Provider(
        info=info(name, name, "deliberately broken (test)", Scheme.BF16, Origin.OURS),
        compute=pv.Compute.BF16,
        setup=setup,
        reference=pv.get("torch-bf16").reference,
        bytes_moved=pv.get("torch-bf16").bytes_moved,
        library=library,
    )


@pytest.fixture
def broken_providers():
    """Deliberately broken providers, handed to the sweep (the registry stays as it is)."""
    return [
        _test_provider("test-off-by-10pct", _bf16_setup(scale=1.1)),
        _test_provider("test-raises", _raise("kernel exploded")),
        _test_provider("test-nan", _bf16_setup(nan=True)),
        _test_provider("test-wrong-shape", _bf16_setup(drop_column=True), True),
        _test_provider("test-library-refuses", _raise("CUBLAS_STATUS_NOT_SUPPORTED"), True),
    ]


def _ctx(device: str) -> pv.BenchContext:
    return pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)


def _rows_by_provider(result: SweepResult) -> dict[str, BenchRow]:
    return {r.provider: r for r in result.rows}


def test_broken_providers_are_flagged_and_good_ones_pass(broken_providers, tmp_path, device):
    chosen = pv.select(["torch-bf16", "triton-fp8-block-default"]) + broken_providers
    result = run_sweep(
        "square",
        TINY,
        chosen,
        _ctx(device),
        collect_cpu(),
        CEILINGS,
        tmp_path,
        replays=1,
        progress=False,
    )
    rows = _rows_by_provider(result)
    for name in ("torch-bf16", "triton-fp8-block-default"):
        m = rows[name].measurement
        assert m.status == Status.OK, m.message
        assert m.latency_us > 0 and m.tflops > 0 and m.rel_error is not None
        assert rows[name].gbps > 0 and rows[name].roofline_pct > 0

    off = rows["test-off-by-10pct"].measurement
    assert off.status == Status.INCORRECT
    assert off.rel_error == pytest.approx(0.1, rel=0.05)
    assert off.latency_us is None and off.tflops is None, "a wrong result must never be timed"
    assert rows["test-off-by-10pct"].roofline_pct is None

    raised = rows["test-raises"].measurement
    assert raised.status == Status.ERROR
    assert raised.message == "RuntimeError: kernel exploded"

    nan = rows["test-nan"].measurement
    assert nan.status == Status.INCORRECT and "NaN" in nan.message and nan.latency_us is None

    shape = rows["test-wrong-shape"].measurement
    assert shape.status == Status.INCORRECT and "output shape (5, 63)" in shape.message

    refused = rows["test-library-refuses"].measurement
    assert refused.status == Status.UNSUPPORTED and "CUBLAS_STATUS_NOT_SUPPORTED" in refused.message

    saved = records.load(result.path, BenchFile)
    assert {r.provider for r in saved.rows} == set(rows)


def test_unsupported_and_tuned_without_table(tmp_path, device):
    chosen = pv.select(["triton-fp8-block-tuned", "fp8-tensor"])
    ctx = _ctx(device)
    ctx.site_data, ctx.device_name = tmp_path, "NO_SUCH_GPU"
    result = run_sweep(
        "square", TINY, chosen, ctx, collect_cpu(), CEILINGS, tmp_path, replays=1, progress=False
    )
    rows = _rows_by_provider(result)
    tuned = rows["triton-fp8-block-tuned"].measurement
    assert tuned.status == Status.UNSUPPORTED
    assert "no tuned config for this device/shape" in tuned.message
    if not HAS_CUDA:
        assert rows["fp8-tensor"].measurement.status == Status.UNSUPPORTED


def test_tuned_config_is_used_when_present(tmp_path, device):
    from generator.configs.engine_files import config_table_json, framework_file_name

    cfg = dict(
        BLOCK_SIZE_M=16, BLOCK_SIZE_N=32, BLOCK_SIZE_K=64, GROUP_SIZE_M=1, num_warps=4, num_stages=2
    )
    folder = tmp_path / "devices" / "TEST_GPU" / "configs" / "vllm"
    folder.mkdir(parents=True)
    (folder / framework_file_name("vllm", 64, 128, "TEST_GPU", "int8")).write_text(
        config_table_json({1: cfg, 64: {**cfg, "BLOCK_SIZE_M": 64}})
    )
    ctx = _ctx(device)
    ctx.site_data, ctx.device_name = tmp_path, "TEST_GPU"
    problem = TINY[0].problem
    ctx.start(problem)
    result = measure_point(pv.get("triton-int8-block-tuned"), problem, ctx, CEILINGS, 1)
    assert result.measurement.status == Status.OK, result.measurement.message
    assert result.measurement.config == cfg  # M = 5 is nearest to the key 1


def test_rerun_replaces_rows_by_key(tmp_path, device):
    chosen = pv.select(["torch-bf16"])
    tasks = [plan.SweepPoint(pv.Problem(M=m, N=32, K=64)) for m in (1, 3)]
    prov = collect_cpu().model_copy(update={"git_sha": "c" * 40})  # one code version
    args = ("square", tasks, chosen, _ctx(device), prov, CEILINGS, tmp_path)
    first = run_sweep(*args, replays=1, progress=False)
    second = run_sweep(*args, replays=1, progress=False)
    assert len(first.rows) == len(second.rows) == 2 and second.measured == 2
    saved = records.load(second.path, BenchFile)
    assert len(saved.rows) == 2 and len({store.row_key(r) for r in saved.rows}) == 2
    resumed = run_sweep(*args, replays=1, resume=True, progress=False)
    assert resumed.measured == 0 and resumed.skipped == 2 and len(resumed.rows) == 2


def test_rerun_replaces_a_providers_rows_under_an_old_layer_name(tmp_path, device):
    """A model's layers named anew (1536x7168 of DeepSeek-V3: "unattributed (vLLM list)", then
    "q_a_proj (unfused)"): a rerun of a point replaces the provider's rows under the old name
    instead of leaving them beside the new ones, and another provider's rows there stay."""
    bf16, fp8 = pv.select(["torch-bf16"]), pv.select(["triton-fp8-block-default"])
    problem = pv.Problem(M=2, N=32, K=64)

    def at(layer: str) -> list[plan.SweepPoint]:
        return [plan.SweepPoint(problem, [plan.RowLabel("some-model", layer, 8)])]

    prov = collect_cpu().model_copy(update={"git_sha": "c" * 40})
    args = (_ctx(device), prov, CEILINGS, tmp_path)
    run_sweep("model", at("old name"), bf16 + fp8, *args, replays=1, progress=False)
    result = run_sweep("model", at("new name"), bf16, *args, replays=1, progress=False)
    saved = records.load(result.path, BenchFile)
    assert sorted((r.provider, r.layer) for r in saved.rows) == [
        ("torch-bf16", "new name"),
        ("triton-fp8-block-default", "old name"),
    ]


def _renamed(provider: pv.Provider, name: str) -> pv.Provider:
    """The same provider under another name: identical work, as the tuned file's provider is
    wherever its entry equals an engine's."""
    return dataclasses.replace(provider, info=provider.info.model_copy(update={"name": name}))


def test_identical_work_is_timed_once_and_every_point_carries_its_control(tmp_path, device):
    default = pv.get("triton-fp8-block-default")
    chosen = [pv.get("torch-bf16"), default, _renamed(default, "test-same-as-default")]
    points = [plan.SweepPoint(pv.Problem(M=m, N=64, K=128)) for m in (1, 5)]
    prov = collect_cpu()
    result = run_sweep(
        "square", points, chosen, _ctx(device), prov, CEILINGS, tmp_path, replays=2, progress=False
    )
    by = {(r.provider, r.M): r for r in result.rows}
    for m in (1, 5):
        twin, first = by["test-same-as-default", m], by[default.name, m]
        assert twin.same_work_as == default.name and first.same_work_as is None
        assert twin.measurement.latency_us == first.measurement.latency_us  # timed once
        assert by["torch-bf16", m].same_work_as is None
        controls = {r.control.model_dump_json() for r in result.rows if r.M == m}
        (control,) = controls  # one A/A control per point, on every timed row
        # the control is the engines' Triton kernel, twice, in the same interleaved run
        assert json.loads(control)["provider"] == default.name
        # its first timing is the provider's own row; the twin is a second graph of the same
        # calls, timed as a candidate of its own in the same run
        c = by[default.name, m].control
        assert c.a_us == by[default.name, m].measurement.latency_us and c.b_us > 0
    saved = records.load(result.path, BenchFile)
    assert all(r.provenance == prov for r in saved.rows)  # every row says which run


def test_rows_of_other_runs_keep_their_own_provenance(tmp_path, device):
    """A rerun of some points never relabels the rows it did not measure (issue 22)."""
    chosen = pv.select(["torch-bf16"])
    first_prov = collect_cpu().model_copy(update={"git_sha": "a" * 40})
    second_prov = collect_cpu().model_copy(update={"git_sha": "b" * 40})
    args = (_ctx(device),)
    one = [plan.SweepPoint(pv.Problem(M=1, N=32, K=64))]
    two = [plan.SweepPoint(pv.Problem(M=2, N=32, K=64))]
    run_sweep(
        "square", one, chosen, *args, first_prov, CEILINGS, tmp_path, replays=1, progress=False
    )
    run_sweep(
        "square", two, chosen, *args, second_prov, CEILINGS, tmp_path, replays=1, progress=False
    )
    saved = records.load(
        tmp_path / "devices" / "CPU_INTERPRETER" / "bench" / "square.json", BenchFile
    )
    shas = {r.M: r.provenance.git_sha for r in saved.rows}
    assert shas == {1: "a" * 40, 2: "b" * 40}


def test_batched_providers_on_a_tiny_mla_shape(tmp_path, device):
    chosen = pv.select(["a16w8-triton", "a16w8-bmm-bf16", "a16w8-dequant-bmm"])
    task = plan.SweepPoint(pv.Problem(M=3, N=128, K=64, B=2, kind=pv.Kind.BATCHED))
    ctx = pv.BenchContext(device=torch.device(device))  # bf16 out, as the MLA sweep
    result = run_sweep(
        "mla", [task], chosen, ctx, collect_cpu(), CEILINGS, tmp_path, replays=1, progress=False
    )
    for row in result.rows:
        assert row.measurement.status == Status.OK, (row.provider, row.measurement.message)
        assert row.B == 2 and row.reference_tflops is None
    assert "a16w8-triton" in report.mla_table(result.rows)


def test_row_schema_round_trip_and_corrupt_files(tmp_path):
    row = BenchRow(
        provider="triton-fp8-block-default",
        sweep="mla",
        model="deepseek-v3",
        layer="q_nope x W_UK",
        tp=8,
        M=32,
        N=512,
        K=128,
        B=16,
        measurement=Measurement(
            config={"BLOCK_SIZE_M": 64},
            status=Status.OK,
            latency_us=10.0,
            p20_us=9.5,
            p80_us=11.0,
            tflops=1.2,
            rel_error=1e-3,
        ),
        gbps=100.0,
        roofline_pct=12.5,
        reference_tflops=2.251,
        reference_label=mla_figures().label,
    )
    failed = row.model_copy(
        update={
            "provider": "cublas-fp8-block",
            "roofline_pct": None,
            "gbps": None,
            "measurement": Measurement(status=Status.UNSUPPORTED, message="refused"),
        }
    )
    path = tmp_path / "bench" / "mla.json"
    bf = BenchFile(sweep="mla", provenance=collect_cpu(), ceilings=CEILINGS, rows=[row, failed])
    records.save(path, bf)
    assert records.load(path, BenchFile) == bf

    path.write_text("{ not json")
    with pytest.raises(SiteDataError, match="not valid JSON"):
        records.load(path, BenchFile)
    raw = json.loads(bf.model_dump_json())
    raw["rows"][0]["measurement"]["status"] = "fast"
    path.write_text(json.dumps(raw))
    with pytest.raises(SiteDataError, match="status"):
        store.load_rows(path)


def test_model_tasks_skip_unsplittable_combinations_with_a_warning():
    from generator.data.models import list_bundled

    warnings: list[str] = []
    models = [(load_model(m), False) for m in list_bundled()]
    tasks = plan.model_points(models, None, [1, 64], warnings.append)
    assert any("qwen2.5-72b" in w and "3696" in w for w in warnings)
    assert all("\n" not in w for w in warnings)
    nk = {(t.problem.N, t.problem.K) for t in tasks}
    assert len(tasks) == 2 * len(nk)  # each distinct shape once per M
    labels = [lb for t in tasks if t.problem.M == 1 for lb in t.labels]
    assert len(labels) > len(nk)  # shared shapes carry several layer labels
    with pytest.raises(Exception, match="3696"):
        plan.model_points([(load_model("qwen2.5-72b"), True)], [8], [1], warnings.append)


def test_mla_sweep_covers_the_reference_table():
    tasks = plan.mla_points(
        [(load_model("deepseek-v3"), True)], None, plan.MLA_BATCH_SIZES, lambda m: None
    )
    keys = {(t.problem.B, t.problem.M, t.problem.N, t.problem.K) for t in tasks}
    assert keys == set(mla_figures().tflops) and len(tasks) == 24
    assert all(t.problem.kind == pv.Kind.BATCHED for t in tasks)
    assert {t.labels[0].tp for t in tasks} == {8, 4, 2, 1}


def test_square_and_range_tasks():
    assert [t.problem.M for t in plan.square_points([64, 128, 64])] == [64, 128]
    rng = plan.range_points(256, 1024, 256, n_constant=4096)
    assert [(t.problem.M, t.problem.N, t.problem.K) for t in rng] == [
        (256, 4096, 256),
        (512, 4096, 512),
        (768, 4096, 768),
        (1024, 4096, 1024),
    ]
    with pytest.raises(Exception, match="dim-increment"):
        plan.range_points(256, 128, 0)


# --------------------------------------------------------------------------------------------
# CLI


@pytest.mark.skipif(HAS_CUDA, reason="the no-GPU path")
def test_cli_without_gpu_writes_nothing(tmp_path, capsys):
    assert main(["bench", "--save-path", str(tmp_path)]) == 0
    assert "no CUDA GPU: nothing benchmarked (site_data unchanged)" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_cli_unknown_provider_exits_2(tmp_path, capsys):
    assert (
        main(["bench", "--providers", "torch-bf16,warp-speed", "--save-path", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: unknown provider(s) warp-speed; known: torch-bf16")
    assert err.count("\n") == 1


def test_cli_bad_model_exits_2(tmp_path):
    assert main(["bench", "--model", "gpt-17", "--save-path", str(tmp_path)]) == 2


def test_cli_list_providers(capsys):
    assert main(["bench", "--list-providers"]) == 0
    out = capsys.readouterr().out
    assert "cublas-fp8-block-noquant" in out and "quant+gemm" in out


def test_cli_allow_cpu_tiny_run_writes_a_valid_bench_file(tmp_path, capsys):
    argv = [
        "bench",
        "--allow-cpu",
        "--sweep",
        "square",
        "--square-sizes",
        "64",
        "--providers",
        "torch-bf16,triton-int8-azp-bias,fp8-channel",
        "--out-dtype",
        "float16",
        "--replays",
        "1",
        "--save-path",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(argv) == 0
    (path,) = tmp_path.glob("devices/*/bench/square.json")
    bf = records.load(path, BenchFile)
    assert bf.sweep == "square" and bf.ceilings.copy_gbps > 0
    statuses = {r.provider: r.measurement.status for r in bf.rows}
    assert statuses["torch-bf16"] == Status.OK
    assert statuses["triton-int8-azp-bias"] == Status.OK
    assert statuses["fp8-channel"] == (Status.OK if HAS_CUDA else Status.UNSUPPORTED)
    assert all(r.measurement.rel_error is not None for r in bf.rows if r.measurement.status == "ok")
    assert main(argv) == 0  # rerun: same keys, no duplicates
    assert len(records.load(path, BenchFile).rows) == 3
