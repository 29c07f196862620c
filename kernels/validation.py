"""Argument checks shared by the host wrappers.

Why: a Triton kernel handed a wrong shape or dtype does not fail, it reads past a buffer or
computes garbage. Each wrapper checks its inputs first and raises ``ValueError`` naming the
argument, so misuse is a one-line error instead of a wrong number in a catalog.
"""

from __future__ import annotations

import functools
import os

import torch

from kernels.platform import PLATFORM_FP8

# The FP8 dtype quantization produces by default: the platform's (e4m3fn; e4m3fnuz on an MI300-
# class GPU, kernels.platform). The FP8 kernels accept both (kernels.platform.FP8_DTYPES).
FP8_DTYPE = PLATFORM_FP8.dtype
# The output dtypes every GEMM wrapper writes, by the name records and config files use.
OUT_DTYPES_BY_NAME = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
}
OUT_DTYPES = tuple(OUT_DTYPES_BY_NAME.values())
TMA_ALIGN = 16  # bytes: base address and every non-unit stride of a TMA descriptor


def interpreting() -> bool:
    """True under Triton's CPU interpreter (``TRITON_INTERPRET=1``), where CPU tensors are fine."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def _cuda_sm_count(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).multi_processor_count)


def multiprocessor_count(device: torch.device | str | None, on_cpu: int) -> int:
    """Multiprocessors of ``device`` (the current CUDA device when None). ``on_cpu`` stands in
    for a CPU device or a machine without CUDA (the interpreter), where grids that are sized
    from the SM count still need a number: each kernel picks one that exercises its tests."""
    dev = torch.device(device) if device is not None else None
    if (dev is not None and dev.type != "cuda") or not torch.cuda.is_available():
        return on_cpu
    index = dev.index if dev is not None and dev.index is not None else torch.cuda.current_device()
    return _cuda_sm_count(index)


def check_dtype(name: str, t: torch.Tensor, allowed: tuple[torch.dtype, ...]) -> None:
    if t.dtype not in allowed:
        names = ", ".join(str(d).removeprefix("torch.") for d in allowed)
        raise ValueError(f"{name}: dtype {str(t.dtype).removeprefix('torch.')} not in ({names})")


def check_out_dtype(out_dtype: object) -> None:
    if out_dtype not in OUT_DTYPES:
        raise ValueError(f"out_dtype: {out_dtype} not in (float16, bfloat16, float32)")


def check_shape(name: str, t: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{name}: shape {tuple(t.shape)} != expected {tuple(expected)}")


def check_ndim(name: str, t: torch.Tensor, ndim: int) -> None:
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor, got shape {tuple(t.shape)}")


def check_devices(**tensors: torch.Tensor) -> None:
    """All tensors on one device, and that device a CUDA GPU unless interpreting."""
    devices = {name: t.device for name, t in tensors.items()}
    first_name, first = next(iter(devices.items()))
    for name, dev in devices.items():
        if dev != first:
            raise ValueError(f"{name}: on {dev}, but {first_name} is on {first}")
    if first.type != "cuda" and not interpreting():
        raise ValueError(
            f"{first_name}: tensors are on {first}; the Triton kernels need a CUDA device "
            "(or TRITON_INTERPRET=1 for the CPU interpreter)"
        )


def check_inner_contiguous(name: str, t: torch.Tensor) -> None:
    """The K dimension must be unit-stride so tiles load as wide contiguous vectors."""
    if t.stride(-1) != 1:
        raise ValueError(f"{name}: last dimension must be contiguous (stride {t.stride(-1)} != 1)")


def tma_aligned(t: torch.Tensor) -> bool:
    """Whether a 2-D tensor can back a TMA descriptor: 16-byte aligned base and rows."""
    return t.data_ptr() % TMA_ALIGN == 0 and (t.stride(0) * t.element_size()) % TMA_ALIGN == 0


def check_out(
    out: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> None:
    if out is None:
        return
    check_shape("out", out, shape)
    if out.dtype != dtype:
        raise ValueError(f"out: dtype {out.dtype} != out_dtype {dtype}")
    if out.device != device:
        raise ValueError(f"out: on {out.device}, inputs on {device}")
