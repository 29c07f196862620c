"""Print a compact table of tuning records: winner vs default latency per (shape, M).

Usage: python lab/tune_summary.py [SITE_DATA]
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from any directory

from generator.data.records import TuneFile, load  # noqa: E402


def main(root: str = str(REPO / "site_data")) -> None:
    files = sorted(Path(root).glob("devices/*/tuning/*.json"))
    total_wall = 0.0
    print(
        f"{'file':58} {'M':>5} {'win us':>9} {'TF/s':>7} {'dflt us':>9} {'x dflt':>6} "
        f"{'timed':>5} {'wall s':>6} err"
    )
    for f in files:
        tf = load(f, TuneFile)
        for r in tf.records:
            total_wall += r.wall_s
            w, d = r.winner, r.default
            speedup = (d.latency_us / w.latency_us) if (w and d.latency_us) else float("nan")
            print(
                f"{f.stem[:58]:58} {r.M:5d} {w.latency_us if w else float('nan'):9.1f} "
                f"{w.tflops if w else 0:7.1f} {d.latency_us or float('nan'):9.1f} "
                f"{speedup:6.2f} {r.configs_timed:5d} {r.wall_s:6.1f} "
                f"{(w.rel_error if w else float('nan')):.1e}"
            )
    print(f"{len(files)} files, sum of task wall times {total_wall:.0f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
