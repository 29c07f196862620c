"""The single writer of tuning results: merge, never overwrite.

The reference tuners let every GPU write the same per-(N, K) file with only its own batch
sizes, so the last writer won and the shipped files lost most of their keys. Here only the
coordinating process writes; each result is merged into its TuneFile (read, replace the record
of that M, write to a temp file, rename) under an exclusive file lock, so even two tuner
processes on one machine cannot lose each other's results. The drop-in config files are
regenerated from the merged TuneFile every time, so they always hold every tuned M.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from generator.configs.engine_files import config_table_json, table_path
from generator.data import layout
from generator.data.records import (
    SEARCH_V2,
    DeviceFile,
    Provenance,
    TuneFile,
    TuneRecord,
    atomic_write_text,
    load,
    save,
)
from generator.tune.tasks import Task


def tune_file_path(save_path: Path, device_name: str, task: Task, exhaustive: bool) -> Path:
    return layout.tune_file(save_path, device_name, task.file_key, exhaustive)


@contextlib.contextmanager
def device_lock(save_path: Path, device_name: str) -> Iterator[None]:
    """Exclusive lock over one device's folder for a read-merge-write."""
    lock = layout.lock_file(save_path, device_name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def finished_tasks(
    save_path: Path, device_name: str, tasks: list[Task], exhaustive: bool
) -> set[Task]:
    """Tasks whose M already has a record from the current search (what a rerun skips unless
    --force); a record of an older search (``TuneRecord.search``) is tuned again."""
    done: set[Task] = set()
    by_file: dict[Path, list[Task]] = {}
    for t in tasks:
        by_file.setdefault(tune_file_path(save_path, device_name, t, exhaustive), []).append(t)
    for path, group in by_file.items():
        if not path.exists():
            continue
        have = {r.M for r in load(path, TuneFile).records if r.search >= SEARCH_V2}
        done.update(t for t in group if t.M in have)
    return done


def merge_result(
    save_path: Path, provenance: Provenance, task: Task, record: TuneRecord, exhaustive: bool
) -> Path:
    """Merge one record into its TuneFile and refresh the drop-in files; returns the path."""
    dev = provenance.device_name
    path = tune_file_path(save_path, dev, task, exhaustive)
    with device_lock(save_path, dev):
        records: dict[int, TuneRecord] = {}
        if path.exists():
            records = {r.M: r for r in load(path, TuneFile).records}
        records[record.M] = record
        tune_file = TuneFile(
            kernel=task.kernel,
            input_type=task.input_type,
            out_dtype=task.out_dtype,
            block_n=task.block_n,
            block_k=task.block_k,
            N=task.N,
            K=task.K,
            B=task.B,
            exhaustive=exhaustive,
            provenance=provenance,
            records=[records[m] for m in sorted(records)],
        )
        save(path, tune_file)
        device_file = layout.device_file(save_path, dev)
        if not device_file.exists():
            save(device_file, DeviceFile(provenance=provenance))
        if not exhaustive:
            write_config_files(save_path, tune_file)
    return path


def winner_table(tf: TuneFile) -> dict[int, dict[str, int]]:
    """Batch size -> winning config of a TuneFile (batch sizes with no correct config left
    out): the table a kernel picks its config from, as in the drop-in files."""
    return {r.M: r.winner.config for r in tf.records if r.winner and r.winner.config}


def write_config_files(save_path: Path, tf: TuneFile) -> list[Path]:
    """The published tables of a TuneFile, in the formats its kernel declares (vLLM + SGLang
    for the drop-in kernel, our A16W8 table for the batched one, none for our other kernels)."""
    from generator.tune.tunables import get_tunable

    formats = get_tunable(tf.kernel).engine_files
    table = winner_table(tf)
    if not formats or not table:
        return []
    dev = tf.provenance.device_name
    text = config_table_json(table)
    block = (tf.block_n, tf.block_k)
    paths = [table_path(save_path, dev, f, tf.N, tf.K, tf.input_type, block, tf.B) for f in formats]
    for p in paths:
        atomic_write_text(p, text)
    return paths
