"""The engines' dispatch rules: what each engine runs for a block-FP8 layer, and how to force."""

from __future__ import annotations

import copy
import json

import pytest

from generator.data import dispatch
from generator.data.dispatch import LinearProblem, default_backend, force
from generator.data.models import load_model, unique_nk, weight_shapes
from generator.errors import UserError

V3_TP8 = unique_nk(weight_shapes(load_model("deepseek-v3"), 8))
MS = (1, 16, 31, 32, 4096)


def _run(engine: str, arch: str, N: int, K: int, M: int, out: str = "bfloat16") -> str:
    version = dispatch.engine_rules(engine).version
    return default_backend(engine, version, arch, LinearProblem(N, K, M, out)).backend.id


def test_the_deepseek_v3_tp8_shapes_are_the_fifteen_the_rules_are_checked_on():
    assert len(V3_TP8) == 15
    assert all(n % 64 == 0 and k % 128 == 0 for n, k in V3_TP8)


@pytest.mark.parametrize("N,K", V3_TP8)
def test_hopper_bf16_vllm_splits_at_32_and_sglang_runs_deepgemm_everywhere(N, K):
    assert [_run("vllm", "sm_90", N, K, M) for M in MS] == [
        "flashinfer-swapab",
        "flashinfer-swapab",
        "flashinfer-swapab",
        "deepgemm",
        "deepgemm",
    ]
    assert {_run("sglang", "sm_90", N, K, M) for M in MS} == {"deepgemm"}


def test_the_decision_names_the_rule_and_its_sources():
    d = default_backend("vllm", "0.33.0", "sm_90", LinearProblem(24576, 7168, 16))
    assert d.rule.id == "vllm-sm90-bf16-small-m"
    assert d.backend.provider == "flashinfer-fp8-block-swapab"
    assert (
        d.backend.stand_in == "deepgemm-fp8-block"
        and "could not be installed on the benchmark machine" in d.backend.stand_in_reason
    )
    files = {s.file for s in d.rule.sources}
    assert "vllm/model_executor/kernels/linear/__init__.py" in files
    assert all(s.repo == "vllm-project/vllm" and "v0.33.0" in s.ref for s in d.rule.sources)
    assert "lines 494-520" in d.rule.sources[0].cite()
    assert d.rule.when.describe() == "sm_90, bfloat16 output, N % 64 == 0, K % 128 == 0, M <= 31"


@pytest.mark.parametrize("arch", ["sm_90", "sm_100"])
def test_fp16_output_is_cutlass_in_vllm_and_triton_in_sglang(arch):
    for M in MS:
        assert _run("vllm", arch, 7168, 2048, M, "float16") == "cutlass"
        assert _run("sglang", arch, 7168, 2048, M, "float16") == "triton"


@pytest.mark.parametrize("N,K", [(1056, 7168), (7168, 4160)])
def test_a_shape_deepgemm_refuses_goes_to_cutlass_in_vllm_and_triton_in_sglang(N, K):
    """N % 64 != 0 (1056 = 16.5 x 64) or K % 128 != 0 (4160 = 32.5 x 128)."""
    for arch in ("sm_90", "sm_100"):
        for M in MS:
            assert _run("vllm", arch, N, K, M) == "cutlass"
            assert _run("sglang", arch, N, K, M) == "triton"


def test_blackwell_runs_deepgemm_at_every_m_in_both_engines():
    for N, K in V3_TP8:
        for M in MS:
            assert _run("vllm", "sm_100", N, K, M) == "deepgemm"
            assert _run("sglang", "sm_100", N, K, M) == "deepgemm"


def test_ada_is_fp8_marlin_in_vllm_and_triton_in_sglang():
    for out in ("bfloat16", "float16"):
        for M in MS:
            assert _run("vllm", "sm_89", 7168, 2048, M, out) == "marlin"
            assert _run("sglang", "sm_89", 7168, 2048, M, out) == "triton"


def test_rocm_runs_the_triton_kernel_in_both_engines():
    for engine in ("vllm", "sglang"):
        for out in ("bfloat16", "float16"):
            assert {_run(engine, "rocm", N, K, M, out) for N, K in V3_TP8 for M in MS} == {"triton"}


