"""The single writer of tuning results: merge, never overwrite.

The reference tuners let every GPU write the same per-(N, K) file with only its own batch
sizes, so the last writer won and the shipped files lost most of their keys. Here only the
coordinating process writes; each result is merged into its TuneFile (read, replace the record
of that M, write to a temp file, rename) under an exclusive file lock
(:mod:`generator.data.locking`), so even two tuner processes on one machine cannot lose each
other's results. Every record keeps the provenance of the run that measured it.

The drop-in config files are a pure function of the tuning records (:func:`write_config_files`),
written after the record. A process killed between the two renames leaves a record whose M is
missing from the drop-in files, so every run first re-derives the files of every record it
touches (:func:`sync_config_files`): no interruption leaves a hole that resume would skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from generator.configs.engine_files import config_table_json
from generator.configs.kernel_table import formats_of
from generator.data import layout
from generator.data.locking import device_lock
from generator.data.lookup import tune_file_path, winner_table
from generator.data.records import (
    DeviceFile,
    Provenance,
    TuneFile,
    TuneRecord,
    atomic_write_text,
    load,
    record_provenance,
    search_is_current,
)
from generator.data.recovery import WriteFailed, save_or_keep
from generator.data.tasks import Task
from generator.errors import UserError

__all__ = [
    "check_existing",
    "device_lock",
    "finished_tasks",
    "merge_result",
    "sync_config_files",
]

CONTRIBUTOR_ENV = "BLOCKGEMM_CONTRIBUTOR"


def finished_tasks(
    save_path: Path, device_name: str, tasks: list[Task], exhaustive: bool
) -> set[Task]:
    """Tasks whose M already has a record from the current search (what a rerun skips unless
    --force); a record of an older search (``TuneRecord.search``) is tuned again, an
    exhaustive one only if the exhaustive search changed since (``search_is_current``)."""
    done: set[Task] = set()
    by_file: dict[Path, list[Task]] = {}
    for t in tasks:
        by_file.setdefault(tune_file_path(save_path, device_name, t, exhaustive), []).append(t)
    for path, group in by_file.items():
        if not path.exists():
            continue
        records = load(path, TuneFile).records
        have = {r.M for r in records if search_is_current(r.search, exhaustive)}
        done.update(t for t in group if t.M in have)
    return done


def check_existing(save_path: Path, device_name: str, tasks: list[Task], exhaustive: bool) -> None:
    """Read every tuning file ``tasks`` will merge into, before any work: one that cannot be
    read (corrupt, or of a newer schema version, which this code must not write back as its
    own) is a one-line :class:`~generator.data.records.SiteDataError` now, not after the
    tuning, and never rewritten."""
    for path in dict.fromkeys(tune_file_path(save_path, device_name, t, exhaustive) for t in tasks):
        if path.exists() or path.is_symlink():
            load(path, TuneFile)


def merge_result(
    save_path: Path, provenance: Provenance, task: Task, record: TuneRecord, exhaustive: bool
) -> Path:
    """Merge one record into its TuneFile and refresh the drop-in files; returns the path."""
    dev = provenance.device_name
    path = tune_file_path(save_path, dev, task, exhaustive)
    with device_lock(save_path, dev):
        records: dict[int, TuneRecord] = {}
        if path.exists():
            old = load(path, TuneFile)
            # older records keep where they were measured: the file's provenance changes hands
            records = {
                r.M: r.model_copy(update={"provenance": record_provenance(old, r)})
                for r in old.records
            }
        records[record.M] = record.model_copy(update={"provenance": provenance})
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
        save_or_keep(path, tune_file, f"the tuning file with {task.label()}")
        device_file = layout.device_file(save_path, dev)
        if not device_file.exists():
            contributor = os.environ.get(CONTRIBUTOR_ENV, "").strip() or None
            device = DeviceFile(provenance=provenance, contributed_by=contributor)
            save_or_keep(device_file, device, "the device record")
        if not exhaustive:
            write_config_files(save_path, tune_file)
    return path


def sync_config_files(save_path: Path, device_name: str, tasks: Iterable[Task]) -> list[Path]:
    """Re-derive the drop-in files of every tuning file ``tasks`` touch from its records, and
    rewrite those that differ (the hole a kill between the record's and the files' renames
    leaves); returns the paths rewritten. Unchanged files are not touched."""
    paths = dict.fromkeys(tune_file_path(save_path, device_name, t, False) for t in tasks)
    written: list[Path] = []
    with device_lock(save_path, device_name):
        for path in paths:
            if path.exists():
                written += write_config_files(save_path, load(path, TuneFile))
    return written


def write_config_files(save_path: Path, tf: TuneFile) -> list[Path]:
    """The published tables of a TuneFile, in the formats its kernel declares (vLLM + SGLang
    for the drop-in kernel, our A16W8 table for the batched one, none for our other kernels):
    a pure function of its records. Returns the files written or removed; one that already
    holds exactly this table is left as it is. With no winner left (a ``--force`` re-tune that
    found none) the files are removed: a file whose entries no record holds is one ``validate``
    refuses, and an engine would load configs this catalog no longer stands behind."""
    formats = formats_of(tf.kernel)
    if not formats:
        return []
    table = winner_table(tf)
    dev = tf.provenance.device_name
    text = config_table_json(table) if table else None
    block = (tf.block_n, tf.block_k)
    changed = []
    for fmt in formats:
        try:
            path = layout.table_path(save_path, dev, fmt, tf.N, tf.K, tf.input_type, block, tf.B)
        except UserError:  # no engine file for this input type
            continue
        try:
            if text is None:
                if path.is_file():
                    path.unlink()
                    changed.append(path)
            elif _read_text(path) != text:
                atomic_write_text(path, text)
                changed.append(path)
        except OSError as exc:
            raise WriteFailed(
                f"cannot write {path} ({exc.strerror or exc}); the tuning records are saved, "
                "and the next run rebuilds the file from them"
            ) from None
    return changed


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
