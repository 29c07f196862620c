"""Model definitions and the GEMM shapes their linear layers run under tensor parallelism.

Why this module exists: the tuner and the benchmark should spend their time on the (N, K) weight
shapes that real models run, not on a grid. A linear layer computes ``y = x W^T`` with ``W`` of
shape ``(N, K)`` (N output features, K input features); M is the number of tokens and is swept
elsewhere. Tensor parallelism (TP) shards each weight one of two ways:

* column-parallel (QKV, gate+up): every rank holds ``N / tp`` output features, K is whole;
* row-parallel (O, down): every rank holds ``K / tp`` input features, N is whole.

So one model at one TP size gives a handful of (N, K) pairs, all derived here from the fields of
the model's Hugging Face ``config.json`` (see ``/work/shared/MODELS.md`` for the worked
numbers). Bundled models live in ``site_data/models/<id>.json``; any other model can be read
straight from its own ``config.json`` with :func:`load_hf_config`.

DeepSeek-style models (multi-head latent attention, "MLA", recognised by ``kv_lora_rank``)
follow vLLM's tuner list instead of the dense recipe; see :func:`weight_shapes`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.data import layout, records
from generator.data.safe_json import UnsafeJSON, loads_bounded, read_bounded
from generator.errors import UserError

DEFAULT_SITE_DATA = layout.DEFAULT_SITE_DATA

# Share of one GPU's memory the fp8 weights may take and still count as "fits": the rest is for
# the KV cache, activations and the CUDA graphs / workspace an inference server keeps resident.
WEIGHT_MEMORY_SHARE = 0.6


@dataclass(frozen=True)
class MLAConfig:
    """The DeepSeek MLA + MoE fields of a config (HF names). ``q_lora_rank`` is None when the
    model projects queries directly (no query LoRA, e.g. DeepSeek-V2-Lite)."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    moe_intermediate_size: int
    n_shared_experts: int
    n_routed_experts: int
    first_k_dense_replace: int


@dataclass(frozen=True)
class ModelSpec:
    """The config.json fields that decide GEMM shapes, validated and with defaults filled in.

    ``head_dim`` is always set: configs that omit it get ``hidden_size / num_attention_heads``,
    as Hugging Face does; MLA models get their query/key head width, ``qk_nope_head_dim +
    qk_rope_head_dim`` (the MLA shapes use the MLA fields, not this). ``mla`` is set only for
    DeepSeek-style models.
    """

    id: str
    hf_name: str
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    num_hidden_layers: int
    mla: MLAConfig | None = None
    source: str = ""  # the file it was read from, for messages


@dataclass(frozen=True)
class WeightShape:
    """One linear layer's per-rank weight GEMM: ``(M, K) x (N, K)^T`` on each of ``tp`` GPUs."""

    model: str
    layer: str
    N: int
    K: int
    tp: int
    # the layer at its full size although tp > 1: it runs so only with data-parallel attention
    # (each GPU holds whole attention weights), never in a plain tensor-parallel deployment
    unsplit: bool = False


@dataclass(frozen=True)
class BatchedShape:
    """One batched GEMM of MLA absorbed attention: ``B`` independent ``(M, K) x (N, K)^T``."""

    model: str
    layer: str
    B: int
    N: int
    K: int
    tp: int


# ---------------------------------------------------------------------------------------------
# Loading


def list_bundled(site_data: Path = DEFAULT_SITE_DATA) -> list[str]:
    """Ids of the models bundled under ``site_data/models/``, sorted."""
    return sorted(p.stem for p in layout.models_dir(site_data).glob("*.json"))


def load_model(name_or_id: str, site_data: Path = DEFAULT_SITE_DATA) -> ModelSpec:
    """A bundled model by id (``qwen3-32b``) or Hugging Face name (``Qwen/Qwen3-32B``, any case).

    Unknown names raise :class:`UserError` listing what is bundled, so a typo is one rerun away.
    """
    bundled = list_bundled(site_data)
    wanted = name_or_id.strip().lower()
    for model_id in bundled:
        path = layout.model_file(site_data, model_id)
        if wanted == model_id:
            return _load_bundled(path)
    for model_id in bundled:
        path = layout.model_file(site_data, model_id)
        record = records.load(path, records.ModelFile)
        if wanted in (record.hf_name.lower(), record.hf_name.rsplit("/", 1)[-1].lower()):
            return _load_bundled(path)
    raise UserError(f"unknown model '{name_or_id}'; bundled: {', '.join(bundled) or '(none)'}")


