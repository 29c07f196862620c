"""Where a sweep's rows go: ``site_data/devices/<dev>/bench/<sweep>.json``, merged by key.

Rows are keyed by (provider, model, layer, tp, B, M, N, K); a rerun or ``--resume`` replaces a
provider's rows at every point it measures, whatever their layer labels (the labels of a shape
are the current plan's: when a model's layers were named anew, the rows under the old name
stayed beside the new ones, and a page counted both), instead of adding duplicates. Each write
is a read-merge-write under the device's lock (:mod:`generator.data.locking`), as the tuner's:
two runs of one sweep keep each other's rows, each row with the provenance of the run that
measured it (``BenchRow.provenance`` where it is not the file's).

A file holds the rows of one output dtype (``bench --out-dtype``, :func:`check_out_dtype`):
they are judged by its error bound, so a run of another dtype is refused before it measures
(write it to another ``--save-path``), never mixed in under the file's dtype.
"""

from __future__ import annotations

from pathlib import Path

from generator.data import records
from generator.data.records import BenchFile, BenchRow, ProviderInfo
from generator.errors import UserError

# The output dtype of the files written before BenchFile.out_dtype (2026-11-29): all bfloat16.
LEGACY_OUT_DTYPE = "bfloat16"

RowKey = tuple[str, str | None, str | None, int | None, int, int, int, int]


def row_key(row: BenchRow) -> RowKey:
    return (row.provider, row.model, row.layer, row.tp, row.B, row.M, row.N, row.K)


def load_rows(path: Path) -> dict[RowKey, BenchRow]:
    """Rows of an existing file by key (empty if none); a corrupt file is a SiteDataError."""
    return load_file(path)[0]


def load_file(path: Path) -> tuple[dict[RowKey, BenchRow], dict[str, ProviderInfo]]:
    """Rows by key and provider metadata of an existing file (empty if none)."""
    if not path.exists():
        return {}, {}
    bf = records.load(path, BenchFile)
    return {row_key(r): r for r in bf.rows}, dict(bf.providers)


def merge(
    path: Path, mine: dict[RowKey, BenchRow], out_dtype: str | None = None
) -> tuple[dict[RowKey, BenchRow], dict[str, ProviderInfo]]:
    """The file's rows and provider metadata as they are on disk now, with this run's rows
    replacing theirs at every (provider, point) it measured, under any layer label
    (``out_dtype``: this run's, which the file's must be). Every row keeps the provenance it
    has: the run that measured it, never the file's or this run's (a row of an older file with
    none stays without, and ``validate`` says so until it is re-measured or dropped)."""
    merged: dict[RowKey, BenchRow] = {}
    infos: dict[str, ProviderInfo] = {}
    if path.exists():
        disk = records.load(path, BenchFile)
        problem = out_dtype and out_dtype_problem(path, file_out_dtype(disk), out_dtype)
        if problem:  # another run wrote the file since this one checked it
            raise UserError(problem)
        infos = dict(disk.providers)
        merged = {row_key(row): row for row in disk.rows}
    measured = {point_of(k) for k in mine}
    merged = {k: row for k, row in merged.items() if point_of(k) not in measured}
    merged.update(mine)
    return merged, infos


def point_of(key: RowKey) -> tuple:
    """A row's key without its layer: one provider at one point of one model and TP size."""
    provider, model, _layer, *rest = key
    return (provider, model, *rest)


def file_out_dtype(bf: BenchFile) -> str:
    return bf.out_dtype or LEGACY_OUT_DTYPE


def out_dtype_problem(path: Path, have: str, want: str) -> str | None:
    if have == want:
        return None
    return (
        f"{path}: holds rows of --out-dtype {have}, this run's is {want}; a bench file holds one "
        f"output dtype (its rows are judged by its error bound): write {want} runs to another "
        "--save-path"
    )


def check_out_dtype(path: Path, out_dtype: str) -> None:
    """Refuse (one line) a run of ``out_dtype`` whose rows would land in a file of another
    output dtype: they would be stored, and judged, under the file's. Also reads the file, so
    one this code cannot read (corrupt, a newer schema) is refused before any measurement."""
    if not path.exists():
        return
    problem = out_dtype_problem(path, file_out_dtype(records.load(path, BenchFile)), out_dtype)
    if problem:
        raise UserError(problem)
