"""Device ceilings, measured at the start of a run, and the roofline arithmetic built on them.

Why measure instead of using datasheet peaks: the datasheet figures are not reachable (an H100
SXM "989 TFLOP/s bf16" matmul runs at ~790 in practice, its "3.35 TB/s" copy at ~3.0), and a
roofline against an unreachable peak makes every kernel look mediocre by the same unknown
factor. So each run measures, with the same timing code as the benchmark:

* copy bandwidth: a large device-to-device copy, bytes read + written per second;
* bf16: ``torch.matmul`` 8192^3 on random data (cuBLAS);
* fp8: ``torch._scaled_mm`` 8192^3, tensor-wise scales (cuBLASLt, fast accumulation allowed);
* int8: ``torch._int_mm`` 8192^3 (cuBLASLt), when available.

Each rate is taken at the 20th-percentile latency ("best" without being an outlier). The
roofline of a provider at a shape is then ``max(flops / compute, bytes / bandwidth)``, with the
compute ceiling the provider declares (``providers.Compute``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from generator.data.records import Ceilings
from generator.measure import timing
from kernels.validation import FP8_DTYPE

MATMUL_SIZE = 8192
COPY_BYTES = 2**30  # 1 GiB source: far beyond any L2
CPU_MATMUL_SIZE = 256  # interpreter/test runs only: the numbers are never published
CPU_COPY_BYTES = 2**24
CEILING_REPLAYS = 10


def roofline_us(flops: float, bytes_moved: float, compute_tflops: float, copy_gbps: float) -> float:
    """Fastest possible time in microseconds: the slower of compute and memory traffic."""
    if compute_tflops <= 0 or copy_gbps <= 0:
        raise ValueError("roofline_us: ceilings must be positive")
    compute_us = flops / (compute_tflops * 1e12) * 1e6
    memory_us = bytes_moved / (copy_gbps * 1e9) * 1e6
    return max(compute_us, memory_us)


def roofline_pct(
    latency_us: float, flops: float, bytes_moved: float, compute_tflops: float, copy_gbps: float
) -> float:
    """Percent of the roofline reached: 100 * roofline_us / measured latency."""
    if latency_us <= 0:
        raise ValueError("roofline_pct: latency must be positive")
    return 100.0 * roofline_us(flops, bytes_moved, compute_tflops, copy_gbps) / latency_us


def compute_ceiling_tflops(ceilings: Ceilings, compute: str) -> float:
    """The compute ceiling named by a provider ("bf16", "fp8", "int8"). INT8 falls back to the
    FP8 rate when ``_int_mm`` could not be measured (same tensor-core rate on Hopper)."""
    table = {
        "bf16": ceilings.bf16_tflops,
        "fp8": ceilings.fp8_tflops,
        "int8": ceilings.int8_tops or ceilings.fp8_tflops,
    }
    try:
        return table[str(getattr(compute, "value", compute))]
    except KeyError:
        raise ValueError(f"compute: unknown ceiling '{compute}'; expected {list(table)}") from None


def _rate(fn: Callable[[], object], amount: float, on_cuda: bool) -> float:
    """``amount`` per second (flops or bytes) at the 20th-percentile latency of ``fn``."""
    stats = timing.time_calls([fn], on_cuda, CEILING_REPLAYS)
    return amount / (stats.p20_us * 1e-6)


def measure_copy_gbps(device: torch.device) -> float:
    """Best device-to-device copy rate (bytes read + written) over a few buffer sizes.

    One size alone can land on a slow path of the copy kernel; the ceiling is the best the
    device showed, so rooflines never flatter a kernel.
    """
    on_cuda = device.type == "cuda"
    sizes = (COPY_BYTES // 4, COPY_BYTES, 4 * COPY_BYTES) if on_cuda else (CPU_COPY_BYTES,)
    best = 0.0
    for nbytes in sizes:
        src = torch.empty(nbytes // 2, dtype=torch.bfloat16, device=device).uniform_()
        dst = torch.empty_like(src)
        best = max(best, _rate(lambda d=dst, s=src: d.copy_(s), 2 * nbytes, on_cuda) / 1e9)
        del src, dst
    return best


def measure_bf16_tflops(device: torch.device) -> float:
    on_cuda = device.type == "cuda"
    n = MATMUL_SIZE if on_cuda else CPU_MATMUL_SIZE
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    return _rate(lambda: torch.matmul(a, b), 2 * n**3, on_cuda) / 1e12


def measure_fp8_tflops(device: torch.device) -> float:
    n = MATMUL_SIZE
    # the platform's FP8 (e4m3fnuz on MI300-class GPUs, whose torch._scaled_mm takes only that)
    a = torch.randn(n, n, device=device).to(FP8_DTYPE)
    b = torch.randn(n, n, device=device).to(FP8_DTYPE).t()  # column-major (K, N)
    one = torch.ones((), device=device, dtype=torch.float32)

    def run(fast: bool) -> torch.Tensor:
        return torch._scaled_mm(
            a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=fast
        )

    try:
        run(True)
        fast = True
    except RuntimeError:
        fast = False
    return _rate(lambda: run(fast), 2 * n**3, True) / 1e12


def measure_int8_tops(device: torch.device) -> float:
    n = MATMUL_SIZE
    a = torch.randint(-128, 128, (n, n), device=device, dtype=torch.int8)
    b = torch.randint(-128, 128, (n, n), device=device, dtype=torch.int8).t()
    return _rate(lambda: torch._int_mm(a, b), 2 * n**3, True) / 1e12


def measure_ceilings(device: torch.device, log: Callable[[str], None] | None = None) -> Ceilings:
    """Measure the device's ceilings (see module doc). FP8 / INT8 failures do not abort: FP8
    falls back to the bf16 figure (so rooflines stay defined) and INT8 to None, with a note.

    On a CPU (interpreter test runs) copy and bf16 are measured on small sizes and FP8 takes
    the bf16 figure; such numbers are only there to make the files valid.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    copy_gbps = measure_copy_gbps(device)
    bf16_tflops = measure_bf16_tflops(device)
    fp8_tflops: float = bf16_tflops
    int8_tops: float | None = None
    if device.type == "cuda":
        try:
            fp8_tflops = measure_fp8_tflops(device)
        except Exception as exc:  # noqa: BLE001 - any failure means "no fp8 ceiling here"
            log(f"ceilings: fp8 matmul failed ({type(exc).__name__}: {exc}); using the bf16 rate")
        try:
            int8_tops = measure_int8_tops(device)
        except Exception as exc:  # noqa: BLE001
            log(f"ceilings: int8 matmul failed ({type(exc).__name__}: {exc}); int8 unset")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return Ceilings(
        copy_gbps=copy_gbps, bf16_tflops=bf16_tflops, fp8_tflops=fp8_tflops, int8_tops=int8_tops
    )