def select_models(names: Iterable[str]) -> list[tuple[ModelSpec, bool]]:
    """(spec, named explicitly) for each requested model; ``all`` means every bundled model.

    A model named explicitly wins over the same model reached through ``all`` (callers warn
    about, rather than skip, what an explicit name asks for); the first request keeps its
    place in the order.
    """
    specs: dict[str, tuple[ModelSpec, bool]] = {}
    for name in names:
        if name.lower() == "all":
            for model_id in list_bundled():
                specs.setdefault(model_id, (load_model(model_id), False))
        else:
            spec = load_model(name)
            specs[spec.id] = (spec, True)
    return list(specs.values())


def _load_bundled(path: Path) -> ModelSpec:
    record = records.load(path, records.ModelFile)
    if record.id != path.stem:
        raise records.SiteDataError(f"{path}: field 'id': '{record.id}' differs from file name")
    return spec_of(record, path)


def spec_of(record: records.ModelFile, path: Path) -> ModelSpec:
    """The shape-deciding fields of a bundled model file, validated (UserError otherwise)."""
    return _spec_from_config(record.config, str(path), record.id, record.hf_name)


# A Hugging Face config.json is a few KB; the largest (label maps, vision towers) stay far below.
MAX_CONFIG_BYTES = 4 * 2**20


