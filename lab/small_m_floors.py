"""The floors under every small-M figure: the least time a launch takes, and the least time a
Triton kernel takes to read each weight once, in the catalog's own timing.

    python lab/small_m_floors.py        # $OUT set: JSON to $OUT/small_m_floors.json

Why: the M <= 16 target (75 % of the HBM roofline) and the A16W8 M = 1 target (1.8x bf16
``torch.bmm``) ask, on the small weights, for kernels of a few microseconds. If a kernel that
only *reads* the weight bytes, with no activation, no math and no output, already takes longer,
no GEMM kernel can meet them; the ratio roofline / read time bounds the percent any kernel can
reach on that weight.

Timed exactly as the benchmark times providers (``generator.measure.timing.time_cuda_graph``:
one CUDA graph of back-to-back launches, replayed, median per launch, input sets rotated beyond
L2):

* ``launch``: a Triton kernel that stores one value per program (1 program; one per SM), the
  same after reading 8 KB per program (one dependent HBM round trip), and ``Tensor.fill_`` on
  one element. 64 distinct calls per graph, so graph-launch overhead is amortized.
* ``read``: per weight size (the DeepSeek-V3 TP 8 linear weights in fp8, and the MLA batched
  weights for B = 16..128), the fastest of a small grid of read-only kernels (each program sums
  a contiguous chunk, 16-byte loads) against the roofline, bytes over the measured copy
  bandwidth (``generator.measure.ceilings.measure_copy_gbps``, as the bench uses).

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.data import models  # noqa: E402
from generator.measure.ceilings import measure_copy_gbps  # noqa: E402
from generator.measure.timing import rotation_count, time_cuda_graph  # noqa: E402

LAUNCH_CALLS = 64
# Read-only kernel grid: int32 words per load step x steps per program x warps.
READ_BLOCKS = (1024, 2048, 4096)
READ_STEPS = (1, 2, 4, 8)
READ_WARPS = (4, 8)


@triton.jit
def _touch_kernel(src_ptr, dst_ptr, READ: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    if READ:
        value = tl.sum(tl.load(src_ptr + offs).to(tl.float32), axis=0)
    else:
        value = pid.to(tl.float32)
    tl.store(dst_ptr + pid, value)


@triton.jit
def _read_kernel(src_ptr, dst_ptr, n_words, BLOCK: tl.constexpr, STEPS: tl.constexpr):
    # Program p sums words [p * STEPS * BLOCK, (p + 1) * STEPS * BLOCK): every byte read once.
    start = tl.program_id(0) * (STEPS * BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.int32)
    for step in tl.static_range(STEPS):
        offs = start + step * BLOCK + tl.arange(0, BLOCK)
        acc += tl.load(src_ptr + offs, mask=offs < n_words, other=0)
    tl.store(dst_ptr + tl.program_id(0), tl.sum(acc, axis=0))


def _stats(calls) -> dict[str, float]:
    s = time_cuda_graph(calls)
    return {"median_us": s.median_us, "p20_us": s.p20_us, "p80_us": s.p80_us}


def launch_floors(sms: int) -> dict[str, dict[str, float]]:
    block = 2048  # fp32 elements a program reads with READ: 8 KB, 64 bytes a thread

    def touch(programs: int, read: bool):
        src = torch.randn(programs * block, device="cuda")
        dst = torch.empty(programs, device="cuda")
        return lambda: _touch_kernel[(programs,)](src, dst, READ=read, BLOCK=block, num_warps=4)

    def fill():
        t = torch.empty(1, device="cuda")
        return lambda: t.fill_(1.0)

    return {
        "triton_empty_1_program": _stats([touch(1, False) for _ in range(LAUNCH_CALLS)]),
        "triton_empty_per_sm": _stats([touch(sms, False) for _ in range(LAUNCH_CALLS)]),
        "triton_read_8kb_per_sm": _stats([touch(sms, True) for _ in range(LAUNCH_CALLS)]),
        "torch_fill_1": _stats([fill() for _ in range(LAUNCH_CALLS)]),
    }


def _read_calls(sets: list[torch.Tensor], words: int, block: int, steps: int, warps: int):
    """One read-only launch per input set, all over the same grid and output."""
    programs = triton.cdiv(words, block * steps)
    dst = torch.empty(programs, dtype=torch.int32, device="cuda")
    return [
        lambda s=s: _read_kernel[(programs,)](
            s, dst, words, BLOCK=block, STEPS=steps, num_warps=warps
        )
        for s in sets
    ]


def read_floor(nbytes: int, copy_gbps: float) -> dict[str, object]:
    """Fastest read-only kernel over ``nbytes`` (rotated input sets) and its share of the
    roofline."""
    words = nbytes // 4
    sets = [
        torch.randint(-100, 100, (words,), dtype=torch.int32, device="cuda")
        for _ in range(rotation_count(nbytes))
    ]
    best: dict[str, object] | None = None
    for block, steps, warps in itertools.product(READ_BLOCKS, READ_STEPS, READ_WARPS):
        us = time_cuda_graph(_read_calls(sets, words, block, steps, warps)).median_us
        if best is None or us < best["median_us"]:
            best = {"median_us": us, "BLOCK": block, "STEPS": steps, "num_warps": warps}
    roof_us = nbytes / (copy_gbps * 1e9) * 1e6
    return {
        "bytes": nbytes,
        "roofline_us": roof_us,
        **best,
        "pct_of_roofline": 100.0 * roof_us / best["median_us"],
    }


def weight_sizes() -> dict[str, int]:
    """fp8 bytes of each DeepSeek-V3 TP 8 linear weight and of each MLA batched weight."""
    spec = models.load_model("deepseek-v3")
    sizes = {f"{n}x{k}": n * k for n, k in models.unique_nk(models.weight_shapes(spec, 8))}
    for tp in (8, 4, 2, 1):
        for s in models.mla_batched_shapes(spec, tp):
            sizes[f"mla B={s.B} {s.N}x{s.K}"] = s.B * s.N * s.K
    return sizes


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU found: nothing measured")
        return 0
    props = torch.cuda.get_device_properties(0)
    copy_gbps = measure_copy_gbps(torch.device("cuda"))
    results = {
        "gpu": props.name,
        "sm_count": props.multi_processor_count,
        "copy_gbps": copy_gbps,
        "launch": launch_floors(props.multi_processor_count),
        "read": {name: read_floor(nbytes, copy_gbps) for name, nbytes in weight_sizes().items()},
    }
    text = json.dumps(results, indent=2)
    print(text)
    out = os.environ.get("OUT")
    if out:
        Path(out, "small_m_floors.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
