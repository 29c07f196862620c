"""Does the tuner's runoff predict the bench? Per tuning record whose winner is the search's,
the runoff's ratio (search / fastest shipped entry, both GEMM-only, interleaved) beside the
bench's (the tuned file / the fastest shipped file, quantization + GEMM, graph replay), for the
bench run that measured that file (the latest run at the point dated after the record).

It answered why Search 6 floors the runoff's tie at 1 %: on the H200 (run 539cacb,
2026-12-03), a runoff win under 1 % came out slower than the shipped entry in the bench at 3
of 35 points (up to 3.6 %), a win of 1 % or more at none of 128 (worst 1.006).

Records of search 8 and later time the runoff as served (quantization + GEMM, as the bench
does), so for them the two ratios measure the same path; the 1 % split above is about the
GEMM-only runoffs of searches 6 and 7.

Usage: python lab/tune_vs_bench.py [DEVICE] [SITE_DATA]   (default NVIDIA_H200, site_data)
Reads committed data only; prints a table and the split at 1 %.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from any directory

from generator.data import layout  # noqa: E402
from generator.data.records import (  # noqa: E402
    BenchFile,
    BenchRow,
    Status,
    TuneFile,
    load,
    record_provenance,
)

TUNED = "triton-fp8-block-tuned"
SPLIT = 0.99  # runoff ratio: search / fastest shipped; below it the search won by >= 1 %


def _us(row: BenchRow) -> float | None:
    m = row.measurement
    return m.latency_us if m.status == Status.OK and m.latency_us else None


def main(device: str = "NVIDIA_H200", root: str = str(REPO / "site_data")) -> None:
    site = Path(root)
    bench = load(layout.bench_file(site, device, "model"), BenchFile)
    # which providers run a release's shipped file, as the file declares them
    shipped = {
        name: info.config_source.removeprefix("shipped:")
        for name, info in bench.providers.items()
        if info.config_source
        and info.config_source.startswith("shipped:")
        and info.scheme.value == "fp8-block"
    }
    by_point: dict[tuple[int, int, int], list[BenchRow]] = {}
    for r in bench.rows:
        by_point.setdefault((r.N, r.K, r.M), []).append(r)

    out: list[tuple[float, float, tuple[int, int, int]]] = []
    for path in sorted(layout.tuning_dir(site, device).glob("w8a8_block__fp8__*.json")):
        tf = load(path, TuneFile)
        for rec in tf.records:
            ro = rec.runoff_us
            releases = [ro[s] for s in shipped.values() if s in ro]
            if rec.winner_source != "search" or "search" not in ro or not releases:
                continue
            when = record_provenance(tf, rec).date
            rows = [
                r
                for r in by_point.get((tf.N, tf.K, rec.M), [])
                if r.provenance is not None and r.provenance.date >= when
            ]
            if not rows:
                continue  # not measured by the bench since it was tuned
            latest = max(r.provenance.date for r in rows if r.provenance)
            run = {r.provider: _us(r) for r in rows if r.provenance and r.provenance.date == latest}
            ours = run.get(TUNED)
            theirs = [v for p, v in run.items() if p in shipped and v]
            if ours and theirs:
                out.append((ours / min(theirs), ro["search"] / min(releases), (tf.N, tf.K, rec.M)))

    if not out:
        print(f"{device}: no search winner measured by the bench after its tuning")
        return
    out.sort(reverse=True)
    print(f"{device}: {len(out)} search winners measured by the bench after their tuning")
    print(f"{'N x K':>13} {'M':>5} {'bench tuned/shipped':>20} {'runoff search/shipped':>22}")
    for bench_ratio, runoff_ratio, (n, k, m) in out[:15]:
        print(f"{n:>6}x{k:<6} {m:>5} {bench_ratio:>20.3f} {runoff_ratio:>22.3f}")
    for label, part in (
        ("runoff win < 1 %", [o for o in out if o[1] > SPLIT]),
        ("runoff win >= 1 %", [o for o in out if o[1] <= SPLIT]),
    ):
        if part:
            b = [o[0] for o in part]
            print(
                f"{label}: {len(part)} points; bench ratio median {statistics.median(b):.3f}, "
                f"max {max(b):.3f}, above 1.01 at {sum(x > 1.01 for x in b)}"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
