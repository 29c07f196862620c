"""A write that fails after the work is done keeps the work: a recovery file, one line.

Why: every output folder is checked writable before a command starts
(:mod:`generator.data.writable`), but a disk can fill, a mount can turn read-only and a quota
can run out while a tune or a sweep runs. The probes: the finished result went down with a
traceback. Here a record that cannot be written where it belongs is written, whole and
valid, to a recovery folder (``$BLOCKGEMM_RECOVERY_DIR``, else the system's temporary folder,
else the home folder: whichever accepts it first, usually another file system), and the error
says in one line what failed and where the result is: moving the file into place is all a
user does (a rerun then re-derives whatever follows from it, e.g. the drop-in files).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from generator.data.records import atomic_write_text
from generator.errors import UserError

RECOVERY_ENV = "BLOCKGEMM_RECOVERY_DIR"


class WriteFailed(UserError):
    """A result could not be written where it belongs; the message says where it is kept."""


def recovery_dirs() -> list[Path]:
    """Where a recovery file may go, in the order tried."""
    out = [Path(os.environ[RECOVERY_ENV])] if os.environ.get(RECOVERY_ENV) else []
    out.append(Path(tempfile.gettempdir()) / "blockgemm-recovery")
    out.append(Path.home() / "blockgemm-recovery")
    return out


def keep(name: str, text: str) -> Path | None:
    """Write ``text`` to a new recovery file named after ``name``; None if no folder took it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for folder in recovery_dirs():
        target = folder / f"{stamp}-{os.getpid()}-{name}"
        try:
            atomic_write_text(target, text)
        except OSError:
            continue
        return target
    return None


def record_text(record: BaseModel) -> str:
    """A record as :func:`generator.data.records.save` writes it."""
    return record.model_dump_json(indent=1, exclude_none=True) + "\n"


def write_or_keep(path: Path, text: str, what: str = "the result") -> None:
    """Write ``text`` to ``path`` atomically; if that fails, keep it in a recovery file and
    raise :class:`WriteFailed` saying what failed and where ``what`` is kept."""
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        kept = keep(Path(path).name, text)
        if kept is None:
            raise WriteFailed(
                f"cannot write {path} ({reason}), and no recovery folder took {what} either "
                f"({', '.join(map(str, recovery_dirs()))}): it is lost"
            ) from None
        raise WriteFailed(
            f"cannot write {path} ({reason}); {what} is kept in {kept}: move it to {path} "
            "once the folder can be written"
        ) from None


def save_or_keep(path: Path, record: BaseModel, what: str = "the result") -> None:
    """:func:`generator.data.records.save`, with :func:`write_or_keep`'s recovery."""
    write_or_keep(path, record_text(record), what)
