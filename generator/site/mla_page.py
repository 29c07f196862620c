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

Why a verdict and "no engine loads these": a reader arrives from the model pages, where config
files are things to install. Here nothing is: :func:`engine_facts` states, from the project's
engine data (the engines' config loaders and file names, :mod:`generator.site.engines`; the
dispatch rules' scope, :mod:`generator.data.dispatch`; the shipped sets), that no engine reads
an A16W8 table, and :func:`verdict` counts, beyond the noise, how our kernels fare against
bf16 ``torch.bmm``. Why :func:`measured_before`: the tables may be re-tuned after the rows were
measured (the rows then timed older tables), and the page must say so with both dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from generator.configs.engine_files import FileFormat, file_name
from generator.data import dispatch, models
from generator.data.external_figures import ExternalFigures, mla_figures
from generator.data.records import BenchRow, Provenance, TuneFile, record_provenance
from generator.data.shipped import shipped_sets
from generator.errors import UserError
from generator.site import engines, gains, providers
from generator.site.providers import Role

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
    hf_name: str  # the checkpoint the model's record was read from ("deepseek-ai/DeepSeek-V3")
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
        out.append(ModelHeads(model, spec.hf_name, spec.num_attention_heads, tps, layers))
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


@dataclass(frozen=True)
class Verdict:
    """Our fastest batched kernel against bf16 ``torch.bmm`` at each point of the sweep,
    counted beyond the noise (:func:`gains.judge_rows`)."""

    points: int  # (B, M, N, K) points of the sweep
    faster: int
    ties: int
    slower: int
    lo: float | None  # bf16 time / ours, the smallest and largest over the compared points
    hi: float | None

    @property
    def not_compared(self) -> int:
        """Points where ours or bf16 has no correct row."""
        return self.points - self.faster - self.ties - self.slower


def verdict(rows: list[BenchRow]) -> Verdict | None:
    """Per point, the fastest correct kernel of ours (role OURS) against the baseline; None
    when the rows have no baseline or no kernel of ours."""
    names = providers.ordered({r.provider for r in rows})
    base = next((n for n in names if providers.style(n).is_baseline), None)
    ours = [n for n in names if providers.style(n).role == Role.OURS]
    if base is None or not ours:
        return None
    at: dict[tuple[int, int, int, int], dict[str, BenchRow]] = {}
    for r in rows:
        at.setdefault((r.B, r.M, r.N, r.K), {}).setdefault(r.provider, r)
    verdicts: list[int] = []
    ratios: list[float] = []
    for point in at.values():
        b = point.get(base)
        mine = [point[n] for n in ours if n in point and gains.ok(point[n].measurement)]
        if b is None or not gains.ok(b.measurement) or not mine:
            continue
        best = min(mine, key=lambda r: r.measurement.latency_us or 0.0)
        ratio, v = gains.judge_rows(best, b)
        verdicts.append(v)
        ratios.append(ratio)
    return Verdict(
        len(at),
        verdicts.count(1),
        verdicts.count(0),
        verdicts.count(-1),
        min(ratios) if ratios else None,
        max(ratios) if ratios else None,
    )


@dataclass(frozen=True)
class MeasuredBefore:
    """A batched tuning file holding records newer than the rows of its (B, N, K): those rows
    timed the table as it was before."""

    kernel: str
    B: int
    N: int
    K: int
    rows: list[Provenance]  # the runs that measured the rows of this (B, N, K)
    newer: list[tuple[Provenance, int]]  # (run, records) of the file newer than every row
    records: int  # records in the file
    # what the shape is in a deployment (B = heads / TP), as the page's table says it
    tp: int | None = None
    layer: str | None = None


def _day(p: Provenance) -> datetime:
    return p.date


def measured_before(
    rows: list[BenchRow],
    tunes: list[TuneFile],
    specs: dict[str, models.ModelSpec] | None = None,
) -> list[MeasuredBefore]:
    """The batched tuning files with records tuned after the last run that measured the rows
    of their shape, from the rows' and the records' own provenance; each with the TP and layer
    its (B, N, K) stands for (:func:`shapes_by_key`, as the page's table names them)."""
    runs: dict[tuple[int, int, int], dict[tuple[str, datetime], Provenance]] = {}
    where = shapes_by_key(specs or {}, rows)
    at: dict[tuple[int, int, int], Where] = {}
    for r in rows:
        at.setdefault((r.B, r.N, r.K), where.get((r.model, r.B, r.N, r.K), Where(r.tp, r.layer)))
        if r.provenance is not None:
            runs.setdefault((r.B, r.N, r.K), {})[(r.provenance.git_sha, r.provenance.date)] = (
                r.provenance
            )
    out = []
    for t in tunes:
        measured = runs.get((t.B, t.N, t.K))
        if not measured:
            continue
        last = max(p.date for p in measured.values())
        newer: dict[tuple[str, datetime], list[Any]] = {}
        for rec in t.records:
            p = record_provenance(t, rec)
            if p.date > last:
                newer.setdefault((p.git_sha, p.date), [p, 0])[1] += 1
        if newer:
            out.append(
                MeasuredBefore(
                    t.kernel,
                    t.B,
                    t.N,
                    t.K,
                    sorted(measured.values(), key=_day),
                    sorted(((p, n) for p, n in newer.values()), key=lambda pn: _day(pn[0])),
                    len(t.records),
                    at[(t.B, t.N, t.K)].tp,
                    at[(t.B, t.N, t.K)].layer,
                )
            )
    return sorted(out, key=lambda m: (m.B, -m.N, m.kernel))


@dataclass(frozen=True)
class EngineFacts:
    """What the project's engine data says about A16W8 tables: the engines' block-FP8 config
    loaders and the names they read, the name of ours, what the dispatch rules cover, and
    whether any shipped set holds an A16W8 file."""

    loaders: list[tuple[str, str]]  # (loader text, the file name it reads, for an example shape)
    ours: str  # our A16W8 table's name for the same example
    rule_inputs: tuple[str, ...]  # input types the dispatch rules cover ("fp8")
    shipped_a16w8: int  # A16W8 files among the engines' shipped sets
    shipped_sets: list[str]  # "vLLM 0.33.0", ...


def engine_facts(device: str, example: tuple[int, int, int] = (16, 512, 128)) -> EngineFacts:
    """The facts behind "no engine loads these files", read from the engine data (never a
    sentence typed here): an engine that loaded A16W8 tables would need a loader, a name and
    a rule, and none of the data has one."""
    b, n, k = example
    loaders = [(e.loader_text, e.file_name(n, k, device)) for e in engines.engines()]
    table = dispatch.rule_table()
    folders = []
    for s in shipped_sets():
        folders.append(s.folder)
        folders.extend(f.path for f in s.folders)
    marker = "dtype=a16w8"
    shipped = sum(1 for f in folders if f.is_dir() for p in f.iterdir() if marker in p.name)
    return EngineFacts(
        loaders,
        file_name(FileFormat.A16W8, n, k, device, B=b),
        table.input_types,
        shipped,
        [f"{gains.ENGINE_NAMES.get(s.engine, s.engine)} {s.version}" for s in shipped_sets()],
    )
