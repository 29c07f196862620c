"""Worker processes die with their coordinator, and leave Ctrl-C to it.

Why: a tuning worker holds a GPU for minutes per task. When the coordinator is killed (kill -9,
an OOM kill, a lost SSH session) nothing tells its workers, and they went on busying the GPUs
long after the run was over (and a worker blocked on the task queue waited forever). Each
worker and compile-pool process calls :func:`die_with_parent` first: on Linux the kernel sends
it SIGKILL when its parent exits (``PR_SET_PDEATHSIG``); elsewhere, and as a second line, a
daemon thread notices that the parent has changed and exits.

Ctrl-C: a terminal sends SIGINT to every process of the group, and each worker and compile
process printed its own ``KeyboardInterrupt`` traceback. They ignore SIGINT now
(:func:`ignore_ctrl_c`), from their first instruction: a process started inside
:func:`children_hold_ctrl_c` inherits SIGINT blocked (a signal mask survives ``exec``), so one
still importing when Ctrl-C comes holds it pending until it ignores it, and the starter's own
Ctrl-C is only delayed, not lost. The coordinator alone stops the run and says so in one line.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def children_hold_ctrl_c() -> Iterator[None]:
    """Processes started inside begin with SIGINT blocked (see the module doc)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_ctrl_c() -> None:
    """In a worker or compile process: ignore SIGINT, then drop any that arrived while it was
    blocked (an ignored pending signal is discarded when unblocked)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
