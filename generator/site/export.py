"""CSV and JSON downloads of the data behind each page.

Why: a reader who wants to re-plot or diff our numbers should get exactly the rows the page was
drawn from, in a long format (one row per provider x shape x M) any spreadsheet or pandas reads.
Text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) are prefixed
with a quote: the data is free text written on another machine.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from generator.configs.keys import CONFIG_KEYS  # torch-free: the site needs no GPU stack
from generator.data.records import BenchRow, TuneFile
from generator.data.tune_times import published, timing_of

BENCH_COLUMNS = [
    "provider",
    "sweep",
    "model",
    "layer",
    "tp",
    "B",
    "M",
    "N",
    "K",
    "status",
    "latency_us",
    "p20_us",
    "p80_us",
    "tflops",
    "gbps",
    "roofline_pct",
    "rel_error",
    "reference_tflops",
    "reference_label",
    "message",
    # the run that measured the row (its own provenance; method: none before 2026-12-02)
    "git_sha",
    "measured",
    "method",
]


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def bench_csv(rows: Iterable[BenchRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(BENCH_COLUMNS)
    for r in rows:
        m = r.measurement
        p = r.provenance
        writer.writerow(
            _cell(v)
            for v in (
                r.provider,
                r.sweep,
                r.model,
                r.layer,
                r.tp,
                r.B,
                r.M,
                r.N,
                r.K,
                m.status.value,
                m.latency_us,
                m.p20_us,
                m.p80_us,
                m.tflops,
                r.gbps,
                r.roofline_pct,
                m.rel_error,
                r.reference_tflops,
                r.reference_label,
                m.message,
                p.git_sha if p else None,
                p.date.isoformat() if p else None,
                p.method if p else None,
            )
        )
    return buf.getvalue()


def tune_csv(tunes: Iterable[TuneFile]) -> str:
    """The tuned-config table (one row per kernel x shape x M), for the device page: the
    winner, the default, and each baseline timed in the same session (the engines' shipped
    entries and defaults, ``<baseline>_us``), which search produced it and what won. Times are
    the runoff's medians where the runoff timed the config (what decided the winner,
    :mod:`generator.data.tune_times`), else the search's; ``times_from`` says which the
    winner's is (``tune_times.timing_of``: the runoff as served or GEMM alone, or the search)."""
    tunes = list(tunes)
    baselines = list(dict.fromkeys(k for t in tunes for r in t.records for k in r.baselines))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "kernel",
            "input_type",
            "B",
            "N",
            "K",
            "M",
            "status",
            "tuned_us",
            "default_us",
            *(f"{k}_us" for k in baselines),
            "winner_source",
            "search",
            "times_from",
            *CONFIG_KEYS,
        ]
    )
    for t in tunes:
        for rec in t.records:
            w = rec.winner
            cfg = (w.config or {}) if w else {}
            writer.writerow(
                _cell(v)
                for v in (
                    t.kernel,
                    t.input_type,
                    t.B,
                    t.N,
                    t.K,
                    rec.M,
                    w.status.value if w else "no correct config",
                    _us(rec, w),
                    _us(rec, rec.default),
                    *(_us(rec, rec.baselines.get(k)) for k in baselines),
                    rec.winner_source,
                    rec.search,
                    timing_of(rec, w),
                    *(cfg.get(k) for k in CONFIG_KEYS),
                )
            )
    return buf.getvalue()


def _us(rec, m) -> float | None:
    shown = published(rec, m)
    return shown.latency_us if shown else None


def records_json(payload: dict[str, Any]) -> str:
    """Pydantic models inside ``payload`` are dumped the way ``records.save`` writes them."""

    def default(obj: Any) -> Any:
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json", exclude_none=True)
        raise TypeError(f"not serializable: {type(obj).__name__}")

    return json.dumps(payload, indent=1, default=default) + "\n"
