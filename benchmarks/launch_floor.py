"""The least time one kernel launch takes in the catalog's timing: the floor under every small-M
figure.

    python benchmarks/launch_floor.py          # $OUT set: JSON to $OUT/launch_floor.json

Why: the M <= 16 target (75 % of the HBM roofline) and the A16W8 M = 1 target (1.8x bf16
``torch.bmm``) ask, on the small weights, for kernels shorter than a few microseconds. If a
kernel that does nothing already takes longer in the same timing, no kernel can meet them.

Timed exactly as the benchmark times providers (``generator.timing.time_cuda_graph``: one CUDA
graph of back-to-back launches, replayed, median per launch), with 64 distinct calls so each
replay holds at least 64 launches and graph-launch overhead is amortized:

* ``triton_empty``: a Triton kernel that only stores one value per program (so it is not
  optimized away), with 1 program and with one program per SM;
* ``triton_read``: the same kernel reading 8 KB per program first (one dependent HBM round
  trip), one program per SM;
* ``torch_fill``: ``Tensor.fill_`` on one element (a CUDA-core kernel from PyTorch).

Without a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import triton
import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.timing import time_cuda_graph  # noqa: E402

CALLS = 64


@triton.jit
def _touch_kernel(src_ptr, dst_ptr, READ: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    if READ:
        value = tl.sum(tl.load(src_ptr + offs).to(tl.float32), axis=0)
    else:
        value = pid.to(tl.float32)
    tl.store(dst_ptr + pid, value)


def _time(make_call) -> dict[str, float]:
    stats = time_cuda_graph([make_call() for _ in range(CALLS)])
    return {"median_us": stats.median_us, "p20_us": stats.p20_us, "p80_us": stats.p80_us}


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA GPU found: nothing measured")
        return 0
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    block = 2048  # fp32 elements a program reads with READ: 8 KB, 64 bytes a thread

    def triton_call(programs: int, read: bool):
        def make():
            src = torch.randn(programs * block, device="cuda")
            dst = torch.empty(programs, device="cuda")
            return lambda: _touch_kernel[(programs,)](src, dst, READ=read, BLOCK=block,
                                                      num_warps=4)
        return make

    def torch_fill():
        t = torch.empty(1, device="cuda")
        return lambda: t.fill_(1.0)

    results = {
        "gpu": torch.cuda.get_device_name(0),
        "sm_count": sms,
        "calls_per_graph": CALLS,
        "triton_empty_1_program": _time(triton_call(1, False)),
        "triton_empty_per_sm": _time(triton_call(sms, False)),
        "triton_read_per_sm": _time(triton_call(sms, True)),
        "torch_fill": _time(torch_fill),
    }
    text = json.dumps(results, indent=2)
    print(text)
    out = os.environ.get("OUT")
    if out:
        Path(out, "launch_floor.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