def load_hf_config(path: str | Path) -> ModelSpec:
    """Any local Hugging Face ``config.json`` (or the directory holding it).

    The id is the last part of ``_name_or_path`` if the file has one, else the directory name,
    lower-cased. Unreadable or invalid JSON and missing or non-integer fields raise
    :class:`UserError` naming the file and the field.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        # bounded: a regular file of at most MAX_CONFIG_BYTES (a FIFO named as the config used
        # to hang the tuner, /dev/zero to fill the memory); nesting and integers bounded too
        text = read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8")
        raw = loads_bounded(text)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start}); a config.json is UTF-8 JSON"
        ) from None
    except UnsafeJSON as exc:
        raise UserError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    hf_name = str(raw.get("_name_or_path") or path.resolve().parent.name)
    model_id = hf_name.rstrip("/").rsplit("/", 1)[-1].lower()
    return _spec_from_config(raw, str(path), model_id, hf_name)


def _spec_from_config(raw: dict[str, Any], where: str, model_id: str, hf_name: str) -> ModelSpec:
    """Validate the shape-deciding fields of a (possibly multimodal) HF config.

    Multimodal configs (Qwen3-VL, Llava, ...) keep the language model's fields under
    ``text_config``; only the text tower's linear layers are GEMMs of this kind, so it is used
    when present and named in messages as ``text_config.<field>``.
    """
    cfg, prefix = raw, ""
    if isinstance(raw.get("text_config"), dict):
        cfg, prefix = raw["text_config"], "text_config."

    def field(key: str, required: bool = True) -> int | None:
        value = cfg.get(key)
        if value is None:
            if required:
                raise UserError(f"{where}: field '{prefix}{key}' is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(
                f"{where}: field '{prefix}{key}' must be a non-negative integer, got {value!r}"
            )
        return value

    def optional_positive(key: str) -> int | None:
        value = field(key, required=False)
        if value == 0:
            raise UserError(f"{where}: field '{prefix}{key}' must be positive, got 0")
        return value

    def positive(key: str) -> int:
        value = field(key)
        assert value is not None
        if value == 0:
            raise UserError(f"{where}: field '{prefix}{key}' must be positive, got 0")
        return value

    hidden = positive("hidden_size")
    heads = positive("num_attention_heads")
    # Absent means one KV head per query head (multi-head attention), as Hugging Face reads it.
    kv_heads = optional_positive("num_key_value_heads") or heads
    mla = None
    if cfg.get("kv_lora_rank") is not None:
        mla = MLAConfig(
            q_lora_rank=field("q_lora_rank", required=False) or None,
            kv_lora_rank=positive("kv_lora_rank"),
            qk_nope_head_dim=positive("qk_nope_head_dim"),
            qk_rope_head_dim=positive("qk_rope_head_dim"),
            v_head_dim=positive("v_head_dim"),
            moe_intermediate_size=positive("moe_intermediate_size"),
            n_shared_experts=field("n_shared_experts", required=False) or 0,
            n_routed_experts=positive("n_routed_experts"),
            first_k_dense_replace=field("first_k_dense_replace", required=False) or 0,
        )
    else:
        for key in ("num_experts", "num_local_experts", "n_routed_experts"):
            if cfg.get(key):
                raise UserError(
                    f"{where}: field '{prefix}{key}': mixture-of-experts models are supported"
                    " only in the DeepSeek (MLA) layout"
                )
    if mla is None and heads % kv_heads:  # GQA: each KV head serves a group of query heads
        raise UserError(
            f"{where}: field '{prefix}num_key_value_heads' {kv_heads} must divide"
            f" num_attention_heads {heads}"
        )
    head_dim = optional_positive("head_dim")
    if mla is not None:
        head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    elif head_dim is None:
        if hidden % heads:
            raise UserError(
                f"{where}: field '{prefix}head_dim' is missing and hidden_size {hidden} is not"
                f" a multiple of num_attention_heads {heads}"
            )
        head_dim = hidden // heads
    return ModelSpec(
        id=model_id,
        hf_name=hf_name,
        hidden_size=hidden,
        intermediate_size=positive("intermediate_size"),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        num_hidden_layers=positive("num_hidden_layers"),
        mla=mla,
        source=where,
    )


# ---------------------------------------------------------------------------------------------
# Shapes


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise UserError(f"{name} must be at least 1, got {value}")


def _split(total: int, tp: int, dim: str, spec: ModelSpec, layer: str) -> int:
    if total % tp:
        raise UserError(f"tp {tp} does not divide {dim}={total} of {spec.id} {layer}")
    return total // tp


def weight_shapes(
    spec: ModelSpec, tp: int, block_n: int = 128, block_k: int = 128
) -> list[WeightShape]:
    """Per-rank (N, K) of every distinct linear layer of ``spec`` at tensor parallelism ``tp``.

    Checks, each a one-line :class:`UserError`: ``tp`` and the blocks are at least 1; ``tp``
    divides the dimension it splits; every per-rank K is a multiple of ``block_k``. K must be,
    because a shard that cut a weight-scale block in two would pair half a block with a whole
    block's scale (vLLM refuses such a checkpoint too). N is not checked against ``block_n``: a
    partial last N block has its own scale row and the kernel masks the tail; ``block_n`` is
    taken so that callers pass the quantization block as one pair.
    """
    _check_positive("tp", tp)
    _check_positive("block_n", block_n)
    _check_positive("block_k", block_k)
    shapes = _mla_weight_shapes(spec, tp) if spec.mla else _dense_weight_shapes(spec, tp)
    for s in shapes:
        if s.K % block_k:
            raise UserError(
                f"K={s.K} of {spec.id} {s.layer} at tp {tp} is not a multiple of block_k {block_k}"
            )
    return shapes


def _dense_weight_shapes(spec: ModelSpec, tp: int) -> list[WeightShape]:
    """The four GEMMs of a GQA decoder layer (MODELS.md, "Dense decoder layer").

    QKV: when ``tp`` exceeds the number of KV heads, vLLM replicates KV heads so every rank
    holds one, so per-rank N is ``(heads / tp + 2 * max(kv / tp, 1)) * head_dim`` rather than
    N / tp; for ``tp <= kv`` the two agree.
    """
    q, kv, hd = spec.num_attention_heads, spec.num_key_value_heads, spec.head_dim
    qkv_n = (q + 2 * kv) * hd
    if q % tp or (kv % tp if kv >= tp else tp % kv):
        raise UserError(
            f"tp {tp} does not divide N={qkv_n} of {spec.id} qkv_proj"
            f" ({q} query heads, {kv} kv heads)"
        )
    hidden, inter = spec.hidden_size, spec.intermediate_size
    rows = [
        ("qkv_proj", (q // tp + 2 * max(kv // tp, 1)) * hd, hidden),
        ("o_proj", hidden, _split(q * hd, tp, "K", spec, "o_proj")),
        ("gate_up_proj", _split(2 * inter, tp, "N", spec, "gate_up_proj"), hidden),
        ("down_proj", hidden, _split(inter, tp, "K", spec, "down_proj")),
    ]
    return [WeightShape(spec.id, layer, n, k, tp) for layer, n, k in rows]


def _mla_weight_shapes(spec: ModelSpec, tp: int) -> list[WeightShape]:
    """DeepSeek (MLA + MoE): vLLM's ``benchmark_w8a8_block_fp8.py`` list, derived from config.

    Order and grouping follow vLLM so that ``unique_nk`` gives its pairs in its order:

    * whole at any ``tp``: the latent down-projections (``kv_a``, and ``q_a`` fused with it)
      are replicated on every rank; vLLM also tunes q_proj, kv_b, o_proj and the dense down
      projection at full size (what they are with data-parallel attention or on one GPU):
      ``WeightShape.unsplit`` marks them, so that a page does not count them among the layers
      of a plain TP deployment (:func:`dp_attention_only`);
    * N / tp: dense gate+up, q_proj, kv_b, q_b, shared-expert gate+up, and one pair vLLM lists
      under no layer name: (12288, 7168), computed as ``6 * moe_intermediate_size`` so that it
      scales with the config rather than being a bare number. Split by TP it is the shape of
      ``q_a_proj`` (``q_lora_rank`` x hidden, replicated on every rank) where the two agree,
      DeepSeek-V3 at TP 8: 1536 x 7168, the query down-projection as a GEMM of its own where
      an engine does not fuse it into ``fused_qkv_a_proj`` (:func:`_vllm_list_layer` names it
      from the config); at other TP sizes no layer of the config has it, and it keeps vLLM's
      "no name" so that the tuned set matches vLLM's file for file;
    * K / tp: dense down, o_proj, shared-expert down.

    Routed experts run in the fused-MoE kernel, not in this GEMM, so they are not listed.
    """
    m = spec.mla
    assert m is not None
    hidden, heads = spec.hidden_size, spec.num_attention_heads
    kv_a_n = m.kv_lora_rank + m.qk_rope_head_dim
    q_n = heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
    kv_b_n = heads * (m.qk_nope_head_dim + m.v_head_dim)
    o_k = heads * m.v_head_dim
    shared = m.n_shared_experts * m.moe_intermediate_size

    def n_tp(layer: str, n: int, k: int) -> tuple[str, int, int]:
        return layer, _split(n, tp, "N", spec, layer), k

    def k_tp(layer: str, n: int, k: int) -> tuple[str, int, int]:
        return layer, n, _split(k, tp, "K", spec, layer)

    rows: list[tuple[str, int, int]] = [("kv_a_proj", kv_a_n, hidden)]
    if m.q_lora_rank:
        rows.append(("fused_qkv_a_proj", m.q_lora_rank + kv_a_n, hidden))
    rows += [
        ("q_proj" + UNSPLIT, q_n, hidden),
        ("kv_b_proj" + UNSPLIT, kv_b_n, m.kv_lora_rank),
        ("o_proj" + UNSPLIT, hidden, o_k),
        ("dense_down" + UNSPLIT, hidden, spec.intermediate_size),
        n_tp("dense_gate_up", 2 * spec.intermediate_size, hidden),
        n_tp("q_proj", q_n, hidden),
        n_tp("kv_b_proj", kv_b_n, m.kv_lora_rank),
    ]
    if m.q_lora_rank:
        rows.append(n_tp("q_b_proj", q_n, m.q_lora_rank))
    _, n, k = n_tp(_UNATTRIBUTED, 6 * m.moe_intermediate_size, hidden)
    rows.append((_vllm_list_layer(spec, n, k), n, k))
    if shared:
        rows.append(n_tp("shared_expert_gate_up", 2 * shared, hidden))
    rows += [
        k_tp("dense_down", hidden, spec.intermediate_size),
        k_tp("o_proj", hidden, o_k),
    ]
    if shared:
        rows.append(k_tp("shared_expert_down", hidden, shared))
    return [
        WeightShape(spec.id, layer, n, k, tp, unsplit=tp > 1 and layer.endswith(UNSPLIT))
        for layer, n, k in rows
    ]


UNSPLIT = " (unsplit)"  # the suffix of a layer at its full size (WeightShape.unsplit)
_UNATTRIBUTED = "unattributed (vLLM list)"
Q_A_UNFUSED = "q_a_proj (unfused)"


def _vllm_list_layer(spec: ModelSpec, n: int, k: int) -> str:
    """The layer vLLM's nameless pair is, from the config: ``q_a_proj`` when its per-rank
    shape is the query down-projection's (``q_lora_rank`` x hidden; that weight is replicated,
    so it is this shape at every TP, and runs as a GEMM of its own only where an engine does
    not fuse it into ``fused_qkv_a_proj``); else no layer of the config, vLLM's "no name"."""
    m = spec.mla
    if m is not None and m.q_lora_rank and (n, k) == (m.q_lora_rank, spec.hidden_size):
        return Q_A_UNFUSED
    return _UNATTRIBUTED


