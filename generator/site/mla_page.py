"""What the MLA page shows: our GPU's measurements of the absorbed-attention batched GEMMs, each
point with the tensor-parallel size and the layer it stands for, and another vendor's published
figures kept apart.

Why the TP and the layer on every row: a point is "B = 32, N = 512, K = 128" in the benchmark,
but a reader deploys "DeepSeek-R1 at TP 4"; B is the number of attention heads per GPU, so it
*is* the TP size, and (N, K) says which of the two absorbed projections it is. Both come from
:func:`generator.data.models.mla_batched_shapes` (B = heads / TP, the layer names it gives), the
same derivation the tuner and the bench plan use, for the model the rows were measured for; the
row's own record is used only where the model is not in the catalog.

Why apart: the other vendor's figures (AMD MI350X, AITER) come from other hardware and
software. Next to ours in one table or one default chart they read as a comparison; the page
shows this GPU's measurements, and the published figures collapsed under a label that names
their GPU and source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.data import models
from generator.data.external_figures import ExternalFigures, mla_figures
from generator.data.records import BenchRow
from generator.errors import UserError
from generator.site import gains, providers

ShapeKey = tuple[str | None, int, int, int]  # model, B, N, K


@dataclass(frozen=True)
class Where:
    """What one batched shape of the MLA sweep is in a deployment."""

    tp: int | None
    layer: str | None


def shapes_by_key(
    specs: dict[str, models.ModelSpec], rows: list[BenchRow]
) -> dict[ShapeKey, Where]:
    """(model, B, N, K) -> (TP, layer) for the MLA models among ``rows``, every TP size that
    divides the model's heads (models.mla_batched_shapes: B = heads / TP)."""
    out: dict[ShapeKey, Where] = {}
    for model in sorted({r.model for r in rows if r.model}):
        spec = specs.get(model)
        if spec is None or spec.mla is None:
            continue
        heads = spec.num_attention_heads
        for tp in (t for t in range(1, heads + 1) if heads % t == 0):
            try:
                shapes = models.mla_batched_shapes(spec, tp)
            except UserError:
                continue
            for s in shapes:
                out.setdefault((model, s.B, s.N, s.K), Where(s.tp, s.layer))
    return out


@dataclass(frozen=True)
class ModelHeads:
    """How one MLA model's batch B follows from TP, and which projections the GEMMs are."""

    model: str
    heads: int  # attention heads of the model: B = heads / TP
    tps: list[tuple[int, int]]  # (TP, B) of the TP sizes among the rows
    layers: list[tuple[str, int, int]]  # (layer, N, K) of the batched GEMMs


def heads(specs: dict[str, models.ModelSpec], rows: list[BenchRow]) -> list[ModelHeads]:
    """Per MLA model the rows were measured for: its heads, the measured TP sizes with their
    B, and the layers (models.mla_batched_shapes)."""
    where = shapes_by_key(specs, rows)
    out = []
    for model in sorted({r.model for r in rows if r.model}):
        spec = specs.get(model)
        if spec is None or spec.mla is None:
            continue
        tps = sorted(
            {
                (w.tp, r.B)
                for r in rows
                if r.model == model
                and (w := where.get((model, r.B, r.N, r.K))) is not None
                and w.tp is not None
            }
        )
        layers = (
            [(s.layer, s.N, s.K) for s in models.mla_batched_shapes(spec, tps[0][0])] if tps else []
        )
        out.append(ModelHeads(model, spec.num_attention_heads, tps, layers))
    return out


def external(rows: list[BenchRow]) -> ExternalFigures | None:
    """The published set the rows carry figures of (by the label the bench recorded), if it is
    the one stored in generator/data/reference; None when the rows carry none."""
    label = next((r.reference_label for r in rows if r.reference_label), None)
    if label is None:
        return None
    figures = mla_figures()
    return figures if figures.label == label else None


def table(
    rows: list[BenchRow], specs: dict[str, models.ModelSpec]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Per (B, M, N, K): its TP and layer, every provider's row, the fastest correct one on
    this GPU and its speedup over bf16 bmm on this GPU, and the other vendor's published figure
    (``ref``, shown apart: different hardware, never a speedup of ours)."""
    names = providers.ordered({r.provider for r in rows})
    base = next((n for n in names if providers.style(n).is_baseline), None)
    where = shapes_by_key(specs, rows)
    points: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    for r in rows:
        w = where.get((r.model, r.B, r.N, r.K), Where(r.tp, r.layer))
        p = points.setdefault(
            (r.B, r.M, r.N, r.K),
            {
                "B": r.B,
                "M": r.M,
                "N": r.N,
                "K": r.K,
                "tp": w.tp,
                "layer": w.layer,
                "cells": {},
                "ref": None,
            },
        )
        p["cells"].setdefault(r.provider, r)
        if r.reference_tflops is not None and p["ref"] is None:
            p["ref"] = r.reference_tflops
    out = []
    for key in sorted(points, key=lambda k: (-k[2], k[0], k[1])):
        p = points[key]
        ok = [
            r
            for n, r in p["cells"].items()
            if n != base and gains.ok(r.measurement) and r.measurement.tflops is not None
        ]
        best = min(ok, key=lambda r: r.measurement.latency_us or 0.0) if ok else None
        b = p["cells"].get(base) if base else None
        p["best"] = best.provider if best else None
        p["vs_bf16"] = (
            (b.measurement.latency_us or 0.0) / (best.measurement.latency_us or 1.0)
            if best and b is not None and gains.ok(b.measurement)
            else None
        )
        out.append(p)
    return names, out