def test_every_architecture_dtype_and_shape_class_has_a_rule():
    table = dispatch.rule_table()
    for rules in table.engines:
        for arch in table.archs:
            for out in table.out_dtypes:
                for N, K in ((4096, 7168), (1056, 7168), (4096, 4160)):
                    for M in (1, 31, 32, 33, 65536):
                        p = LinearProblem(N, K, M, out)
                        d = default_backend(rules.engine, rules.version, arch, p)
                        assert d.backend.id in rules.backends


def test_forcing_triton_names_each_engines_flag_and_variable():
    vllm = {f.setting for f in force("vllm", "triton")}
    assert "--linear-backend triton" in vllm
    assert any(s.startswith("VLLM_DISABLED_KERNELS=") for s in vllm)
    assert any("linear_backend_per_quant" in s and "fp8_block_w8a8" in s for s in vllm)
    disabled = next(s for s in vllm if s.startswith("VLLM_DISABLED_KERNELS="))
    # every kernel vLLM's CUDA list tries before Triton is in the variable
    for kernel in (
        "FlashInferFp8DeepGEMMDynamicBlockScaledKernel",
        "DeepGemmFp8BlockScaledMMKernel",
        "CutlassFp8BlockScaledMMKernel",
        "MarlinFP8ScaledMMLinearKernel",
        "HummingFP8ScaledMMLinearKernel",
    ):
        assert kernel in disabled.split("=", 1)[1].split(",")
    sglang = {f.setting: f for f in force("sglang", "triton", "0.5.23")}
    assert set(sglang) == {"--fp8-gemm-backend triton", "SGLANG_ENABLE_JIT_DEEPGEMM=0"}
    assert "MoE" in sglang["SGLANG_ENABLE_JIT_DEEPGEMM=0"].effect
    assert sglang["--fp8-gemm-backend triton"].kind == "flag"
    assert sglang["SGLANG_ENABLE_JIT_DEEPGEMM=0"].kind == "env"


def test_forcing_deepgemm_and_what_disabling_it_gives():
    vllm = dispatch.engine_rules("vllm", "0.33.0").backends["deepgemm"]
    assert "--linear-backend deep_gemm" in {f.setting for f in vllm.force}
    # VLLM_USE_DEEP_GEMM=0 does not give Triton on Hopper: CUTLASS is next in vLLM's list
    (off,) = vllm.disable
    assert off.setting == "VLLM_USE_DEEP_GEMM=0" and "CUTLASS" in off.effect
    assert force("sglang", "deepgemm")[0].setting == "--fp8-gemm-backend deep_gemm"
    assert force("vllm", "flashinfer-swapab")[0].setting == "--linear-backend flashinfer_cutlass"


def test_forcing_is_global_to_the_engine_process():
    for rules in dispatch.rule_table().engines:
        assert "process" in rules.forcing_scope and "every" in rules.forcing_scope
        assert "per-layer" in rules.forcing_scope or "every shape" in rules.forcing_scope


def test_every_rule_and_setting_cites_its_source():
    for rules in dispatch.rule_table().engines:
        prefix = {"vllm": "vllm/", "sglang": "python/sglang/"}[rules.engine]
        cited = [s for r in rules.rules for s in r.sources]
        cited += [f.source for b in rules.backends.values() for f in (*b.force, *b.disable)]
        for s in cited:
            assert s.function and s.lines[0] <= s.lines[1]
            assert s.file.startswith(prefix) or s.file.startswith("csrc/"), s.file
            assert s.repo == rules.repo or s.file.startswith("csrc/")
            assert rules.version in s.ref or "commit" in s.ref


