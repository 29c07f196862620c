"""Rows of our tuned files that timed an earlier file are left out (generator.site.stale)."""

from __future__ import annotations

from datetime import UTC, datetime

from generator.data.records import (
    BenchRow,
    Measurement,
    Provenance,
    Status,
    TuneFile,
    TuneRecord,
)
from generator.site.stale import stale_rows


def _prov(day: int) -> Provenance:
    return Provenance(
        gpu_name="Synthetic GPU",
        device_name="Synthetic_GPU",
        sm_count=1,
        memory_gib=1.0,
        driver="0",
        cuda="0",
        torch="0",
        triton="0",
        git_sha=f"{day:07d}",
        date=datetime(2026, 1, day, tzinfo=UTC),
    )


def _meas() -> Measurement:
    return Measurement(status=Status.OK, latency_us=10.0, p20_us=9.9, p80_us=10.1)


def _row(provider: str, m: int, day: int, n: int = 256) -> BenchRow:
    return BenchRow(
        provider=provider, sweep="square", M=m, N=n, K=256, measurement=_meas(),
        provenance=_prov(day),
    )  # fmt: skip


def _tune(days: dict[int, int], out_dtype: str = "bfloat16", kernel: str = "w8a8_block"):
    # synthetic tuning file: only the fields stale_rows reads (model_construct: no run)
    records = [
        TuneRecord.model_construct(M=m, winner=_meas(), default=_meas(), provenance=_prov(d))
        for m, d in sorted(days.items())
    ]
    return TuneFile.model_construct(
        kernel=kernel, input_type="fp8", out_dtype=out_dtype, block_n=128, block_k=128,
        N=256, K=256, B=1, exhaustive=False, provenance=_prov(max(days.values())),
        records=records,
    )  # fmt: skip


TUNED = "triton-fp8-block-tuned"


def test_a_row_older_than_the_record_it_stands_for_is_stale() -> None:
    """M = 256's entry was re-tuned on day 5: its row of day 3 is stale, the row of day 6 is
    not; M = 300 loads the entry of 256 (the nearest), M = 16 the entry of 8 (day 1)."""
    tf = _tune({8: 1, 256: 5})
    rows = [
        _row(TUNED, 256, 3),
        _row(TUNED, 300, 3),
        _row(TUNED, 16, 3),
        _row(TUNED, 256, 6),
        _row("triton-fp8-block-default", 256, 3),  # not ours: never stale
        _row(TUNED, 256, 3, n=512),  # no file for its shape
    ]
    got = stale_rows(rows, [tf], "bfloat16")
    assert [(r.M, r.provenance.date.day) for r in got] == [(256, 3), (300, 3)]


def test_only_the_drop_in_files_of_the_same_output_dtype_count() -> None:
    rows = [_row(TUNED, 256, 3)]
    assert stale_rows(rows, [_tune({256: 5}, out_dtype="float16")], "bfloat16") == []
    assert stale_rows(rows, [_tune({256: 5}, kernel="w8a8_block_decode")], "bfloat16") == []
    assert len(stale_rows(rows, [_tune({256: 5}, out_dtype="float16")], "float16")) == 1
