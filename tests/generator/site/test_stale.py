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
from tests.fixtures.make_synthetic import provenance


def _prov(day: int) -> Provenance:
    """A synthetic run on day ``day`` of January 2026."""
    date = datetime(2026, 1, day, tzinfo=UTC)
    return provenance("SYNTHETIC_GPU", "Synthetic GPU").model_copy(
        update={"git_sha": f"{day:07d}", "date": date}
    )


CONFIG = {"BLOCK_SIZE_M": 16, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 128, "GROUP_SIZE_M": 1}


def _meas(config: dict | None = None) -> Measurement:
    return Measurement(status=Status.OK, latency_us=10.0, p20_us=9.9, p80_us=10.1, config=config)


def _row(provider: str, m: int, day: int, n: int = 256) -> BenchRow:
    return BenchRow(
        provider=provider, sweep="square", M=m, N=n, K=256, measurement=_meas(),
        provenance=_prov(day),
    )  # fmt: skip


def _tune(
    days: dict[int, int | None], out_dtype: str = "bfloat16", kernel: str = "w8a8_block"
) -> TuneFile:
    """A synthetic tuning file (only the fields stale_rows reads; model_construct: no run):
    M -> the day its record was tuned, None for a record without its own provenance, whose
    file was last written on the latest day given."""
    records = [
        TuneRecord.model_construct(
            M=m, winner=_meas(CONFIG), default=_meas(), provenance=_prov(d) if d else None
        )
        for m, d in sorted(days.items())
    ]
    return TuneFile.model_construct(
        kernel=kernel, input_type="fp8", out_dtype=out_dtype, block_n=128, block_k=128,
        N=256, K=256, B=1, exhaustive=False, provenance=_prov(max(d or 1 for d in days.values())),
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


def test_a_record_without_a_date_of_its_own_is_dated_by_its_file_only_if_none_has_one() -> None:
    """Records of before 2026-11-29 carry no provenance: a file whose records all lack one is
    one run's, dated by the file; in a file where later records have their own, the file's
    date is the last partial re-tune's, which says nothing of the old record."""
    rows = [_row(TUNED, 8, 3)]
    one_run = _tune({8: None, 256: None}).model_copy(update={"provenance": _prov(5)})
    assert stale_rows(rows, [one_run], "bfloat16") == rows  # the file's run, day 5
    partly_retuned = _tune({8: None, 256: 5})  # the file's provenance: day 5, 256's re-tune
    assert stale_rows(rows, [partly_retuned], "bfloat16") == []


def test_a_record_without_a_winner_is_no_entry_of_the_file() -> None:
    """The engines' files hold only records with a winner: M = 16 loads the entry of 8, not
    the newer record of 20, which has none."""
    tf = _tune({8: 1, 20: 5})
    tf.records[1].winner = None
    assert stale_rows([_row(TUNED, 16, 3)], [tf], "bfloat16") == []
