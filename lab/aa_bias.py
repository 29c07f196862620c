"""Why did identical work time apart in the bench? (issue 22)

    python lab/aa_bias.py       # $OUT set: JSON to $OUT/aa_bias.json

The question. Two runs of the H200 model sweep timed providers that run the *identical* Triton
kernel and config up to 8.7 % apart (7168x2304, M = 4), and the offset repeated from run to run:
a bias, not noise. Two things differed between such providers in the old bench: each timed its
own clones of the rotated inputs (``BenchContext.rotate`` cloned per provider), and the
interleaving order was cyclic (round r started with candidate r mod n, so candidate i followed
candidate i - 1 in almost every round).

The experiment. At each point, four copies of one provider (the Triton block kernel with
SGLang's default config; the activation quant timed, as the bench does) are timed in one
interleaved run, under four conditions:

* ``own-cyclic``: each copy rotates its own clones, cyclic order (the old bench);
* ``own-random``: own clones, a seeded random order each round;
* ``shared-cyclic``: every copy rotates the same sets, cyclic order;
* ``shared-random``: same sets, random order (the bench since issue 22).

Each condition is run ``REPEATS`` times on fresh clones. Reported per condition: the spread of
the four medians (max / min - 1) in each repeat, and whether the slowest copy is the same copy
in every repeat (a bias that follows the memory or the position) or not (noise). A last
condition, ``own-swapped``, re-runs ``own-cyclic`` with the copies' clone sets handed round by
one: if the offset follows the memory, the slow copy moves with its sets.

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POINTS = [(2304, 7168, 4), (7168, 2304, 4), (7168, 1536, 2), (1536, 7168, 2), (24576, 7168, 1536)]
COPIES = 4
REPEATS = 3
REPLAYS = 30


def cyclic_orders(n: int, rounds: int) -> list[list[int]]:
    """The old bench's order: round r starts with candidate r mod n."""
    return [[(r + j) % n for j in range(n)] for r in range(rounds)]


def time_with_orders(call_sets, orders_of) -> list[float]:
    """Medians per candidate, the replays interleaved in the orders ``orders_of(n, rounds)``
    gives (``generator.measure.timing``'s own capture, so only the order differs)."""
    from generator.measure import timing

    captured = [
        timing._capture(calls, REPLAYS, 10_000.0, timing.MIN_REPLAY_US) for calls in call_sets
    ]
    rounds = max(c.replays for c in captured)
    events = [
        [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(rounds)
        ]
        for _ in captured
    ]
    for r, order in enumerate(orders_of(len(captured), rounds)):
        for i in order:
            start, end = events[i][r]
            start.record()
            captured[i].graph.replay()
            end.record()
    torch.cuda.synchronize()
    medians = []
    for c, evs in zip(captured, events, strict=True):
        samples = sorted(s.elapsed_time(e) * 1e3 / c.launches for s, e in evs)
        medians.append(samples[len(samples) // 2])
    return medians


def main() -> int:
    if not torch.cuda.is_available():
        print("aa_bias: no CUDA GPU, nothing measured")
        return 0
    from generator.bench import registry as pv
    from generator.bench.providers.common import BLOCK, bytes_block, calls
    from generator.data.provenance import collect
    from generator.data.shipped import shipped_sets
    from generator.measure.timing import l2_cache_bytes, rotation_count, round_orders
    from kernels.quant import per_token_group_quant, quantize_weight_blockwise
    from kernels.validation import FP8_DTYPE
    from kernels.w8a8_block import w8a8_block_matmul

    cfg = next(s for s in shipped_sets() if s.engine == "sglang").default_config(BLOCK)
    l2 = l2_cache_bytes()
    ctx = pv.BenchContext(device=torch.device("cuda"), l2_bytes=l2)

    def run(x, B, Bs):
        A, As = per_token_group_quant(x, BLOCK[1], FP8_DTYPE)
        return w8a8_block_matmul(A, B, As, Bs, BLOCK, torch.bfloat16, config=cfg)

    def own_sets(problem, base):
        count = rotation_count(bytes_block(problem, torch.bfloat16, True), l2)
        return [base] + [tuple(t.clone() for t in base) for _ in range(count - 1)]

    results = []
    for n, k, m in POINTS:
        problem = pv.Problem(M=m, N=n, K=k)
        ctx.start(problem)
        B, Bs = ctx.weight("fp8_block", lambda w: quantize_weight_blockwise(w, BLOCK, FP8_DTYPE))
        base = (ctx.x_bf16, B, Bs)
        point = {"N": n, "K": k, "M": m, "conditions": {}}
        for name in ("own-cyclic", "own-random", "shared-cyclic", "shared-random", "own-swapped"):
            orders = cyclic_orders if "cyclic" in name or name == "own-swapped" else round_orders
            runs = []
            for _ in range(REPEATS):
                if name.startswith("own"):
                    per_copy = [own_sets(problem, base) for _ in range(COPIES)]
                else:
                    shared = ctx.rotate(base, bytes_block(problem, torch.bfloat16, True))
                    per_copy = [shared] * COPIES
                medians = time_with_orders([calls(s, run) for s in per_copy], orders)
                entry = {"medians_us": medians}
                if name == "own-swapped":  # the same clone sets, handed round by one copy
                    swapped = time_with_orders(
                        [calls(s, run) for s in per_copy[1:] + per_copy[:1]], orders
                    )
                    entry["swapped_medians_us"] = swapped
                runs.append(entry)
                del per_copy
                torch.cuda.empty_cache()
            spreads = [max(r["medians_us"]) / min(r["medians_us"]) - 1 for r in runs]
            slowest = [r["medians_us"].index(max(r["medians_us"])) for r in runs]
            point["conditions"][name] = {
                "runs": runs,
                "spread_per_repeat": spreads,
                "slowest_copy_per_repeat": slowest,
            }
            print(
                f"{n}x{k} M={m} {name:14} spread "
                + " ".join(f"{s * 100:5.2f}%" for s in spreads)
                + f"  slowest copy {slowest}"
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
        Path(out, "aa_bias.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
