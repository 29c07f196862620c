"""Do the tuner's runoff and the bench rank the same configs alike? (issue 22)

For every DeepSeek-V3 TP 8 tuning record and every pair of configs its runoff timed (the
engines' shipped entries, both defaults, and the search's config where the file holds it),
the pair's ratio in the runoff beside the same pair's ratio in the bench run ``SHA``, which
timed the same configs (the providers of the shipped files, the defaults and the tuned file)
at the same point. Prints how many pairs disagree by more than 1, 2 and 5 %, and the worst.

Usage: python lab/runoff_pairs.py DEVICE SHA   (e.g. NVIDIA_H100_80GB_HBM3 399d7ce)
Reads committed data only.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from any directory

from generator.data.records import BenchFile, Status, TuneFile, load  # noqa: E402
from generator.site.stale import stale_rows  # noqa: E402

# the runoff's names for what it timed -> the bench provider timing the same config
PROVIDER = {
    "vllm-0.33.0": "triton-fp8-block-vllm-0.33.0",
    "sglang-0.5.23": "triton-fp8-block-sglang-0.5.23",
    "sglang-default": "triton-fp8-block-sglang-default",
    "vllm-default": "triton-fp8-block-default",
    "search": "triton-fp8-block-tuned",
}


def main(device: str, sha: str) -> None:
    root = REPO / "site_data" / "devices" / device
    bf = load(root / "bench" / "model.json", BenchFile)
    tunes = [load(p, TuneFile) for p in sorted((root / "tuning").glob("*.json"))]
    # a tuned row older than its file's entry timed another config than the record's
    stale = {id(r) for r in stale_rows(bf.rows, tunes, bf.out_dtype or "bfloat16")}
    bench = {}
    for r in bf.rows:
        if r.provenance is None or not r.provenance.git_sha.startswith(sha) or id(r) in stale:
            continue
        if r.model == "deepseek-v3" and r.tp == 8 and r.measurement.status == Status.OK:
            bench[(r.N, r.K, r.M, r.provider)] = r.measurement.latency_us
    pairs = []
    for path in sorted((root / "tuning").glob("w8a8_block__fp8__bfloat16__*_B1_*.json")):
        tf = load(path, TuneFile)
        for rec in tf.records:
            timed = {}
            for name, us in rec.runoff_us.items():
                if name == "search" and rec.winner_source != "search":
                    continue  # the file holds a baseline's config: its bench row is not this
                b = bench.get((tf.N, tf.K, rec.M, PROVIDER.get(name, "")))
                if b:
                    timed[name] = (us, b)
            for a, c in itertools.combinations(sorted(timed), 2):
                runoff = timed[a][0] / timed[c][0]
                in_bench = timed[a][1] / timed[c][1]
                pairs.append(
                    (abs(runoff / in_bench - 1), (tf.N, tf.K, rec.M, a, c), runoff, in_bench)
                )
    if not pairs:
        print(f"no pair: no bench row of run {sha} beside a runoff on {device}")
        return
    pairs.sort(reverse=True)
    over = {t: sum(1 for p in pairs if p[0] > t) for t in (0.01, 0.02, 0.05)}
    print(
        f"{device}, bench run {sha}: {len(pairs)} pairs; apart by more than 1 %: {over[0.01]}, "
        f"2 %: {over[0.02]}, 5 %: {over[0.05]}; median {statistics.median(p[0] for p in pairs):.4f}"
    )
    for gap, (n, k, m, a, c), runoff, in_bench in pairs[:8]:
        print(f"  {n}x{k} M={m} {a} / {c}: runoff {runoff:.3f}, bench {in_bench:.3f} ({gap:.1%})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python lab/runoff_pairs.py DEVICE SHA")
    main(sys.argv[1], sys.argv[2])
