"""Where the quantized activation lands: does it reorder configs, and do buffers per input set
make the tuner's runoff and the bench agree? (issue 22)

    python lab/placement.py       # $OUT set: $OUT/placement.json

The question. The H200 DeepSeek-V3 TP 8 tune and bench of 2026-12-04 (tree 09635e3) timed the
same pairs of Triton configs at the same points, both interleaved by graph replay with the
activation's quantization in the timed call, and put the pairs' ratios more than 5 % apart at
58 of 1387 pairs, up to 29 % (7168x2048, M = 4: SGLang's shipped entry, 64-row tiles, 37 %
slower than vLLM's, 16-row tiles, in the runoff and 6 % slower in the bench). Both A/A
controls were within 1 %. Then, the runoff quantized into memory allocated inside the graph
and wrote a preallocated output per input set; the bench allocated both inside the graph. On
one stream every call of a graph gets the same address for what it allocates
(``timing._Cuda.capture``), so each timing measured one placement of the activation, and
``lab/aa_alloc.py`` had shown that placement moves identical work by up to 21 %. The
prediction: the placement moves configs by different amounts (64-row tiles at M = 4 load the
activation 16 times over), and with the activation, its scales and the output in buffers of
each input set (``BenchContext.rotate(written=...)``, search 9) the two harnesses agree
within their A/A noise.

The experiment, at six points of the worst disagreements, with the distinct configs of vLLM's
and SGLang's shipped entries and both defaults:
1. ``one_address``: the tuner's session operands; each config timed with the activation
   quantized into one buffer shared by every call of its graph, at PLACEMENTS separately
   allocated buffers (one candidate per config and buffer), all interleaved in one timing.
2. ``in_graph``: each config with the activation and the output allocated inside the graph,
   as the bench timed it before search 9 (on the tuner's input sets, not the bench's: the
   same kind of sets, not the same count), interleaved with
3. ``per_set``: the runoff as served now (``search._Session.interleaved``: buffers of each
   set, up to ``timing.MAX_WRITTEN_SETS``), and a twin of the first (A/A); REPEATS times.
4. ``bench``: the bench's own providers now (``points._check`` then ``time_interleaved``
   with ``measure_points``' replays; buffers of each set, shared by the providers) with a
   twin of the first; REPEATS times.
Per point and config: each condition's median, and its ratio to the first config's.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "lab"))

POINTS = [
    (7168, 2048, 4),
    (7168, 18432, 4),
    (24576, 7168, 16),
    (7168, 256, 1024),
    (4096, 512, 256),
    (7168, 256, 128),
]
PROVIDERS = [
    "triton-fp8-block-vllm-0.33.0",
    "triton-fp8-block-sglang-0.5.23",
    "triton-fp8-block-sglang-default",
    "triton-fp8-block-default",
]
PLACEMENTS = 6
REPEATS = 2


def _one_address(tunable, task, ops, cfg, out, A, As):
    """The served call with the activation quantized into ``(A, As)``, one buffer for every
    call of the graph (as an in-graph allocation on one stream lands)."""
    from kernels.quant import per_token_group_quant
    from kernels.validation import FP8_DTYPE

    per_token_group_quant(ops["X"], task.block_k, FP8_DTYPE, out=(A, As))
    return tunable._gemm(task, A, As, ops, cfg, out)


def _in_graph(tunable, task, ops, cfg):
    """The call as the bench made it before search 9: activation and output new each call."""
    from kernels.quant import per_token_group_quant
    from kernels.validation import FP8_DTYPE

    A, As = per_token_group_quant(ops["X"], task.block_k, FP8_DTYPE)
    return tunable.matmul()(A, ops["B"], As, ops["Bs"], task.block, torch.bfloat16, config=cfg)


def _ratios(medians: list[float]) -> list[float]:
    return [m / medians[0] for m in medians]


def main() -> int:
    if not torch.cuda.is_available():
        print("placement: no CUDA GPU, nothing measured")
        return 0
    from bench_here import checked, gpu_context

    from generator.bench import points as bench_points
    from generator.bench import registry as pv
    from generator.configs.keys import config_key
    from generator.data.tasks import Task
    from generator.measure import timing
    from generator.tune import search

    prov, ctx = gpu_context()
    opts = search.TuneOptions(device="cuda", device_name=prov.device_name)
    out_dir = Path(os.environ.get("OUT", "."))
    rows = []
    for n, k, m in POINTS:
        ready, seen = [], set()
        for name, c in checked(PROVIDERS, pv.Problem(M=m, N=n, K=k), ctx):
            if config_key(c.prepared.config) not in seen:  # distinct configs only
                seen.add(config_key(c.prepared.config))
                ready.append((name, c))
        if not ready:
            print(f"{n}x{k} M={m}: no provider passed its check; skipped")
            continue
        names = [name.removeprefix("triton-fp8-block-") for name, _ in ready]
        configs = [c.prepared.config for _, c in ready]
        row = {"N": n, "K": k, "M": m, "providers": names, "configs": configs}

        bench = []
        for rep in range(REPEATS):
            calls = [c.prepared.calls for _, c in ready]
            stats = timing.time_interleaved(
                [*calls, calls[0]],
                True,
                bench_points.DEFAULT_REPLAYS,
                seed=timing.order_seed(n, k, m, "placement", rep),
            )
            medians = [st.median_us for st in stats]
            bench.append({"median_us": medians[:-1], "aa": medians[-1] / medians[0] - 1})
        row["bench"] = bench

        task = Task("w8a8_block", "fp8", "bfloat16", 128, 128, n, k, 1, m)
        s = search._Session(task, opts, None)
        tunable = s.tunable
        old = [[partial(_in_graph, tunable, task, ops, cfg) for ops in s.sets] for cfg in configs]
        runoff = []
        for rep in range(REPEATS):
            served = [s._calls(cfg, served=True) for cfg in configs]
            stats = timing.time_interleaved(
                [*served, served[0], *old],
                True,
                search.RUNOFF_REPLAYS,
                search.RUNOFF_TARGET_US,
                seed=timing.order_seed(n, k, m, "placement-runoff", rep),
            )
            medians = [st.median_us for st in stats]
            c = len(configs)
            runoff.append(
                {
                    "per_set_us": medians[:c],
                    "aa": medians[c] / medians[0] - 1,
                    "in_graph_us": medians[c + 1 :],
                }
            )
        row["runoff"] = runoff

        buffers = [
            (torch.empty_like(s.sets[0]["A"]), torch.empty_like(s.sets[0]["As"]))
            for _ in range(PLACEMENTS)
        ]
        row["placements"] = [hex(A.data_ptr()) for A, _ in buffers]
        candidates = [
            [
                partial(_one_address, tunable, task, ops, cfg, o, A, As)
                for ops, o in zip(s.sets, s.outs, strict=True)
            ]
            for cfg in configs
            for A, As in buffers
        ]
        stats = timing.time_interleaved(
            candidates,
            True,
            search.RUNOFF_REPLAYS,
            search.RUNOFF_TARGET_US,
            seed=timing.order_seed(n, k, m, "placement-one"),
        )
        medians = [st.median_us for st in stats]
        row["one_address_us"] = [
            medians[i * PLACEMENTS : (i + 1) * PLACEMENTS] for i in range(len(configs))
        ]
        rows.append(row)
        del s, old, candidates, buffers
        torch.cuda.empty_cache()

        print(f"{n}x{k} M={m}: " + ", ".join(names))
        for label, medians in (
            *((f"bench {r}", b["median_us"]) for r, b in enumerate(bench)),
            *((f"per set {r}", ro["per_set_us"]) for r, ro in enumerate(runoff)),
            *((f"in graph {r}", ro["in_graph_us"]) for r, ro in enumerate(runoff)),
        ):
            print(f"  {label:>10}: " + " ".join(f"{x:.4f}" for x in _ratios(medians)))
        print(
            "  A/A bench "
            + " ".join(f"{b['aa']:+.2%}" for b in bench)
            + ", runoff "
            + " ".join(f"{ro['aa']:+.2%}" for ro in runoff)
        )
        for name, times in zip(names, row["one_address_us"], strict=True):
            print(f"  one address {name}: {min(times):.2f}-{max(times):.2f} us")
        (out_dir / "placement.json").write_text(
            json.dumps({"provenance": json.loads(prov.model_dump_json()), "points": rows})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
