"""Bench rows of our tuned files that timed an earlier file than the one installed now.

Why: a re-tune rewrites a config file, but the bench rows of the tuned provider stay until the
sweep is run again. Such a row times a config the catalog no longer installs, so a page that
showed it would publish, as what our files do, the speed of a file nobody can download (the
H200 square sweep showed a tuned row of 2026-11-21 against a file re-tuned on 2026-11-29). The
catalog drops these rows where it loads them, and the pages say how many it dropped; the model
pages then compare, at those points, with the tuner's own timings of the current file
(``gains.gains``).

Which record a row stands for: the engines load a file's entry for the batch size nearest M
(vLLM's and SGLang's ``min(keys, key=lambda k: abs(k - M))``), so a row of M is stale when it
was measured before that entry's record was tuned.
"""

from __future__ import annotations

from collections.abc import Iterable

from generator.data.records import BenchRow, TuneFile, TuneRecord, record_provenance
from generator.site import providers

# the kernel whose files the engines load (the drop-in configs); its records back the rows
DROP_IN_KERNEL = "w8a8_block"


def _entry(tf: TuneFile, m: int) -> TuneRecord | None:
    """The record the engines would load for batch size ``m`` (the nearest tuned M)."""
    return min(tf.records, key=lambda r: abs(r.M - m), default=None)


def stale_rows(
    rows: Iterable[BenchRow], tunes: Iterable[TuneFile], out_dtype: str
) -> list[BenchRow]:
    """The rows (of one bench file, whose GEMMs wrote ``out_dtype``) of an installable provider
    measured before the record of their point in the tuning file that stands for it now (same
    dtype, shape and output dtype; not exhaustive)."""
    files = {
        (t.input_type, t.out_dtype, t.N, t.K): t
        for t in tunes
        if t.kernel == DROP_IN_KERNEL and t.B == 1 and not t.exhaustive
    }
    out = []
    for row in rows:
        dtype = providers.file_dtype(row.provider)
        if dtype is None or row.provenance is None:
            continue
        tf = files.get((dtype, out_dtype, row.N, row.K))
        rec = _entry(tf, row.M) if tf is not None else None
        if rec is not None and row.provenance.date < record_provenance(tf, rec).date:
            out.append(row)
    return out
