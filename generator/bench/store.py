"""Where a sweep's rows go: ``site_data/devices/<dev>/bench/<sweep>.json``, merged by key.

Rows are keyed by (provider, model, layer, tp, B, M, N, K); a rerun or ``--resume`` replaces
rows with the same key instead of adding duplicates. Each write is a read-merge-write under the
device's lock (:mod:`generator.data.locking`), as the tuner's: two runs of one sweep keep each
other's rows, each row with the provenance of the run that measured it
(``BenchRow.provenance`` where it is not the file's).
"""

from __future__ import annotations

from pathlib import Path

from generator.data import records
from generator.data.records import BenchFile, BenchRow, ProviderInfo

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
    path: Path, mine: dict[RowKey, BenchRow]
) -> tuple[dict[RowKey, BenchRow], dict[str, ProviderInfo]]:
    """The file's rows and provider metadata as they are on disk now, with this run's rows
    replacing theirs by key. Every row keeps the provenance it has: the run that measured it,
    never the file's or this run's (a row of an older file with none stays without, and
    ``validate`` says so until it is re-measured or dropped)."""
    merged: dict[RowKey, BenchRow] = {}
    infos: dict[str, ProviderInfo] = {}
    if path.exists():
        disk = records.load(path, BenchFile)
        infos = dict(disk.providers)
        merged = {row_key(row): row for row in disk.rows}
    merged.update(mine)
    return merged, infos
