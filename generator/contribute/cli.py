"""``blockgemm contribute``: tune and benchmark this GPU and write one archive to send.

Thin: parses the command line into a :class:`~generator.contribute.run.Request` and runs it, or
with ``--unpack`` (the maintainer's side) checks, validates and adds a received archive.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from generator.data import layout
from generator.data.writable import require_writable_dir
from generator.errors import UserError
from generator.tune.store import CONTRIBUTOR_ENV


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="tune and benchmark this GPU for the catalog; write one archive to send",
        description="On this machine's GPU: tune the models you serve at your TP sizes, run "
        "the benchmark sweeps over them, validate the result and write one archive "
        "(blockgemm-contribution-<device>.tar.gz) of the device's site_data folder with a "
        "summary of what was measured. Prints an estimate first; a rerun resumes (finished "
        "tasks and rows are kept). Maintainers: --unpack ARCHIVE checks a received archive, "
        "validates it and adds the device to --save-path.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="bundled model you serve (repeatable; see `blockgemm shapes`); default deepseek-v3",
    )
    p.add_argument(
        "--tp-size",
        action="append",
        type=int,
        metavar="TP",
        help="tensor-parallel size you serve it at (repeatable); default 8",
    )
    p.add_argument(
        "--contributor",
        default=os.environ.get(CONTRIBUTOR_ENV, ""),
        metavar="HANDLE",
        help=f"your GitHub handle, recorded in device.json (default ${CONTRIBUTOR_ENV})",
    )
    p.add_argument(
        "--save-path",
        type=Path,
        default=layout.DEFAULT_SITE_DATA,
        help="site_data folder the results go into (and, with --unpack, the tree to add to)",
    )
    p.add_argument("--out", type=Path, help="the archive to write (default: in this folder)")
    p.add_argument("--gpus", type=int, help="use only this many GPUs (default: all visible)")
    p.add_argument(
        "--unpack",
        type=Path,
        metavar="ARCHIVE",
        help="maintainers: check, validate and add a contributed archive to --save-path",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --unpack: replace the device's folder if it exists (a new contribution)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.unpack is not None:
        return _unpack(args)
    from generator.contribute.run import Request, check_contributor, contribute

    if not args.contributor.strip():
        raise UserError(
            f"--contributor: give your GitHub handle (or set ${CONTRIBUTOR_ENV}); it is "
            "recorded in device.json and on the catalog's pages"
        )
    check_contributor(args.contributor)
    if args.gpus is not None and args.gpus < 1:
        raise UserError(f"--gpus {args.gpus}: must be at least 1 (leave it out to use all)")
    for tp in args.tp_size or ():
        if tp < 1:
            raise UserError(f"--tp-size {tp}: must be at least 1")
    require_writable_dir(args.save_path, "--save-path")
    if args.out is not None:
        if args.out.exists() and args.out.is_dir():
            raise UserError(f"--out {args.out}: is a folder; name the archive file")
        require_writable_dir(args.out.parent, "--out's folder")
    req = Request(
        contributor=args.contributor,
        models=tuple(args.model or ("deepseek-v3",)),
        tp_sizes=tuple(args.tp_size or (8,)),
        save_path=args.save_path,
        out=args.out,
        gpus=args.gpus,
    )
    return contribute(req)


def _unpack(args: argparse.Namespace) -> int:
    from generator.contribute.archive import unpack_archive

    require_writable_dir(args.save_path, "--save-path")
    device, summary, validation = unpack_archive(args.unpack, args.save_path, args.replace)
    if not validation.ok:
        for problem in validation.problems:
            print(problem, file=sys.stderr)
        print(
            f"unpack: {len(validation.problems)} problem(s) in {args.unpack}; nothing added",
            file=sys.stderr,
        )
        return 2
    measured = summary.get("measured", {})
    tuning = sum(k.get("records", 0) for k in measured.get("tuning", {}).values())
    rows = sum(s.get("rows", 0) for s in measured.get("bench", {}).values())
    print(
        f"unpack: {device} from @{summary.get('contributed_by')}: {tuning} tuning records, "
        f"{rows} bench rows, {validation.files} files valid -> "
        f"{layout.device_dir(args.save_path, device)}"
    )
    return 0
