"""Read a JSON file that may be hostile, within bounds: size, nesting, integers, file type.

Why: ``validate`` is the gate for data that arrives by pull request and for every file the
tuner, the bench and the site read back, and ``--model-config`` names any path a user types.
``json.loads`` of an unbounded read trusts the file in four ways that failed in the probes: a
FIFO (or ``/dev/zero``) named as a file hangs the read or fills the memory; 100,000 nested
brackets raise ``RecursionError``; an integer of 5,000 digits raises a bare ``ValueError``
(Python's digit limit), and one of 25 digits parses and later overflows whatever sizes
memory or an index with it. Here each is one :class:`UnsafeJSON` (a ``ValueError``) whose
message names what is wrong, so a caller reports one line and goes on.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Larger than any record the tools write (the biggest bench file is ~13 MB) by a wide margin,
# small enough that reading one cannot exhaust a build machine's memory.
MAX_RECORD_BYTES = 128 * 2**20
# The deepest nesting a record has is 5 (file > rows > row > measurement > config); model
# configs nest a few levels more (text_config, rope_scaling).
MAX_DEPTH = 32
# Integers a record holds are sizes, counts and config values; 2**63 is far beyond any of them
# and still fits every C integer type they may meet.
MAX_INT_DIGITS = 19
MAX_INT = 2**63 - 1


class UnsafeJSON(ValueError):
    """A file that is not a bounded, regular JSON file; the message says why."""


def read_bounded(path: str | os.PathLike[str], max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``.

    Opened without blocking and without following a final symlink, then checked with
    ``fstat``, so a FIFO, a device or a socket is refused before a byte is read (what
    ``Path.read_text`` would wait on forever, or read until memory runs out)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeJSON("a symlink, not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeJSON(f"not a regular file ({_kind(st.st_mode)})")
        if st.st_size > max_bytes:
            raise UnsafeJSON(f"{st.st_size} bytes; at most {max_bytes} are read")
        chunks = []
        left = max_bytes + 1  # a file that grew since fstat is still cut at the bound
        while left > 0:
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UnsafeJSON(f"more than {max_bytes} bytes")
    return data


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a file"


def _bounded_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_INT_DIGITS or abs(int(text)) > MAX_INT:
        shown = text if len(text) <= 24 else f"{text[:12]}...({len(digits)} digits)"
        raise UnsafeJSON(f"integer {shown} is out of range (at most 2**63 - 1)")
    return int(text)


def _check_depth(obj: Any, max_depth: int) -> None:
    """Iteratively, so the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise UnsafeJSON(f"nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads_bounded(
    text: str | bytes,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """``json.loads`` that raises :class:`UnsafeJSON` (or ``json.JSONDecodeError``, also a
    ValueError) for what is out of bounds: nested too deep, an integer out of range. (Floats
    are left as parsed, ``inf`` included: the checks of each field say which must be finite.)"""
    try:
        obj = json.loads(text, object_pairs_hook=object_pairs_hook, parse_int=_bounded_int)
    except RecursionError:
        raise UnsafeJSON(f"nested deeper than {max_depth} levels") from None
    _check_depth(obj, max_depth)
    return obj


def read_json(
    path: str | os.PathLike[str],
    max_bytes: int = MAX_RECORD_BYTES,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """:func:`read_bounded` then :func:`loads_bounded` (UTF-8). Raises ``OSError`` (cannot
    open), :class:`UnsafeJSON`, ``UnicodeDecodeError`` or ``json.JSONDecodeError``: all but
    the first are ``ValueError``."""
    data = read_bounded(Path(path), max_bytes)
    return loads_bounded(data.decode("utf-8"), object_pairs_hook)
