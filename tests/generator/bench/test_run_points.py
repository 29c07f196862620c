"""The sweep loop and the per-point measurement, on fakes: saving after a failed point, the
fallback when the interleaved timing fails, the A/A control, shared work (code review of
2026-12-03). Timings are faked where the order of numbers matters: the interpreter's host
clock cannot be trusted to order anything."""

from __future__ import annotations

import torch

from generator.bench import plan
from generator.bench import registry as pv
from generator.bench.run import run_sweep
from generator.data import records
from generator.data.provenance import collect_cpu
from generator.data.records import BenchFile, Ceilings, Status

CEILINGS = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)


def _ctx(device: str) -> pv.BenchContext:
    return pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)


def test_a_point_whose_sources_fail_still_lets_the_final_save_happen(tmp_path, device):
    """A point whose operands cannot be made (out of memory) is recorded as an error, and the
    run's rows are saved at the end (the per-point result used to share the name of the
    save-failure flag, so after such a point the final save was skipped)."""
    ctx = _ctx(device)
    real_start = ctx.start

    def start(problem):
        if problem.M == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        real_start(problem)

    ctx.start = start
    points = [plan.SweepPoint(pv.Problem(M=m, N=32, K=64)) for m in (1, 3)]
    result = run_sweep(
        "square",
        points,
        pv.select(["torch-bf16"]),
        ctx,
        collect_cpu(),
        CEILINGS,
        tmp_path,
        replays=1,
        progress=False,
    )
    saved = records.load(result.path, BenchFile)
    by_m = {r.M: r.measurement for r in saved.rows}
    assert by_m[1].status == Status.OK
    assert by_m[3].status == Status.ERROR and "out of memory" in by_m[3].message
