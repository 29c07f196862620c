"""The times a tuning record publishes: its runoff's medians where the runoff timed a config.

Why: a record holds two timings of its winner and baselines. The search's (``Measurement``
latencies) timed each config on its own, one after the other over a long session, where the
H200's clock drifts by several per cent; the runoff (``TuneRecord.runoff_us``, search 3 and
later) timed the winner and the baselines against each other, interleaved, with an A/A
control, and that is what decided the winner. The pages and downloads publish the runoff's
medians, so what they show is what the decision saw; a config the runoff did not time keeps
its search time, and a ratio is only ever taken between two times of the same timing. Since
search 8 the runoff times each config after the activation's quantization, as the engine serves
it; the search's own times, and runoffs before search 8, are of the GEMM alone
(:func:`timing_of` says which a time is).
"""

from __future__ import annotations

from generator.data.records import SEARCH_V8, Measurement, Status, TuneRecord


def runoff_config(rec: TuneRecord, name: str) -> dict[str, int] | None:
    """The config the runoff timed under ``name``: a baseline's, or the search's best (the
    winner if the search won, else the first runner-up: the winner is then a baseline)."""
    if name == "search":
        if rec.winner_source == "search":
            return rec.winner.config if rec.winner else None
        return rec.runners_up[0].config if rec.runners_up else None
    base = rec.baselines.get(name)
    return base.config if base else None


def runoff_us(rec: TuneRecord, m: Measurement | None) -> float | None:
    """The runoff's median of ``m``'s config, or None where the runoff did not time it."""
    if m is None or m.config is None:
        return None
    for name, us in rec.runoff_us.items():
        if runoff_config(rec, name) == m.config:
            return us
    return None


def from_runoff(rec: TuneRecord, m: Measurement) -> Measurement | None:
    """``m`` with the runoff's median as its latency (its TFLOP/s rescaled; no percentiles:
    the runoff's noise is its A/A control, ``runoff_aa_spread``), or None where the runoff did
    not time it."""
    us = runoff_us(rec, m)
    if us is None or m.status != Status.OK:
        return None
    tflops = m.tflops * m.latency_us / us if m.tflops and m.latency_us else None
    return m.model_copy(update={"latency_us": us, "p20_us": None, "p80_us": None, "tflops": tflops})


def published(rec: TuneRecord, m: Measurement | None) -> Measurement | None:
    """What the pages show for ``m`` of ``rec``: its runoff time where there is one."""
    if m is None:
        return None
    return from_runoff(rec, m) or m


def comparable(rec: TuneRecord, a: Measurement, b: Measurement) -> tuple[Measurement, Measurement]:
    """``a`` and ``b`` of one record timed the same way: both from the runoff where it timed
    both, else both from the search."""
    ra, rb = from_runoff(rec, a), from_runoff(rec, b)
    if ra is not None and rb is not None:
        return ra, rb
    return a, b


def runoff_served(rec: TuneRecord) -> bool:
    """Did ``rec``'s runoff time its configs as served (search 8 and later: activation
    quantization + GEMM), not the GEMM alone?"""
    return rec.search >= SEARCH_V8


def timing_of(rec: TuneRecord, m: Measurement | None) -> str:
    """Which timing :func:`published` shows for ``m``: ``runoff, as served``, ``runoff, GEMM
    alone`` (:func:`runoff_served`) or ``search, GEMM alone``."""
    if runoff_us(rec, m) is None:
        return "search, GEMM alone"
    return "runoff, as served" if runoff_served(rec) else "runoff, GEMM alone"
