"""What the lab scripts that time the bench's own providers share: the bench's context on this
GPU and its accuracy check of a point's providers (``generator.bench.points._check``), so a
script times exactly what the bench would. Lab code: the product never imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


def gpu_context() -> tuple[Any, Any]:
    """(the run's provenance, a BenchContext on the first CUDA GPU) as ``bench`` makes them,
    reading the committed site_data's tuned and shipped configs."""
    from generator.bench import registry as pv
    from generator.data.provenance import collect
    from generator.measure import timing

    prov = collect()
    ctx = pv.BenchContext(
        device=torch.device("cuda"),
        site_data=REPO / "site_data",
        device_name=prov.device_name,
        l2_bytes=timing.l2_cache_bytes(),
    )
    return prov, ctx


def checked(names: list[str], problem: Any, ctx: Any) -> list[tuple[str, Any]]:
    """The providers ``names`` that pass the bench's accuracy check at ``problem`` (started
    on ``ctx`` here), with what the check prepared, in order."""
    from generator.bench import points as bench_points
    from generator.bench import registry as pv

    ctx.start(problem)
    with bench_points.full_precision_reductions():
        results = [bench_points._check(pv.get(name), problem, ctx) for name in names]
    return [
        (name, c)
        for name, c in zip(names, results, strict=True)
        if isinstance(c, bench_points._Checked)
    ]
