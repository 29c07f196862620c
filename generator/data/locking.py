"""The lock every read-merge-write of one device's folder takes (tuning and bench files alike).

Why one lock for both: two writers of one file (two tuners, two bench runs of one sweep) each
read, merge their own results and write; without a lock the second write drops the first's
rows (the probe lost 12 of 20 bench rows). ``flock`` on ``devices/<dev>/.lock`` serialises
them across processes; it is released by the kernel when a holder dies, so a killed writer
never leaves the folder locked.

The lock file is opened without following symlinks and without truncating: a ``.lock`` that
is a link (planted, or left by a copy) must not let the writer clobber whatever it points to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from generator.data import layout
from generator.errors import UserError


@contextlib.contextmanager
def device_lock(save_path: Path, device_name: str) -> Iterator[None]:
    """Exclusive lock over one device's folder for a read-merge-write."""
    lock = layout.lock_file(save_path, device_name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(lock, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{lock}: the lock file is a symlink; remove it and rerun") from None
        raise UserError(f"{lock}: cannot open the lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
