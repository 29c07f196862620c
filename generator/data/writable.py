"""Check that an output folder can be written, before any work is done for it.

Why: ``tune --save-path`` used to tune for minutes and then lose every result on the first write
into a read-only folder, and ``install-configs --dest`` below a regular file or in ``/proc``
ended in a traceback. A path is checked the way the write will use it: every part that exists
must be a folder, and the deepest existing one must accept a new file (tried with a temporary
file that is removed at once, so root's view, read-only mounts and pseudo file systems answer
for themselves, which permission bits alone do not tell).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from generator.errors import UserError


def deepest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a symlink counts, even a broken one)."""
    path = Path(os.path.abspath(path))
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor)


def require_writable_dir(path: Path, flag: str) -> None:
    """Raise :class:`UserError` naming ``flag`` unless ``path`` is, or can be made, a folder
    this process can create files in. Leaves nothing behind."""
    shown = f"{flag} {path}"
    existing = deepest_existing(Path(path))
    if not existing.is_dir():
        what = "a broken link" if existing.is_symlink() and not existing.exists() else "a file"
        subject = "it" if existing == Path(os.path.abspath(path)) else str(existing)
        raise UserError(f"{shown}: {subject} is {what}, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".blockgemm-write-check-")
    except OSError as exc:
        raise UserError(f"{shown}: cannot write in {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def require_writable_dirs(paths: Iterable[Path], flag: str) -> None:
    """:func:`require_writable_dir` for every folder a command will write into (each named
    by ``flag`` and its own path), all before any work: a read-only ``tuning/`` or ``bench/``
    below a writable ``--save-path`` used to be found only by the first write after the work."""
    for path in dict.fromkeys(Path(p) for p in paths):
        require_writable_dir(path, flag)
