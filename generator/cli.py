"""Command line entry point: ``python -m generator <command>``.

Each command lives in its own module exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
this file only wires them together and turns expected failures into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

from generator.errors import UserError

# command name -> module implementing it
COMMANDS = {
    "tune": "generator.tune.cli",
    "bench": "generator.bench.cli",
    "shapes": "generator.data.shapes_cli",
    "install-configs": "generator.site.install_cli",
    "validate": "generator.data.validate_cli",
    "contribute": "generator.contribute.cli",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line (``error: <prog>: <message>; see
    --help``) and exit code 2, like every other bad input, instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="blockgemm" if Path(sys.argv[0]).name == "blockgemm" else "python -m generator",
        description="Tune, benchmark and catalog block-scaled 8-bit GEMM kernels.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(module).add_parser(sub, name)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: the default action killed the
    process on the spot, so ``bench`` lost every row since its last periodic save (Ctrl-C at
    the same point saved 34 rows, SIGTERM 0) and ``tune`` left its workers to be reaped.
    Raised as an interrupt, every command saves and stops exactly as on Ctrl-C."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what}: finished work is saved; rerun to resume", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