def dp_attention_only(shapes: Iterable[WeightShape]) -> set[tuple[int, int]]:
    """The (N, K) of ``shapes`` (one model at one TP) that only unsplit layers have: GEMMs that
    run only with data-parallel attention, not in a plain tensor-parallel deployment of that
    TP (at TP 1 the unsplit layers are the split ones, and none is)."""
    by_nk: dict[tuple[int, int], list[bool]] = {}
    for s in shapes:
        by_nk.setdefault((s.N, s.K), []).append(s.unsplit)
    return {nk for nk, flags in by_nk.items() if all(flags)}


def layer_names(spec: ModelSpec, tp: int, n: int, k: int) -> list[str]:
    """The layers of ``spec`` at ``tp`` whose per-rank weight is (n, k), named from the config
    ([] where the TP size does not divide the model or no layer has that shape): how a page
    names a measured shape, whatever name the run that measured it recorded."""
    try:
        shapes = weight_shapes(spec, tp)
    except UserError:
        return []
    return [s.layer for s in shapes if (s.N, s.K) == (n, k)]


def unique_nk(shapes: list[WeightShape]) -> list[tuple[int, int]]:
    """Distinct (N, K) pairs in first-seen order: one tuning task per pair, whatever the layer."""
    return list(dict.fromkeys((s.N, s.K) for s in shapes))


