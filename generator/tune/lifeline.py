"""Worker processes die with their coordinator.

Why: a tuning worker holds a GPU for minutes per task. When the coordinator is killed (kill -9,
an OOM kill, a lost SSH session) nothing tells its workers, and they went on busying the GPUs
long after the run was over (and a worker blocked on the task queue waited forever). Each
worker and compile-pool process calls :func:`die_with_parent` first: on Linux the kernel sends
it SIGKILL when its parent exits (``PR_SET_PDEATHSIG``); elsewhere, and as a second line, a
daemon thread notices that the parent has changed and exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 1.0


def _exit_if_orphaned(parent: int) -> None:
    if os.getppid() != parent:
        os._exit(1)


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_S)
        _exit_if_orphaned(parent)


def die_with_parent(parent: int) -> None:
    """Exit when process ``parent`` (the pid the caller was started by) is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    _exit_if_orphaned(parent)  # the parent may have died before the signal was armed
    threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()
