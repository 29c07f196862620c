"""Argument types the commands share for folders (``--save-path``, ``--dest``, ``--site-data``).

Why: ``Path("")`` is ``Path(".")``, so an empty ``--save-path ""`` (a shell variable that was
never set: ``--save-path "$OUT"``) silently meant the current folder, and tuning results or
installed configs landed wherever the command happened to run. An empty or blank value is a
usage error now (one line, exit 2), and so is an empty ``$BLOCKGEMM_SITE_DATA``: unset and
empty both mean the default.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def folder(text: str) -> Path:
    """A folder named on the command line; empty or blank is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (it would mean the current folder)")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path with a NUL character")
    return Path(text)


def env_folder(variable: str, default: Path) -> Path:
    """``$variable`` as a folder, or ``default`` when it is unset or empty."""
    value = os.environ.get(variable, "")
    return Path(value) if value.strip() else Path(default)
