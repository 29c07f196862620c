"""``python -m generator shapes``: print the GEMM shapes a model runs, before tuning any of them.

It answers "which (N, K) will ``tune`` and ``bench`` spend time on for this model and TP size?"
from the same code they use (:mod:`generator.data.models`), so what is printed is what is tuned.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from generator.data.models import (
    ModelSpec,
    load_hf_config,
    mla_batched_shapes,
    select_models,
    unique_nk,
    weight_shapes,
)
from generator.errors import UserError

DEFAULT_TP_SIZE = 8


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help="print the weight GEMM shapes (N, K) of models under tensor parallelism",
        description=(
            "Print, per model and TP size, every linear layer's per-GPU weight GEMM (N output"
            " features, K input features), the distinct (N, K) pairs that tuning covers, and"
            " for DeepSeek-style models the batched GEMMs of MLA absorbed attention."
        ),
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help=(
            "bundled model id (e.g. deepseek-v3, qwen3-32b) or its Hugging Face name; repeatable;"
            " 'all' for every bundled model. Default: all, unless --model-config is given."
            " Combinations that 'all' cannot run (TP not dividing a layer, a K not a multiple of"
            " --block-k) are reported on stderr and skipped; a named model fails instead."
        ),
    )
    parser.add_argument(
        "--model-config",
        action="append",
        type=Path,
        metavar="PATH",
        help="a Hugging Face config.json (or the directory holding it) of any model; repeatable",
    )
    parser.add_argument(
        "--tp-size",
        action="append",
        type=int,
        metavar="TP",
        help=f"tensor-parallel size; repeatable (default {DEFAULT_TP_SIZE})",
    )
    parser.add_argument(
        "--block-n",
        type=int,
        default=128,
        help="weight quantization block along N, output features (default 128)",
    )
    parser.add_argument(
        "--block-k",
        type=int,
        default=128,
        help=(
            "weight quantization block along K, input features (default 128); every per-GPU K"
            " must be a multiple of it"
        ),
    )
    parser.set_defaults(func=run)
    return parser


def _resolve_models(
    names: Sequence[str] | None, configs: Sequence[Path] | None
) -> list[tuple[ModelSpec, bool]]:
    """(spec, named explicitly) for each requested model, first request wins on duplicates."""
    if not names and not configs:
        names = ["all"]
    specs = {spec.id: (spec, named) for spec, named in select_models(names or [])}
    for path in configs or []:
        spec = load_hf_config(path)
        specs[spec.id] = (spec, True)
    return list(specs.values())


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain aligned columns: text left, numbers right."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [bool(rows) and isinstance(rows[0][i], int) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def run(args: argparse.Namespace) -> int:
    tp_sizes = args.tp_size or [DEFAULT_TP_SIZE]
    for flag, value in [("--block-n", args.block_n), ("--block-k", args.block_k)] + [
        ("--tp-size", tp) for tp in tp_sizes
    ]:
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")

    weight_rows: list[tuple[object, ...]] = []
    batched_rows: list[tuple[object, ...]] = []
    pair_lines: list[str] = []
    for spec, named in _resolve_models(args.model, args.model_config):
        for tp in tp_sizes:
            try:
                shapes = weight_shapes(spec, tp, args.block_n, args.block_k)
                batched = mla_batched_shapes(spec, tp)
            except UserError as exc:
                if named:
                    raise
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            weight_rows += [(s.model, s.tp, s.layer, s.N, s.K) for s in shapes]
            batched_rows += [(b.model, b.tp, b.layer, b.B, b.N, b.K) for b in batched]
            pairs = unique_nk(shapes)
            pair_lines.append(
                f"{spec.id} tp {tp}: {len(pairs)} pairs: "
                + ", ".join(f"({n}, {k})" for n, k in pairs)
            )
    if not weight_rows:
        raise UserError("no shapes to show: every model was skipped at these TP sizes")

    print(_table(("model", "tp", "layer", "N", "K"), weight_rows))
    print("\ndistinct (N, K) per model and tp:")
    print("\n".join(pair_lines))
    if batched_rows:
        print("\nMLA absorbed-attention batched GEMMs (B = heads / tp):")
        print(_table(("model", "tp", "layer", "B", "N", "K"), batched_rows))
    return 0
