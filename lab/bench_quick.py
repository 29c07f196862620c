"""Quick look on a GPU: our block FP8 Triton kernel (vLLM's default config) next to bf16 cuBLAS.

    python lab/bench_quick.py

A few DeepSeek-V3 layers at TP 8 and M in {1, 16, 128, 1024, 4096}, through the same provider
registry and measuring code as ``python -m generator bench`` (accuracy check first, then
CUDA-graph timing over L2-rotated inputs); prints TFLOP/s and writes nothing. Without a CUDA GPU
it prints one line and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

# (layer, N, K) of DeepSeek-V3 at TP 8 (generator.data.models.weight_shapes)
SHAPES = [
    ("dense_gate_up", 4608, 7168),
    ("dense_down", 7168, 2304),
    ("q_b_proj", 3072, 1536),
    ("fused_qkv_a_proj", 2112, 7168),
]
BATCH_SIZES = (1, 16, 128, 1024, 4096)
PROVIDERS = ("torch-bf16", "triton-fp8-block-default")


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing benchmarked")
        return 0
    from generator.bench import registry as pv
    from generator.bench.points import measure_point
    from generator.measure.ceilings import measure_ceilings
    from generator.measure.timing import l2_cache_bytes

    providers = pv.select(PROVIDERS)
    ceilings = measure_ceilings(torch.device("cuda"))
    ctx = pv.BenchContext(device=torch.device("cuda"), l2_bytes=l2_cache_bytes())
    print(
        f"{torch.cuda.get_device_name()}: bf16 ceiling {ceilings.bf16_tflops:.0f} TFLOP/s,"
        f" fp8 {ceilings.fp8_tflops:.0f} TFLOP/s, copy {ceilings.copy_gbps:.0f} GB/s"
    )
    header = f"{'layer':18} {'N':>6} {'K':>6} {'M':>5}" + "".join(f" {p:>26}" for p in PROVIDERS)
    print(header + f" {'fp8/bf16':>9}")
    for layer, n, k in SHAPES:
        for m in BATCH_SIZES:
            problem = pv.Problem(M=m, N=n, K=k)
            ctx.start(problem)
            cells, rates = [], []
            for p in providers:
                meas = measure_point(p, problem, ctx, ceilings).measurement
                rate = meas.tflops if meas.status == "ok" else None
                rates.append(rate)
                cells.append(f"{rate:26.1f}" if rate is not None else f"{meas.status.value:>26}")
            ratio = f"{rates[1] / rates[0]:9.2f}" if None not in rates else f"{'-':>9}"
            print(f"{layer:18} {n:6} {k:6} {m:5}" + "".join(f" {c}" for c in cells) + f" {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
