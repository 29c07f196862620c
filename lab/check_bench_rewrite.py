"""Did rewriting the bench files in another form change anything but the form?

    python lab/check_bench_rewrite.py [REV] [--site-data site_data]

Why: the bench files were rewritten once (a load and save of each) when a file came to list its
runs once and each row to name its run by index (``records.BenchFile``). The rewrite must
change no value. For each bench file under ``site_data/devices/*/bench/`` this loads the
version committed at REV (default HEAD: before the rewrite is committed; the rewrite's parent
after) and the file on disk, both through ``records`` (so both forms are read as the product
reads them), and compares the two ``BenchFile`` objects, and each row's provenance, for
equality. It prints each file's size at REV and on disk and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generator.data import layout, records  # noqa: E402
from generator.data.records import BenchFile  # noqa: E402


def committed(rev: str, rel: str) -> bytes:
    out = subprocess.run(
        ["git", "show", f"{rev}:{rel}"], cwd=REPO, capture_output=True, check=False, timeout=300
    )
    if out.returncode != 0:
        raise SystemExit(
            f"check_bench_rewrite: git show {rev}:{rel}: {out.stderr.decode().strip()}"
        )
    return out.stdout


def compare(rev: str, path: Path) -> list[str]:
    """What differs between ``path`` at ``rev`` and on disk (empty: nothing)."""
    rel = path.relative_to(REPO).as_posix()
    data = committed(rev, rel)
    with tempfile.TemporaryDirectory() as tmp:
        old_path = Path(tmp) / path.name
        old_path.write_bytes(data)
        old = records.load(old_path, BenchFile)
    new = records.load(path, BenchFile)
    form = "runs table" if b'"runs":' in data else "provenance per row"
    print(
        f"{rel}: {len(data):,} bytes at {rev} ({form}) -> {path.stat().st_size:,} on disk; "
        f"{len(new.rows)} rows"
    )
    diffs = []
    if old != new:
        fields = [f for f in BenchFile.model_fields if getattr(old, f) != getattr(new, f)]
        diffs.append(f"{rel}: the BenchFile objects differ in {fields}")
    # stricter than ==: every value as JSON (a row with its provenance inline), so a date
    # written in another offset or a float that compares equal but prints apart would show
    if old.model_dump_json(exclude={"rows"}) != new.model_dump_json(exclude={"rows"}):
        diffs.append(f"{rel}: the file's own fields print apart")
    rows_old = [r.model_dump_json() for r in old.rows]
    rows_new = [r.model_dump_json() for r in new.rows]
    if rows_old != rows_new:
        pairs = zip(rows_old, rows_new, strict=False)  # a shorter list: the counts say so
        first = next(
            (i for i, (a, b) in enumerate(pairs) if a != b), min(map(len, (old.rows, new.rows)))
        )
        diffs.append(
            f"{rel}: rows print apart from rows.{first} ({len(rows_old)} -> {len(rows_new)} rows)"
        )
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD")
    parser.add_argument("--site-data", type=Path, default=layout.DEFAULT_SITE_DATA)
    args = parser.parse_args(argv)
    paths = sorted(layout.devices_dir(args.site_data.resolve()).glob(f"*/{layout.BENCH}/*.json"))
    if not paths:
        print(f"check_bench_rewrite: {args.site_data}: no bench files", file=sys.stderr)
        return 2
    diffs = [d for path in paths for d in compare(args.rev, path)]
    for d in diffs:
        print(d)
    print(
        f"{len(paths)} files: " + (f"{len(diffs)} difference(s)" if diffs else "no value changed")
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
