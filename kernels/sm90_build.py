"""Build a Gluon kernel for Hopper (sm_90) on a machine without a GPU, and read the result.

Why: CI and the development machines have no GPU, and Gluon kernels do not run in Triton's CPU
interpreter. Triton's compiler and the ptxas / cuobjdump / nvdisasm it bundles still work
offline, so a test can prove that a kernel lowers for sm_90 (layouts, warp specialization,
register budget, no spills) and inspect the SASS of its main loop, while the numerics are
checked on a GPU.

Builds run in one separate (spawned) worker process started without ``TRITON_INTERPRET``:
Triton's CPU interpreter patches ``triton.language`` while it runs a kernel (a Gluon build in
the same process after any interpreted launch fails, as in the CPU test suite), and the
``@triton.jit`` helpers a Gluon kernel calls must be decorated as compiled functions.

:func:`host_descriptor` is also what the launch wrappers use, so an offline build sees exactly
the descriptor types a real launch passes.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import multiprocessing
import os
import re
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import triton
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from kernels.compat import offline_build_problem

GL_DTYPES = {
    torch.float8_e4m3fn: gl.float8e4nv,
    torch.bfloat16: gl.bfloat16,
    torch.float16: gl.float16,
    torch.float32: gl.float32,
}


@functools.cache
def _nvmma_layout(block_shape: tuple[int, ...], dtype: torch.dtype) -> gl.NVMMASharedLayout:
    return gl.NVMMASharedLayout.get_default_for(list(block_shape), GL_DTYPES[dtype])


def host_descriptor(t: torch.Tensor, block_shape: list[int]) -> TensorDescriptor:
    """A host-side TMA descriptor over ``t`` with the default NVMMA (swizzled) shared layout
    for the block; passed by value as a kernel parameter (no device scratch)."""
    return TensorDescriptor.from_tensor(t, block_shape, _nvmma_layout(tuple(block_shape), t.dtype))


def descriptor_type(block_shape: list[int], dtype: torch.dtype) -> str:
    """The signature string Triton gives such a descriptor (built over a small CPU tensor:
    only dtype, block and layout matter)."""
    from triton._C.libtriton import native_specialize_impl  # private: see kernels.compat
    from triton.backends.nvidia.compiler import CUDABackend

    rows = max(block_shape[0], 16)
    desc = host_descriptor(torch.empty(rows, 256, dtype=dtype), block_shape)
    return native_specialize_impl(CUDABackend, desc, False, True, True)[0]


@dataclass(frozen=True)
class Sm90Build:
    """What a build produced: ``asm`` maps "ttgir" / "ptx" (text) and "cubin" (bytes)."""

    asm: dict[str, Any]
    shared_bytes: int


def _compile(
    module: str,
    name: str,
    signature: dict[str, str],
    constexprs: dict[str, Any],
    num_warps: int,
    maxnreg: int | None,
) -> Sm90Build:
    """Runs in the worker process. The compiler's entry points are private Triton API, probed
    by :func:`kernels.compat.offline_build_problem` before a build is asked for."""
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import CUDABackend
    from triton.experimental.gluon._runtime import GluonASTSource

    sm90 = GPUTarget("cuda", 90, 32)
    fn = getattr(importlib.import_module(module), name)
    names = list(fn.arg_names)
    sig = {n: "constexpr" if n in constexprs else signature[n] for n in names}
    consts = {(names.index(k),): v for k, v in constexprs.items()}
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in names if sig[n].startswith("*")}
    options = CUDABackend(sm90).parse_options({"num_warps": num_warps, "maxnreg": maxnreg})
    kernel = triton.compile(
        GluonASTSource(fn, sig, consts, attrs), target=sm90, options=options.__dict__
    )
    return Sm90Build(
        {key: kernel.asm[key] for key in ("ttgir", "ptx", "cubin")}, int(kernel.metadata.shared)
    )


_pool: ProcessPoolExecutor | None = None


def _worker() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        interpret = os.environ.pop("TRITON_INTERPRET", None)
        try:  # the worker starts at its first job and inherits the environment then
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            _pool.submit(int).result()
        finally:
            if interpret is not None:
                os.environ["TRITON_INTERPRET"] = interpret
        atexit.register(_pool.shutdown)
    return _pool


def build_sm90(
    fn: Any,
    signature: dict[str, str],
    constexprs: dict[str, Any],
    num_warps: int,
    maxnreg: int | None = None,
) -> Sm90Build:
    """Compile ``fn`` (a module-level ``gluon.jit`` function) for sm_90. ``signature`` maps
    every non-constexpr argument to a Triton type string; pointer arguments are marked 16-byte
    aligned, as a real launch with torch allocations would specialize them. Raises
    ``RuntimeError`` (one line) where this Triton cannot build offline."""
    problem = offline_build_problem()
    if problem:
        raise RuntimeError(f"offline sm_90 build: {problem}")
    job = (fn.fn.__module__, fn.fn.__name__, signature, constexprs, num_warps, maxnreg)
    return _worker().submit(_compile, *job).result()


def _tool_output(tool: str, flag: str, cubin: bytes) -> str:
    """stdout of one of the CUDA binary tools bundled with triton, run on the cubin."""
    path = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / tool
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        return subprocess.run(
            [str(path), flag, f.name], check=True, capture_output=True, text=True
        ).stdout


def resource_usage(cubin: bytes) -> dict[str, int]:
    """Registers, local memory (spills) and static shared memory per thread / block, as
    ``cuobjdump -res-usage`` reports them for the cubin's one kernel."""
    text = _tool_output("cuobjdump", "-res-usage", cubin)
    return {key: int(value) for key, value in re.findall(r"\b(REG|LOCAL|SHARED):(\d+)", text)}


def disassemble(cubin: bytes) -> list[str]:
    """The SASS instructions (opcode and operands only) of the cubin, in order."""
    text = _tool_output("nvdisasm", "-c", cubin)
    return [m.group(1).strip() for m in re.finditer(r"/\*[0-9a-f]{4,}\*/\s+(.*?);", text)]
