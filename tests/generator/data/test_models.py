"""Model shapes: the numbers of /work/shared/MODELS.md, the checks, and the ``shapes`` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from generator import cli
from generator.data import models, records, shapes_cli
from generator.data.models import (
    fits_one_gpu,
    load_hf_config,
    load_model,
    mla_batched_shapes,
    unique_nk,
    weight_shapes,
)
from generator.errors import UserError

BUNDLED = [
    "deepseek-v3",
    "llama-3.1-70b",
    "llama-3.1-8b",
    "mistral-large-2407",
    "qwen2.5-72b",
    "qwen3-32b",
    "qwen3-vl-32b",
]

# vLLM's benchmark_w8a8_block_fp8.py list for DeepSeek-V3 at TP 8 (MODELS.md).
DEEPSEEK_TP8 = [
    (576, 7168),
    (2112, 7168),
    (24576, 7168),
    (32768, 512),
    (7168, 16384),
    (7168, 18432),
    (4608, 7168),
    (3072, 7168),
    (4096, 512),
    (3072, 1536),
    (1536, 7168),
    (512, 7168),
    (7168, 2304),
    (7168, 2048),
    (7168, 256),
]

# The same list at TP 1: the N/TP and K/TP groups at full size, deduplicated.
DEEPSEEK_TP1 = [
    (576, 7168),
    (2112, 7168),
    (24576, 7168),
    (32768, 512),
    (7168, 16384),
    (7168, 18432),
    (36864, 7168),
    (24576, 1536),
    (12288, 7168),
    (4096, 7168),
    (7168, 2048),
]


def _by_layer(shapes: list[models.WeightShape]) -> dict[str, tuple[int, int]]:
    return {s.layer: (s.N, s.K) for s in shapes}


def _write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


# --- bundled models ---------------------------------------------------------------------------


def test_bundled_ids():
    assert models.list_bundled() == BUNDLED


@pytest.mark.parametrize("model_id", BUNDLED)
def test_bundled_files_validate(model_id):
    path = models.DEFAULT_SITE_DATA / "models" / f"{model_id}.json"
    record = records.load(path, records.ModelFile)
    assert record.id == model_id
    assert "config.json" in record.source
    spec = load_model(model_id)
    assert spec.id == model_id and spec.hf_name == record.hf_name


def test_load_by_hf_name_any_case():
    assert load_model("Qwen/Qwen3-32B").id == "qwen3-32b"
    assert load_model("deepseek-v3").id == load_model("DeepSeek-V3").id == "deepseek-v3"


def test_site_data_is_overridable(tmp_path):
    (tmp_path / "models").mkdir()
    src = models.DEFAULT_SITE_DATA / "models" / "llama-3.1-8b.json"
    (tmp_path / "models" / "llama-3.1-8b.json").write_text(src.read_text())
    assert models.list_bundled(tmp_path) == ["llama-3.1-8b"]
    assert load_model("llama-3.1-8b", tmp_path).hidden_size == 4096
    with pytest.raises(UserError, match="bundled: llama-3.1-8b$"):
        load_model("qwen3-32b", tmp_path)


# --- DeepSeek-V3 / R1 -------------------------------------------------------------------------


def test_deepseek_tp8_is_vllms_list():
    pairs = unique_nk(weight_shapes(load_model("deepseek-v3"), 8))
    assert len(pairs) == 15
    assert set(pairs) == set(DEEPSEEK_TP8)
    assert pairs == DEEPSEEK_TP8  # same order as vLLM's tuner, too


def test_deepseek_tp1():
    pairs = unique_nk(weight_shapes(load_model("deepseek-v3"), 1))
    assert len(pairs) == len(DEEPSEEK_TP1)
    assert set(pairs) == set(DEEPSEEK_TP1)


def test_deepseek_named_layers_tp8():
    layers = _by_layer(weight_shapes(load_model("deepseek-v3"), 8))
    assert layers["kv_a_proj"] == (576, 7168)
    assert layers["fused_qkv_a_proj"] == (2112, 7168)
    assert layers["q_b_proj"] == (3072, 1536)
    assert layers["kv_b_proj"] == (4096, 512)
    assert layers["kv_b_proj (unsplit)"] == (32768, 512)
    assert layers["o_proj"] == (7168, 2048)
    assert layers["dense_gate_up"] == (4608, 7168)
    assert layers["dense_down"] == (7168, 2304)
    assert layers["shared_expert_gate_up"] == (512, 7168)
    assert layers["shared_expert_down"] == (7168, 256)


def test_deepseek_shapes_follow_the_config(tmp_path):
    """Derived from fields, not constants: halving the heads halves the head-split layers."""
    cfg = load_model("deepseek-v3")
    raw = json.loads((models.DEFAULT_SITE_DATA / "models" / "deepseek-v3.json").read_text())
    raw["config"]["num_attention_heads"] = 64
    spec = load_hf_config(_write_json(tmp_path / "config.json", raw["config"]))
    layers = _by_layer(weight_shapes(spec, 1))
    assert layers["kv_b_proj"] == (64 * 256, cfg.mla.kv_lora_rank)
    assert layers["o_proj"] == (7168, 64 * 128)
    assert layers["kv_a_proj"] == (576, 7168)


def test_vllm_nameless_pair_is_named_q_a_proj_from_the_config(tmp_path):
    """vLLM's nameless (12288, 7168) / TP is, at DeepSeek-V3 TP 8, 1536 x 7168: q_a_proj
    (q_lora_rank x hidden, MODELS.md), named so; at TP 4 (3072 x 7168) no layer has it. The
    name comes from the config: with another q_lora_rank the same 1536 x 7168 is nameless."""
    spec = load_model("deepseek-v3")
    assert spec.mla is not None and (spec.mla.q_lora_rank, spec.hidden_size) == (1536, 7168)
    assert models.layer_names(spec, 8, 1536, 7168) == [models.Q_A_UNFUSED]
    assert models.layer_names(spec, 4, 3072, 7168) == ["unattributed (vLLM list)"]
    assert not any("unattributed" in s.layer for s in weight_shapes(spec, 8))
    raw = json.loads((models.DEFAULT_SITE_DATA / "models" / "deepseek-v3.json").read_text())
    raw["config"]["q_lora_rank"] = 1024
    other = load_hf_config(_write_json(tmp_path / "config.json", raw["config"]))
    assert models.layer_names(other, 8, 1536, 7168) == ["unattributed (vLLM list)"]


def test_unsplit_shapes_are_data_parallel_attention_only():
    """At TP 8 the four "(unsplit)" pairs are layers at full size, which run only with
    data-parallel attention; at TP 1 they are the split layers themselves, so none is."""
    spec = load_model("deepseek-v3")
    tp8 = weight_shapes(spec, 8)
    assert models.dp_attention_only(tp8) == {
        (24576, 7168),
        (32768, 512),
        (7168, 16384),
        (7168, 18432),
    }
    assert {s.layer for s in tp8 if s.unsplit} == {
        "q_proj (unsplit)",
        "kv_b_proj (unsplit)",
        "o_proj (unsplit)",
        "dense_down (unsplit)",
    }
    assert models.dp_attention_only(weight_shapes(spec, 1)) == set()
    assert models.dp_attention_only(weight_shapes(load_model("qwen3-32b"), 8)) == set()


@pytest.mark.parametrize("tp, batch", [(1, 128), (2, 64), (4, 32), (8, 16)])
def test_mla_batched_shapes(tp, batch):
    shapes = mla_batched_shapes(load_model("deepseek-v3"), tp)
    assert [(s.layer, s.B, s.N, s.K) for s in shapes] == [
        ("q_nope x W_UK", batch, 512, 128),
        ("attn_out x W_UV", batch, 128, 512),
    ]


def test_mla_batched_shapes_empty_for_dense_models():
    assert mla_batched_shapes(load_model("qwen3-32b"), 8) == []


# --- dense GQA models -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tp, expected",
    [
        (1, {"qkv_proj": (10240, 5120), "o_proj": (5120, 8192),
             "gate_up_proj": (51200, 5120), "down_proj": (5120, 25600)}),
        (8, {"qkv_proj": (1280, 5120), "o_proj": (5120, 1024),
             "gate_up_proj": (6400, 5120), "down_proj": (5120, 3200)}),
    ],
)  # fmt: skip
def test_qwen3_vl_32b_example(tp, expected):
    shapes = weight_shapes(load_model("qwen3-vl-32b"), tp)
    assert _by_layer(shapes) == expected
    assert all(s.tp == tp and s.model == "qwen3-vl-32b" for s in shapes)


def test_qwen3_vl_text_tower_equals_qwen3_32b():
    vl, text = load_model("qwen3-vl-32b"), load_model("qwen3-32b")
    assert unique_nk(weight_shapes(vl, 8)) == unique_nk(weight_shapes(text, 8))


def test_missing_head_dim_is_hidden_over_heads():
    spec = load_model("llama-3.1-70b")
    assert spec.head_dim == 128
    assert _by_layer(weight_shapes(spec, 8))["qkv_proj"] == (1280, 8192)


def test_kv_heads_replicated_when_tp_exceeds_them():
    # Llama-3.1-8B has 8 KV heads; at TP 16 each rank keeps one KV head (replicated), not half.
    shapes = _by_layer(weight_shapes(load_model("llama-3.1-8b"), 16, block_k=128))
    assert shapes["qkv_proj"] == ((32 // 16 + 2 * 1) * 128, 4096)


# --- memory -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id, fits",
    [
        ("llama-3.1-8b", True),
        ("qwen3-32b", True),
        ("qwen3-vl-32b", True),
        ("llama-3.1-70b", False),
        ("qwen2.5-72b", False),
        ("mistral-large-2407", False),
        ("deepseek-v3", False),
    ],
)
def test_fits_one_gpu(model_id, fits):
    spec = load_model(model_id)
    assert fits_one_gpu(spec) is fits
    assert models.default_tp_sizes(spec) == ([1, 8] if fits else [8])


def test_fp8_weight_bytes_counts_routed_experts():
    # DeepSeek-V3 is ~671B parameters, nearly all in its 256 routed experts.
    assert 640e9 < models.fp8_weight_bytes(load_model("deepseek-v3")) < 700e9
    assert fits_one_gpu(load_model("llama-3.1-70b"), gpu_memory_bytes=141e9)


# --- errors -----------------------------------------------------------------------------------


def test_unknown_model():
    with pytest.raises(UserError, match=r"unknown model 'gpt-5'; bundled: deepseek-v3, llama"):
        load_model("gpt-5")


@pytest.mark.parametrize("tp", [0, -8])
def test_bad_tp(tp):
    with pytest.raises(UserError, match=f"tp must be at least 1, got {tp}"):
        weight_shapes(load_model("qwen3-32b"), tp)
    with pytest.raises(UserError, match="tp must be at least 1"):
        mla_batched_shapes(load_model("deepseek-v3"), tp)


def test_tp_not_dividing():
    with pytest.raises(UserError, match="tp 3 does not divide N=10240 of qwen3-32b qkv"):
        weight_shapes(load_model("qwen3-32b"), 3)
    with pytest.raises(
        UserError, match="tp 5 does not divide N=36864 of deepseek-v3 dense_gate_up"
    ):
        weight_shapes(load_model("deepseek-v3"), 5)
    with pytest.raises(UserError, match="tp 3 does not divide heads=128 of deepseek-v3"):
        mla_batched_shapes(load_model("deepseek-v3"), 3)


def test_k_not_multiple_of_block_k():
    # Qwen2.5-72B: intermediate 29568 / 8 = 3696 = 28.875 blocks of 128.
    with pytest.raises(UserError, match="K=3696 of qwen2.5-72b down_proj at tp 8 .* block_k 128"):
        weight_shapes(load_model("qwen2.5-72b"), 8)
    assert weight_shapes(load_model("qwen2.5-72b"), 1)  # whole, it is fine


def test_n_need_not_be_multiple_of_block_n():
    # kv_a_proj N=576 is 4.5 blocks of 128: allowed, the kernel masks the tail.
    assert weight_shapes(load_model("deepseek-v3"), 8, block_n=128)


def test_corrupt_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 4096,')
    with pytest.raises(UserError, match=r"config\.json: not valid JSON"):
        load_hf_config(path)


def test_unreadable_config(tmp_path):
    with pytest.raises(UserError, match=r"nope\.json: cannot read"):
        load_hf_config(tmp_path / "nope.json")


def test_config_missing_field(tmp_path):
    cfg = {"hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32}
    path = _write_json(tmp_path / "config.json", cfg)
    with pytest.raises(UserError, match=r"config\.json: field 'intermediate_size' is missing"):
        load_hf_config(path)


def test_config_bad_field_type(tmp_path):
    cfg = {"hidden_size": "4096", "num_attention_heads": 32}
    path = _write_json(tmp_path / "config.json", cfg)
    with pytest.raises(UserError, match=r"field 'hidden_size' must be a non-negative integer"):
        load_hf_config(path)


def test_non_deepseek_moe_is_refused(tmp_path):
    cfg = {"hidden_size": 4096, "num_attention_heads": 32, "num_experts": 128}
    with pytest.raises(UserError, match=r"field 'num_experts': mixture-of-experts"):
        load_hf_config(_write_json(tmp_path / "config.json", cfg))


def test_corrupt_bundled_file(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "broken.json").write_text("{")
    with pytest.raises(records.SiteDataError, match=r"broken\.json: not valid JSON"):
        load_model("broken", tmp_path)


# --- load_hf_config ---------------------------------------------------------------------------


def test_load_hf_config_nested_text_config(tmp_path):
    """A synthetic multimodal config: only text_config decides the shapes."""
    cfg = {
        "_name_or_path": "acme/Tiny-VL",
        "model_type": "tiny_vl",
        "hidden_size": 999,  # top-level fields of a VL config are not the text tower's
        "vision_config": {"hidden_size": 1152, "intermediate_size": 4304},
        "text_config": {
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_attention_heads": 16,
            "num_key_value_heads": 4,
            "num_hidden_layers": 12,
        },
    }
    model_dir = tmp_path / "tiny"
    model_dir.mkdir()
    _write_json(model_dir / "config.json", cfg)
    spec = load_hf_config(model_dir)  # the directory works as well as the file
    assert (spec.id, spec.hf_name, spec.hidden_size, spec.head_dim) == (
        "tiny-vl",
        "acme/Tiny-VL",
        1024,
        64,
    )
    assert _by_layer(weight_shapes(spec, 2)) == {
        "qkv_proj": ((16 + 8) * 64 // 2, 1024),
        "o_proj": (1024, 512),
        "gate_up_proj": (3072, 1024),
        "down_proj": (1024, 1536),
    }
    del cfg["text_config"]["num_hidden_layers"]
    _write_json(model_dir / "config.json", cfg)
    with pytest.raises(UserError, match="field 'text_config.num_hidden_layers' is missing"):
        load_hf_config(model_dir)


# --- the shapes command -----------------------------------------------------------------------


def _shapes_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m generator")
    sub = parser.add_subparsers(dest="command", required=True)
    shapes_cli.add_parser(sub, "shapes")
    return parser


def _run_shapes(argv: list[str]) -> int:
    args = _shapes_parser().parse_args(["shapes", *argv])
    return args.func(args)


def test_shapes_command_deepseek(capsys):
    assert _run_shapes(["--model", "deepseek-v3"]) == 0
    out = capsys.readouterr().out
    assert "deepseek-v3 tp 8: 15 pairs: " in out
    for n, k in DEEPSEEK_TP8:
        assert f"({n}, {k})" in out
    assert "q_nope x W_UK" in out and "attn_out x W_UV" in out


def test_shapes_command_repeatable_flags(capsys, tmp_path):
    cfg = {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 8,
           "num_hidden_layers": 4, "_name_or_path": "acme/tiny"}  # fmt: skip
    path = _write_json(tmp_path / "config.json", cfg)
    argv = ["--model", "qwen3-32b", "--model-config", str(path), "--tp-size", "1", "--tp-size", "8"]
    assert _run_shapes(argv) == 0
    out = capsys.readouterr().out
    for line in ["qwen3-32b tp 1:", "qwen3-32b tp 8:", "tiny tp 1:", "tiny tp 8:"]:
        assert line in out
    assert "MLA" not in out


def test_shapes_command_all_skips_what_cannot_run(capsys):
    assert _run_shapes([]) == 0  # default: all bundled models at tp 8
    captured = capsys.readouterr()
    for model_id in BUNDLED:
        if model_id != "qwen2.5-72b":
            assert f"{model_id} tp 8:" in captured.out
    assert "skipped: K=3696 of qwen2.5-72b" in captured.err


def test_shapes_command_errors():
    with pytest.raises(UserError, match="unknown model 'nope'"):
        _run_shapes(["--model", "nope"])
    with pytest.raises(UserError, match="--tp-size must be at least 1, got 0"):
        _run_shapes(["--tp-size", "0"])
    with pytest.raises(UserError, match="qwen2.5-72b"):  # named explicitly: fails, not skipped
        _run_shapes(["--model", "qwen2.5-72b"])


def test_shapes_help_documents_every_flag():
    help_text = _shapes_parser()._subparsers._group_actions[0].choices["shapes"].format_help()
    for flag in ["--model", "--model-config", "--tp-size", "--block-n", "--block-k"]:
        assert flag in help_text


def test_every_command_module_imports():
    """generator.cli imports each command's module to build its parser: an import error in any
    of them is a broken command line, so it fails here (no command depends on an optional
    extra at import time)."""
    parser = cli.build_parser()
    choices = parser._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(cli.COMMANDS)


def test_main_shapes(capsys):
    assert cli.main(["shapes", "--model", "deepseek-v3"]) == 0
    assert "(7168, 256)" in capsys.readouterr().out


def test_main_unknown_model_exits_2(capsys):
    assert cli.main(["shapes", "--model", "nope"]) == 2
    assert "error: unknown model 'nope'; bundled: deepseek-v3" in capsys.readouterr().err
