"""``python -m generator install-configs``: write one device's tuned configs into a folder.

Why: copying a few dozen files with commas, brackets and spaces in their names by hand is where
mistakes happen; this command copies exactly the files the chosen framework loads.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from generator.data import layout
from generator.data.writable import require_writable_dir
from generator.site.bundles import install_configs

DEFAULT_SITE_DATA = layout.DEFAULT_SITE_DATA


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> None:
    p = subparsers.add_parser(
        name,
        help="copy one device's tuned configs into a vLLM / SGLang config folder",
        description=(
            "Copy the tuned config files of one device, under the exact names the framework "
            "loads, into --dest (for vLLM: <site-packages>/vllm/model_executor/layers/"
            "quantization/utils/configs/; for SGLang: <site-packages>/sglang/srt/layers/"
            "quantization/configs/)."
        ),
    )
    p.add_argument("--device", required=True, help="device name, e.g. NVIDIA_H100_80GB_HBM3")
    p.add_argument("--framework", required=True, choices=layout.CONFIG_FOLDERS)
    p.add_argument("--dest", required=True, type=Path, help="folder to write the files into")
    p.add_argument(
        "--site-data",
        type=Path,
        default=Path(os.environ.get("BLOCKGEMM_SITE_DATA", DEFAULT_SITE_DATA)),
        help="site_data folder (default: the repository's, or $BLOCKGEMM_SITE_DATA)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_writable_dir(args.dest, "--dest")
    written = install_configs(args.site_data, args.device, args.framework, args.dest)
    for path in written:
        print(path)
    print(f"wrote {len(written)} {args.framework} config files to {args.dest}")
    return 0
