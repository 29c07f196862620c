"""Print the issue-5 target tables from a device's committed benchmark sweeps.

Ratios come from rows of one run (the same model.json / mla.json), as the targets require:
- M >= 1024: fastest correct kernel of ours vs cuBLAS block-wise FP8 (both with activation
  quantization timed), DeepSeek-V3 TP 8 shapes;
- M <= 16: percent of the HBM roofline (weight bytes / measured copy bandwidth) of our fastest;
- A16W8 on the 24 MLA rows: our kernel vs bf16 torch.bmm.

Usage: python lab/targets_report.py [site_data/devices/<dev>]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from any directory

from generator.data.records import BenchFile, load  # noqa: E402

OURS = (
    "triton-fp8-block-tuned",
    "triton-fp8-block-default",
    "triton-fp8-block-splitk",
    "triton-fp8-block-decode",
    "triton-fp8-block-persistent",
    "triton-fp8-block-gluon",
)
OURS_A16W8 = ("a16w8-triton", "a16w8-triton-swapped")


def _ok(row) -> bool:
    return row is not None and row.measurement.status.value == "ok"


def main(device_dir: str = str(REPO / "site_data" / "devices" / "NVIDIA_H200")) -> None:
    d = Path(device_dir)
    model = load(d / "bench" / "model.json", BenchFile)
    bw = model.ceilings.copy_gbps
    by: dict[tuple[int, int, int], dict[str, object]] = defaultdict(dict)
    for r in model.rows:
        if r.model == "deepseek-v3" and r.tp == 8:
            by[(r.N, r.K, r.M)][r.provider] = r
    print(f"{model.provenance.gpu_name}, copy {bw:.0f} GB/s, sha {model.provenance.git_sha}")
    print("\nM >= 1024: ours / cuBLAS block-wise (time ratio cuBLAS/ours; >= 1.0 meets target)")
    for (n, k, m), p in sorted(by.items()):
        if m < 1024:
            continue
        best = min((p[o] for o in OURS if _ok(p.get(o))), key=lambda r: r.measurement.latency_us)
        cb = p.get("cublas-fp8-block")
        ratio = (
            f"{cb.measurement.latency_us / best.measurement.latency_us:5.2f}"
            if _ok(cb)
            else f"cuBLAS {cb.measurement.status.value if cb else 'missing'}"
        )
        print(
            f"  {n:6}x{k:<6} M={m:<5} {best.provider:28} {best.measurement.tflops:6.0f} TF/s"
            f"  {ratio}"
        )
    print("\nM <= 16: percent of the HBM roofline (target >= 75%)")
    for (n, k, m), p in sorted(by.items()):
        if m > 16:
            continue
        best = min((p[o] for o in OURS if _ok(p.get(o))), key=lambda r: r.measurement.latency_us)
        roof_us = n * k / (bw * 1e9) * 1e6
        print(
            f"  {n:6}x{k:<6} M={m:<3} {best.provider:28} {best.measurement.latency_us:7.1f} us"
            f"  roof {roof_us:6.1f} us  {100 * roof_us / best.measurement.latency_us:4.0f}%"
        )
    mla = load(d / "bench" / "mla.json", BenchFile)
    rows: dict[tuple[int, int, int, int], dict[str, object]] = defaultdict(dict)
    for r in mla.rows:
        rows[(r.B, r.M, r.N, r.K)][r.provider] = r
    print("\nA16W8 MLA rows: best of ours / bf16 bmm (targets: >= 1.8 at M=1, >= 1.0 at M=128)")
    for (b, m, n, k), p in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        ours = [p[o] for o in OURS_A16W8 if _ok(p.get(o))]
        base = p.get("a16w8-bmm-bf16")
        if ours and _ok(base):
            best = min(ours, key=lambda r: r.measurement.latency_us)
            ours_us, base_us = best.measurement.latency_us, base.measurement.latency_us
            print(
                f"  B={b:<4} M={m:<4} N={n:<4} K={k:<4} {best.provider:21} {ours_us:6.2f} us"
                f" vs {base_us:6.2f} us  x{base_us / ours_us:.2f}"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
