"""``python -m generator validate``: check a site_data tree; list every problem, exit 2 if any.

Thin: the checks are :mod:`generator.data.validate`'s. This is the gate for contributed data
(``docs/contributing.md``), and what ``make validate``, CI and the site build run.
"""

from __future__ import annotations

import argparse
import sys

from generator.data import layout
from generator.data.cli_args import env_folder, folder
from generator.data.validate import validate_tree

SITE_DATA_ENV = "BLOCKGEMM_SITE_DATA"


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name,
        help="check a site_data tree (schemas and meaning); list every problem",
        description="Check every file of a site_data tree against its schema and what its "
        "numbers must mean: records filed under the device that measured them, finite and "
        "positive latencies, statuses that agree with the numbers and the error bound, configs "
        "in range for their kernel, drop-in files equal to their tuning records' winners, no "
        "duplicate keys, known schema versions, no links out of the tree. Prints one line per "
        "problem (file, field, rule) and exits 2 if there is any.",
    )
    p.add_argument(
        "--site-data",
        type=folder,
        default=env_folder(SITE_DATA_ENV, layout.DEFAULT_SITE_DATA),
        help="the tree to check (default: the repository's site_data, or $BLOCKGEMM_SITE_DATA)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    result = validate_tree(args.site_data)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.problems:
        print(f"validate: {len(result.problems)} problem(s) in {args.site_data}", file=sys.stderr)
        return 2
    print(f"validate: {args.site_data}: {result.files} files, no problems")
    return 0
