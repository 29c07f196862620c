"""``python -m generator install-configs``: write one device's tuned configs into a folder.

Why: copying a few dozen files with commas, brackets and spaces in their names by hand is where
mistakes happen; this command copies exactly the files the chosen framework loads. It copies
only from a device folder ``validate`` accepts (keys every loader reads alike, every file
equal to the winners of its tuning records), all files or none, and never replaces a file of
another content unless told to keep a copy of it (``--backup``).
"""

from __future__ import annotations

import argparse
import sys

from generator.data import layout
from generator.data.cli_args import env_folder, folder
from generator.data.validate import validate_device
from generator.data.writable import require_writable_dir
from generator.errors import UserError
from generator.site.bundles import INSTALLABLE, find_device_dir, install_configs
from generator.site.engines import engines

DEFAULT_SITE_DATA = layout.DEFAULT_SITE_DATA


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    p = subparsers.add_parser(
        name,
        help="copy one device's tuned configs into a vLLM / SGLang config folder",
        description=(
            "Copy the tuned config files of one device, under the exact names the framework "
            "loads, into --dest ("
            + "; ".join(
                f"for {e.name}, {e.as_of}: <site-packages>/{e.package}/{e.folder}/"
                for e in engines()
            )
            + ", the only folder each loads these files from)."
        ),
    )
    p.add_argument("--device", required=True, help="device name, e.g. NVIDIA_H100_80GB_HBM3")
    # engines' folders only: no engine loads our A16W8 tables (research, nothing to install)
    p.add_argument("--framework", required=True, choices=INSTALLABLE)
    p.add_argument("--dest", required=True, type=folder, help="folder to write the files into")
    p.add_argument(
        "--backup",
        action="store_true",
        help="replace files of the same name that hold other configs, keeping a copy of each "
        "beside it (<name>.bak-<UTC time>); without it such files stop the install, and "
        "nothing is written",
    )
    p.add_argument(
        "--site-data",
        type=folder,
        default=env_folder("BLOCKGEMM_SITE_DATA", DEFAULT_SITE_DATA),
        help="site_data folder (default: the repository's, or $BLOCKGEMM_SITE_DATA)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_writable_dir(args.dest, "--dest")
    device = find_device_dir(args.site_data, args.device).name
    problems = validate_device(args.site_data, device).problems
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        raise UserError(
            f"{layout.device_dir(args.site_data, device)}: {len(problems)} problem(s) "
            "(python -m generator validate); nothing installed"
        )
    done = install_configs(args.site_data, device, args.framework, args.dest, args.backup)
    for path in done.written:
        print(path)
    for original, copy in done.backups:
        print(f"replaced {original.name}; the file it held is kept as {copy}")
    unchanged = f", {len(done.unchanged)} already there as they are" if done.unchanged else ""
    print(f"wrote {len(done.written)} {args.framework} config files to {args.dest}{unchanged}")
    return 0