def mla_batched_shapes(spec: ModelSpec, tp: int) -> list[BatchedShape]:
    """The two batched GEMMs of MLA absorbed attention (decode path); [] for non-MLA models.

    With absorption, each rank multiplies per head: ``q_nope`` by ``W_UK`` (N = kv_lora_rank,
    K = qk_nope_head_dim) and the latent attention output by ``W_UV`` (N = v_head_dim,
    K = kv_lora_rank). Heads are split by TP, so the batch is ``B = heads / tp``.
    """
    _check_positive("tp", tp)
    m = spec.mla
    if m is None:
        return []
    b = _split(spec.num_attention_heads, tp, "heads", spec, "MLA attention")
    return [
        BatchedShape(spec.id, "q_nope x W_UK", b, m.kv_lora_rank, m.qk_nope_head_dim, tp),
        BatchedShape(spec.id, "attn_out x W_UV", b, m.v_head_dim, m.kv_lora_rank, tp),
    ]


# ---------------------------------------------------------------------------------------------
# Memory


def fp8_weight_bytes(spec: ModelSpec) -> int:
    """Bytes of the decoder's linear weights in fp8 (1 byte each), whole model (tp = 1).

    Counts every layer's linear weights times its number of layers, routed experts included for
    DeepSeek (they are almost all of its weight). Embeddings, the LM head, norms and block
    scales are left out: they are small next to the linears or kept in bf16 either way.
    """
    hidden, layers = spec.hidden_size, spec.num_hidden_layers
    dense_mlp = 3 * hidden * spec.intermediate_size  # gate, up, down
    m = spec.mla
    if m is None:
        q, kv, hd = spec.num_attention_heads, spec.num_key_value_heads, spec.head_dim
        attention = (q + 2 * kv) * hd * hidden + hidden * q * hd
        return layers * (attention + dense_mlp)
    heads = spec.num_attention_heads
    q_n = heads * (m.qk_nope_head_dim + m.qk_rope_head_dim)
    q_weights = (m.q_lora_rank * hidden + q_n * m.q_lora_rank) if m.q_lora_rank else q_n * hidden
    attention = (
        q_weights
        + (m.kv_lora_rank + m.qk_rope_head_dim) * hidden
        + heads * (m.qk_nope_head_dim + m.v_head_dim) * m.kv_lora_rank
        + hidden * heads * m.v_head_dim
    )
    experts = m.n_routed_experts + m.n_shared_experts
    moe_mlp = experts * 3 * hidden * m.moe_intermediate_size
    dense_layers = min(m.first_k_dense_replace, layers)
    return layers * attention + dense_layers * dense_mlp + (layers - dense_layers) * moe_mlp


def fits_one_gpu(spec: ModelSpec, gpu_memory_bytes: float = 80e9) -> bool:
    """Whether the fp8 weights take at most 60% of one GPU's memory.

    Weights that merely fit leave no room for the KV cache, activations and the server's
    resident buffers, so a model is only worth tuning at TP 1 with that headroom left.
    """
    return fp8_weight_bytes(spec) <= WEIGHT_MEMORY_SHARE * gpu_memory_bytes


def default_tp_sizes(spec: ModelSpec) -> list[int]:
    """TP sizes worth tuning by default: 8 (one full node) always, 1 if one GPU can serve it."""
    return [1, 8] if fits_one_gpu(spec) else [8]
