"""Roofline arithmetic (exact numbers) and the ceiling measurement's CPU path."""

from __future__ import annotations

import pytest
import torch

from generator.data.records import Ceilings
from generator.measure.ceilings import (
    compute_ceiling_tflops,
    measure_ceilings,
    roofline_pct,
    roofline_us,
)

H100_LIKE = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)


def test_roofline_compute_bound():
    # 2 TFLOP at 1000 TFLOP/s = 2000 us; 3 GB at 3000 GB/s = 1000 us -> compute bound
    assert roofline_us(2e12, 3e9, 1000.0, 3000.0) == pytest.approx(2000.0, rel=1e-12)


def test_roofline_memory_bound():
    # M = 1 GEMM 7168 x 7168 fp8: 2*7168^2 flops ~ 0.1 us at 1000 TFLOP/s; 51.4 MB at 3 TB/s
    flops, nbytes = 2 * 7168 * 7168, 7168 * 7168
    assert roofline_us(flops, nbytes, 1000.0, 3000.0) == pytest.approx(
        nbytes / 3000e9 * 1e6, rel=1e-12
    )


def test_roofline_pct():
    assert roofline_pct(4000.0, 2e12, 3e9, 1000.0, 3000.0) == pytest.approx(50.0, rel=1e-12)
    assert roofline_pct(2000.0, 2e12, 3e9, 1000.0, 3000.0) == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize(
    "args",
    [(1.0, 1.0, 0.0, 1.0), (1.0, 1.0, 1.0, 0.0)],
    ids=["no-compute", "no-bandwidth"],
)
def test_roofline_rejects_zero_ceilings(args):
    with pytest.raises(ValueError):
        roofline_us(*args)
    with pytest.raises(ValueError):
        roofline_pct(0.0, 1.0, 1.0, 1.0, 1.0)


def test_compute_ceiling_per_provider_kind():
    assert compute_ceiling_tflops(H100_LIKE, "bf16") == 800.0
    assert compute_ceiling_tflops(H100_LIKE, "fp8") == 1600.0
    assert compute_ceiling_tflops(H100_LIKE, "int8") == 1600.0  # int8 unmeasured: fp8 rate
    with_int8 = H100_LIKE.model_copy(update={"int8_tops": 1500.0})
    assert compute_ceiling_tflops(with_int8, "int8") == 1500.0
    with pytest.raises(ValueError, match="unknown ceiling"):
        compute_ceiling_tflops(H100_LIKE, "fp4")


def test_measure_ceilings_on_cpu_gives_valid_record():
    c = measure_ceilings(torch.device("cpu"), log=lambda msg: None)
    assert c.copy_gbps > 0 and c.bf16_tflops > 0 and c.fp8_tflops > 0
    assert Ceilings.model_validate(c.model_dump()) == c