def test_sglang_names_the_config_folder_its_wheel_loads():
    triton = dispatch.engine_rules("sglang", "0.5.23").backends["triton"]
    assert "sglang/kernels/ops/gemm/configs/" in triton.kernel


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: _run("tgi", "sm_90", 128, 128, 1), "unknown engine 'tgi'; known: sglang, vllm"),
        (
            lambda: default_backend("vllm", "0.1.0", "sm_90", LinearProblem(128, 128, 1)),
            "no dispatch rules for vllm 0.1.0; known: 0.33.0",
        ),
        (lambda: _run("vllm", "sm_80", 128, 128, 1), "unknown GPU architecture 'sm_80'"),
        (
            lambda: default_backend(
                "vllm", "0.33.0", "sm_90", LinearProblem(128, 128, 1, input_type="int8")
            ),
            "cover input type fp8, not 'int8'",
        ),
        (
            lambda: default_backend(
                "vllm", "0.33.0", "sm_90", LinearProblem(128, 128, 1, block=(64, 64))
            ),
            r"cover block \[128, 128\], not \[64, 64\]",
        ),
        (lambda: _run("vllm", "sm_90", 128, 128, 1, "float32"), "output dtype 'float32'"),
        (lambda: _run("vllm", "sm_90", 128, 128, 0), "M must be >= 1, got 0"),
        (lambda: force("vllm", "cublas"), "vllm 0.33.0 has no backend 'cublas'; known:"),
    ],
)
def test_bad_questions_are_one_line_errors(call, match):
    with pytest.raises(UserError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def _raw() -> dict:
    return json.loads(dispatch.RULES_PATH.read_text(encoding="utf-8"))


def _broken(edit) -> dict:
    raw = copy.deepcopy(_raw())
    edit(raw)
    return raw


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda r: r["engines"][0]["rules"][0].update(backend="cublas"), "undeclared backend"),
        (lambda r: r["engines"][0]["rules"][0]["when"].update(gpu="h100"), "unknown condition"),
        (lambda r: r["engines"][0]["rules"][0]["when"].update(arch=["sm_75"]), "architecture"),
        (lambda r: r["engines"][0]["rules"][1].update(id="vllm-rocm"), "same id"),
        (lambda r: r["engines"][0]["rules"][0].update(sources=[]), "no source cited"),
        (lambda r: r["engines"].append(r["engines"][1]), "listed twice"),
        (lambda r: r["engines"][1]["backends"]["triton"]["force"][0].update(kind="cli"), "kind"),
        (lambda r: r["engines"][0]["rules"][0]["sources"][0].update(lines=[9, 3]), "line range"),
        (lambda r: r["engines"][0].pop("forcing_scope"), "malformed"),
        (lambda r: r["device_archs"]["recorded"].update(sm_75="sm_75"), "device_archs"),
        (lambda r: r.pop("device_archs"), "malformed"),
    ],
)
def test_a_broken_rule_file_is_refused_naming_the_entry(edit, match):
    with pytest.raises(UserError, match=match):
        dispatch.parse_rule_table(_broken(edit), "rules.json")


def test_the_committed_file_parses_and_orders_each_engines_rules():
    table = dispatch.parse_rule_table(_raw(), "rules.json")
    vllm = next(e for e in table.engines if e.engine == "vllm")
    assert [r.id for r in vllm.rules][:2] == ["vllm-sm90-bf16-small-m", "vllm-sm90-bf16-large-m"]
    assert table.archs.keys() == {"sm_89", "sm_90", "sm_100", "rocm"}


def test_an_unreadable_rule_file_is_one_line(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="cannot read the dispatch rules"):
        dispatch.rule_table(bad)


@pytest.mark.parametrize(
    "device, recorded, arch",
    [
        ("NVIDIA_H200", None, "sm_90"),  # records before runs recorded an architecture
        ("NVIDIA_H100_80GB_HBM3", None, "sm_90"),
        ("NVIDIA_B200", None, "sm_100"),
        ("NVIDIA_L40S", None, "sm_89"),
        ("AMD_Instinct_MI300X", None, "rocm"),
        ("NVIDIA_H200", "sm_90", "sm_90"),
        ("AMD_Instinct_MI355X", "gfx950", "rocm"),
        ("SYNTHETIC_GPU", "sm_103", "sm_100"),  # the recorded architecture wins over the name
        ("NVIDIA_H200", "sm_120", None),  # consumer Blackwell: no rule covers it
        ("NVIDIA_A100_80GB", None, None),  # Ampere: not covered
    ],
)
def test_a_measured_device_maps_onto_the_rules_architectures(device, recorded, arch):
    assert dispatch.rule_arch(device, recorded) == arch
