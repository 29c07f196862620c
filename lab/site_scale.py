"""Build a synthetic catalog of 10 devices x 20 models and report the build time and page sizes.

Why: the site is rebuilt on every ``mkdocs build``; this says whether it stays fast (aim: under
60 s on a 2-core machine) and how heavy the largest page gets as the catalog grows. Not a timed
test: run it by hand, ``python lab/site_scale.py [--devices 10] [--models 20] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fixtures.make_synthetic import write_catalog  # noqa: E402
from tests.fixtures.sitebuild import mkdocs_build  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        t0 = time.perf_counter()
        write_catalog(root / "site_data", args.devices, args.models)
        t1 = time.perf_counter()
        result = mkdocs_build(root / "site_data", root / "site")
        t2 = time.perf_counter()
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
        pages = sorted((root / "site").rglob("*.html"), key=lambda p: p.stat().st_size)
        largest = pages[-1]
        report = {
            "devices": args.devices,
            "models": args.models,
            "html_pages": len(pages),
            "write_site_data_s": round(t1 - t0, 2),
            "mkdocs_build_s": round(t2 - t1, 2),
            "largest_page": largest.relative_to(root / "site").as_posix(),
            "largest_page_kib": round(largest.stat().st_size / 1024, 1),
            "median_page_kib": round(pages[len(pages) // 2].stat().st_size / 1024, 1),
            "site_mib": round(
                sum(p.stat().st_size for p in (root / "site").rglob("*") if p.is_file()) / 2**20, 1
            ),
        }
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
