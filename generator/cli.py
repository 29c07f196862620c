"""Command line entry point: ``python -m generator <command>``.

Each command lives in its own module exposing ``add_parser(subparsers)`` and ``run(args) -> int``;
this file only wires them together and turns expected failures into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished tasks are saved; rerun to resume", file=sys.stderr)
        return 130
