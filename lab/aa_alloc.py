"""Does memory allocated inside the graph make identical work time apart? (issue 22)

    python lab/aa_alloc.py       # $OUT set: JSON to $OUT/aa_alloc.json

The question. The bench's A/A control (one provider timed as two graphs of the same calls) was
above 1 % at 9 of 270 H200 DeepSeek-V3 TP 8 points in run 539cacb (2026-12-03), all with the
Triton kernel at vLLM's default config: 11.3 % at 24576x7168, M = 2 (122.8 against 138.4 us),
5.8 % at M = 4, the rest 1.0-1.8 %. The tuner's runoff, timed the same way, kept its controls
within 1 % at all 270 tasks. What differs: a bench call quantizes the activation and allocates
its quantized copy, its scales and the output while the graph is captured (each graph gets its
own addresses in the shared pool); the tuner's calls read pre-quantized activations and write
preallocated outputs.

The experiment. At each point, ``COPIES`` copies of the call with vLLM's default config are
timed in one interleaved run by the product's timing (``timing.time_interleaved``, balanced
orders), ``REPEATS`` times, under a 2 x 2 of conditions:

* ``bench``: quantize + GEMM, everything allocated in the graph (the bench's call);
* ``quant-prealloc-out``: quantize in the graph, the GEMM into a preallocated output;
* ``gemm-alloc-out``: pre-quantized activations, the output allocated in the graph;
* ``gemm-prealloc``: pre-quantized activations, preallocated output (the tuner's call).

Reported per condition and repeat: the spread of the copies' medians (max / min - 1), which
copy was slowest, and each copy's in-graph output address modulo 2 MiB (recorded while its
kept graph was captured): if the spread follows allocation in the graph, the conditions with
a preallocated output stay tight; if a slow copy's address repeats a pattern, the placement is
the cause. (Graphs captured into one pool may reuse the same memory: copies with equal
addresses share it.)

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POINTS = [(24576, 7168, 2), (24576, 7168, 4), (24576, 7168, 1), (2112, 7168, 2048), (512, 7168, 16)]
COPIES = 6
REPEATS = 3
REPLAYS = 20  # the bench's DEFAULT_REPLAYS
CONDITIONS = ("bench", "quant-prealloc-out", "gemm-alloc-out", "gemm-prealloc")
MIB2 = 2 << 20


def copy_call(name, operands, quantized, cfg, where, copy):
    """One copy's call on one input set under condition ``name`` (module doc); records the
    output's address in ``where[copy]`` while a graph is being captured (the last capture's:
    the kept graph's)."""
    from generator.bench.providers.common import BLOCK
    from kernels.quant import per_token_group_quant
    from kernels.validation import FP8_DTYPE
    from kernels.w8a8_block import w8a8_block_matmul

    x, w, ws = operands
    out = None
    if name in ("quant-prealloc-out", "gemm-prealloc"):
        out = torch.empty(x.shape[0], w.shape[0], dtype=torch.bfloat16, device=x.device)

    def call():
        if name in ("bench", "quant-prealloc-out"):
            a, a_s = per_token_group_quant(x, BLOCK[1], FP8_DTYPE)
        else:
            a, a_s = quantized
        c = w8a8_block_matmul(a, w, a_s, ws, BLOCK, torch.bfloat16, cfg, out=out)
        if torch.cuda.is_current_stream_capturing():
            where[copy] = c.data_ptr()
        return c

    return call


def main() -> int:
    if not torch.cuda.is_available():
        print("aa_alloc: no CUDA GPU, nothing measured")
        return 0
    from generator.bench import registry as pv
    from generator.bench.providers.common import BLOCK, bytes_block
    from generator.data.provenance import collect
    from generator.measure.timing import l2_cache_bytes, order_seed, time_interleaved
    from kernels.quant import per_token_group_quant, quantize_weight_blockwise
    from kernels.tiling import default_w8a8_config
    from kernels.validation import FP8_DTYPE

    cfg = default_w8a8_config(*BLOCK)
    l2 = l2_cache_bytes()
    ctx = pv.BenchContext(device=torch.device("cuda"), l2_bytes=l2)
    results = []
    for n, k, m in POINTS:
        problem = pv.Problem(M=m, N=n, K=k)
        ctx.start(problem)
        B, Bs = ctx.weight("fp8_block", lambda w: quantize_weight_blockwise(w, BLOCK, FP8_DTYPE))
        sets = ctx.rotate((ctx.x_bf16, B, Bs), bytes_block(problem, torch.bfloat16, True))
        quantized = [per_token_group_quant(x, BLOCK[1], FP8_DTYPE) for x, _, _ in sets]
        point = {"N": n, "K": k, "M": m, "sets": len(sets), "conditions": {}}
        for name in CONDITIONS:
            runs = []
            for rep in range(REPEATS):
                where: dict[int, int] = {}  # copy -> output address, last capture

                call_sets = [
                    [
                        copy_call(name, s, q, cfg, where, c)
                        for s, q in zip(sets, quantized, strict=True)
                    ]
                    for c in range(COPIES)
                ]
                stats = time_interleaved(
                    call_sets, True, REPLAYS, seed=order_seed(n, k, m, name, rep)
                )
                medians = [s.median_us for s in stats]
                runs.append(
                    {
                        "medians_us": medians,
                        "spread": max(medians) / min(medians) - 1,
                        "slowest": medians.index(max(medians)),
                        # the same address in two copies: their graphs share that memory
                        "out_ptr": [where.get(c) for c in range(COPIES)],
                        "out_mod_2mib": [
                            None if where.get(c) is None else where[c] % MIB2 for c in range(COPIES)
                        ],
                    }
                )
                del call_sets
                torch.cuda.empty_cache()
            point["conditions"][name] = runs
            print(
                f"{n}x{k} M={m} {name:19} spread "
                + " ".join(f"{r['spread'] * 100:5.2f}%" for r in runs)
                + "  slowest "
                + str([r["slowest"] for r in runs])
                + "  medians "
                + " | ".join(" ".join(f"{v:.1f}" for v in r["medians_us"]) for r in runs)
            )
        results.append(point)
    prov = collect()
    doc = {
        "device": prov.gpu_name,
        "provenance": prov.model_dump(mode="json"),
        "config": cfg,
        "copies": COPIES,
        "repeats": REPEATS,
        "points": results,
    }
    out = os.environ.get("OUT")
    if out:
        Path(out, "aa_alloc.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
