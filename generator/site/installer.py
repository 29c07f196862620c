"""Install a set of files into a folder: all or nothing, never replacing a file silently.

Why: ``install-configs`` wrote its files one by one over whatever was there. The probes: a
read-only, hand-tuned file of the same name was replaced without a word and without a copy,
and a disk that filled during the install left 2 of 6 files, an engine then loading a mix of
old and new tables. Here:

* a file of the same name that already holds exactly these bytes is left as it is;
* one that holds anything else is not replaced, unless the caller asks for ``backup``: then
  it is kept beside as ``<name>.bak-<UTC time>`` (a name no engine loads) and the result says
  which copy was made;
* every file is first written in full to a temporary file in the destination (a full disk
  fails here, before anything was replaced), then renamed over its target; a rename that fails
  rolls back every target done so far (restored from its copy, or removed if it is new).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from generator.data.records import current_umask
from generator.errors import UserError


@dataclass
class Installed:
    """What :func:`install_all` did."""

    written: list[Path] = field(default_factory=list)  # new or replaced, in order
    unchanged: list[Path] = field(default_factory=list)  # already held exactly these bytes
    backups: list[tuple[Path, Path]] = field(default_factory=list)  # (replaced file, its copy)


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == data
    except OSError:
        return False


def _stage(dest: Path, name: str, data: bytes) -> Path:
    """``data`` in full in a temporary file beside its target, with an ordinary file's mode."""
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _backup_name(target: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate = target.with_name(f"{target.name}.bak-{stamp}")
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = target.with_name(f"{target.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def _back_up(target: Path) -> Path:
    """A copy of ``target`` under a new name (a hard link where the file system has them:
    no space needed, the same bytes and mode)."""
    copy = _backup_name(target)
    try:
        os.link(target, copy, follow_symlinks=False)
    except OSError:
        shutil.copy2(target, copy, follow_symlinks=False)
    return copy


def _rollback(done: list[tuple[Path, Path | None]]) -> None:
    for target, copy in reversed(done):
        if copy is not None:
            os.replace(copy, target)
        else:
            target.unlink(missing_ok=True)


def install_all(files: list[tuple[str, bytes]], dest: Path, backup: bool) -> Installed:
    """Install ``files`` (bare name, bytes) into ``dest`` (created if missing), all or none.

    Raises :class:`UserError` naming the files in the way (without ``backup``) or the write
    that failed; in both cases ``dest`` holds exactly what it held before."""
    dest = Path(dest)
    result = Installed()
    todo: list[tuple[str, bytes]] = []
    in_the_way: list[str] = []
    for name, data in files:
        target = dest / name
        if _same(target, data):
            result.unchanged.append(target)
            continue
        if target.exists() or target.is_symlink():
            if target.is_symlink() or not target.is_file():
                raise UserError(f"--dest {dest}: {name} is not a regular file; nothing installed")
            in_the_way.append(name)
        todo.append((name, data))
    if in_the_way and not backup:
        more = f" and {len(in_the_way) - 1} more" if len(in_the_way) > 1 else ""
        raise UserError(
            f"--dest {dest}: {in_the_way[0]}{more} already there with other contents; nothing "
            "installed (--backup replaces them and keeps a copy of each)"
        )
    if not todo:
        return result
    dest.mkdir(parents=True, exist_ok=True)
    staged: dict[str, Path] = {}
    done: list[tuple[Path, Path | None]] = []
    target = dest
    try:
        for name, data in todo:
            target = dest / name
            staged[name] = _stage(dest, name, data)
        for name, tmp in staged.items():
            target = dest / name
            copy = _back_up(target) if name in in_the_way else None
            try:
                os.replace(tmp, target)
            except BaseException:
                if copy is not None:
                    copy.unlink(missing_ok=True)  # the original is still in place
                raise
            done.append((target, copy))
    except OSError as exc:
        _rollback(done)
        raise UserError(
            f"cannot install {target} ({exc.strerror or exc}); nothing installed (--dest as it was)"
        ) from None
    except BaseException:
        _rollback(done)
        raise
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    result.written = [t for t, _ in done]
    result.backups = [(t, c) for t, c in done if c is not None]
    return result
