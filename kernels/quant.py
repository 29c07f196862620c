"""Quantization helpers: per-token-group activations, per-block weights, and their inverses.

Activations are quantized at run time, per token and per group of ``group_size`` (128) columns:

    scale[m, g] = max(amax(x[m, g*G:(g+1)*G]), eps) / QMAX
    q[m, k]     = clamp(x[m, k] / scale[m, k // G], -QMAX, QMAX)     (FP8:  QMAX = 448 e4m3fn,
                                                                      224 e4m3fnuz)
    q[m, k]     = clamp(round(x[m, k] / scale[m, k // G]), -128, 127) (INT8: QMAX = 127)

The FP8 dtype is the platform's unless given (``kernels.platform``: e4m3fnuz on MI300-class
GPUs, where vLLM quantizes to 224, not the dtype's 240; e4m3fn elsewhere), and QMAX follows the
dtype quantized to.

Weights are quantized offline per ``bn x bk`` block the same way. The dequantize functions
give the fp32 values the GEMM kernels must reproduce, which is what ``kernels.reference`` uses.

INT8 rounds half away from zero (vLLM's Triton path truncates, losing half a step of accuracy).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.compat import interpreter_dtype_problem
from kernels.platform import FP8_DTYPES, PLATFORM_FP8, fp8_format
from kernels.validation import (
    FP8_DTYPE,
    check_devices,
    check_dtype,
    check_inner_contiguous,
    interpreting,
)

FP8_MAX = PLATFORM_FP8.qmax  # what the platform's FP8 quantizes to (448; 224 on MI300-class)
INT8_MAX = 127.0
SCALE_EPS = 1e-10  # floor of amax, so an all-zero group gets a finite scale


def group_tiling(group_size: int, groups: int) -> tuple[int, int]:
    """(BLOCK, GROUPS_PER_PROGRAM) of a per-token-group quantization launch: a power-of-two
    tile over one group, and as many groups per program as fit 2048 elements (enough bytes in
    flight per program; see the kernel's docstring)."""
    block = triton.next_power_of_2(group_size)
    return block, max(1, min(triton.next_power_of_2(groups), 2048 // block))


def min_normal(dtype: torch.dtype) -> float:
    """The smallest normal value of an e4m3 format (2^-6 for e4m3fn, 2^-7 for e4m3fnuz, whose
    exponent bias is 8); 1.0 for int8, which has no subnormals (the kernels never use it)."""
    if dtype == torch.float8_e4m3fnuz:
        return 2.0**-7
    return 2.0**-6 if dtype == torch.float8_e4m3fn else 1.0


def _qmax(dtype: torch.dtype) -> float:
    if dtype in FP8_DTYPES:
        return fp8_format(dtype).qmax
    if dtype == torch.int8:
        return INT8_MAX
    raise ValueError(
        f"dtype: quantized dtype must be float8_e4m3fn, float8_e4m3fnuz or int8, got {dtype}"
    )


@triton.jit
def _round_to_e4m3_grid(y, MIN_NORMAL: tl.constexpr):
    """Round fp32 values within the format's range to the nearest e4m3 value (ties to even), in
    fp32. ``MIN_NORMAL``: the format's smallest normal value, 2^-6 for e4m3fn, 2^-7 for
    e4m3fnuz (exponent bias 8); the subnormals below it share its spacing.

    Used only under the CPU interpreter, whose fp32 -> e4m3 casts round wrongly (triton 3.6
    e4m3fn: 124.3 -> 64, 100 -> 104; triton 3.9 e4m3fnuz: 63 -> 32, the mantissa's carry into
    the exponent dropped); after this the cast is exact. On GPUs the hardware cast is used.
    """
    a = tl.abs(y)
    exponent = tl.floor(tl.log2(tl.maximum(a, MIN_NORMAL)))
    step = tl.exp2(exponent - 3.0)  # 3 mantissa bits
    v = a / step
    f = tl.floor(v)
    frac = v - f
    f_is_odd = (f - 2.0 * tl.floor(f * 0.5)) == 1.0
    r = tl.where((frac > 0.5) | ((frac == 0.5) & f_is_odd), f + 1.0, f) * step
    return tl.where(y < 0, -r, r)


@triton.jit
def _per_token_group_quant_kernel(
    # Pointers
    x_ptr,
    q_ptr,
    s_ptr,
    # Sizes
    K,
    GROUP,
    NUM_GROUPS,
    # Strides
    stride_xm,
    stride_qm,
    stride_sm,
    stride_sg,
    # Quantization constants
    eps,
    qmax,
    # Meta-parameters
    IS_INT8: tl.constexpr,
    BLOCK: tl.constexpr,
    GROUPS_PER_PROGRAM: tl.constexpr,
    ROUND_IN_FP32: tl.constexpr,
    MIN_NORMAL: tl.constexpr,
):
    """One program quantizes GROUPS_PER_PROGRAM consecutive groups of one row (one token).

    A tile of (GROUPS_PER_PROGRAM, BLOCK) elements: one amax per tile row. Several groups per
    program (rather than one 128-element group) keep enough bytes in flight per program; with
    one group per program the kernel took ~150 us for 4096 x 7168 on an H200, 7x its bytes.
    """
    row = tl.program_id(0)
    groups = tl.program_id(1) * GROUPS_PER_PROGRAM + tl.arange(0, GROUPS_PER_PROGRAM)
    offs = tl.arange(0, BLOCK)
    cols = groups[:, None] * GROUP + offs[None, :]
    mask = (offs[None, :] < GROUP) & (cols < K) & (groups[:, None] < NUM_GROUPS)
    x = tl.load(x_ptr + row * stride_xm + cols, mask=mask, other=0.0).to(tl.float32)

    scale = tl.maximum(tl.max(tl.abs(x), axis=1), eps) / qmax  # (GROUPS_PER_PROGRAM,)
    y = tl.div_rn(x, scale[:, None])
    if IS_INT8:
        y = tl.where(y >= 0, tl.floor(y + 0.5), tl.ceil(y - 0.5))  # round half away from zero
        y = tl.minimum(tl.maximum(y, -qmax - 1.0), qmax)
    else:
        y = tl.minimum(tl.maximum(y, -qmax), qmax)
        if ROUND_IN_FP32:
            y = _round_to_e4m3_grid(y, MIN_NORMAL)
    tl.store(q_ptr + row * stride_qm + cols, y.to(q_ptr.dtype.element_ty), mask=mask)
    tl.store(s_ptr + row * stride_sm + groups * stride_sg, scale, mask=groups < NUM_GROUPS)


def per_token_group_quant(
    x: torch.Tensor,
    group_size: int = 128,
    dtype: torch.dtype = FP8_DTYPE,
    column_major_scales: bool = False,
    out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a (M, K) fp16/bf16/fp32 tensor per token and group; returns (q, scales).

    ``scales`` is (M, ceil(K / group_size)) fp32, row-major for the Triton kernels, or with
    column-major strides (1, M) when ``column_major_scales`` (the layout cuBLASLt's block-wise
    FP8 expects). ``out``: (q, scales) to write instead of new tensors, the scales in either
    layout (their strides are the kernel's); ``column_major_scales`` is then not used. Why: the
    benchmark gives every rotated input set its own quantized activation, since where a new
    one lands in memory moved a GEMM's time by up to 21 % (``generator.bench.context``).
    """
    check_dtype("x", x, (torch.float16, torch.bfloat16, torch.float32))
    if x.dim() != 2:
        raise ValueError(f"x: expected a 2-D tensor, got shape {tuple(x.shape)}")
    check_inner_contiguous("x", x)
    check_devices(x=x)
    if group_size < 1:
        raise ValueError(f"group_size: must be >= 1, got {group_size}")
    qmax = _qmax(dtype)
    if interpreting():
        problem = interpreter_dtype_problem(dtype)
        if problem:
            raise ValueError(f"dtype: {problem}")
    M, K = x.shape
    groups = triton.cdiv(K, group_size)
    if out is not None:
        q, s = out
        check_quant_out(q, s, (M, K), (M, groups), dtype, torch.float32, x.device)
    else:
        q, s = empty_token_group_quant(M, K, group_size, dtype, column_major_scales, x.device)
    if M == 0 or K == 0:
        return q, s
    block, per_program = group_tiling(group_size, groups)
    _per_token_group_quant_kernel[(M, triton.cdiv(groups, per_program))](
        x,
        q,
        s,
        K,
        group_size,
        groups,
        x.stride(0),
        q.stride(0),
        s.stride(0),
        s.stride(1),
        SCALE_EPS,
        qmax,
        IS_INT8=dtype == torch.int8,
        BLOCK=block,
        GROUPS_PER_PROGRAM=per_program,
        ROUND_IN_FP32=interpreting() and dtype != torch.int8,
        MIN_NORMAL=min_normal(dtype),
        num_warps=4,
    )
    return q, s


def empty_token_group_quant(
    M: int,
    K: int,
    group_size: int,
    dtype: torch.dtype,
    column_major_scales: bool,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialized (q, scales) as :func:`per_token_group_quant` returns them: q (M, K) of
    ``dtype``, scales (M, ceil(K / group_size)) fp32, row-major or with strides (1, M)."""
    groups = triton.cdiv(K, group_size)
    q = torch.empty((M, K), dtype=dtype, device=device)
    if column_major_scales:
        return q, torch.empty((groups, M), dtype=torch.float32, device=device).t()
    return q, torch.empty((M, groups), dtype=torch.float32, device=device)


def check_quant_out(
    q: torch.Tensor,
    scales: torch.Tensor,
    q_shape: tuple[int, int],
    scales_shape: tuple[int, int],
    dtype: torch.dtype,
    scales_dtype: torch.dtype,
    device: torch.device,
) -> None:
    """A caller's ``out=(q, scales)`` of a quantization: the shapes, dtypes and device the
    result needs, ``q`` row-contiguous (its rows are written as wide vectors)."""
    for name, t, shape, want in (
        ("out[0]", q, q_shape, dtype),
        ("out[1]", scales, scales_shape, scales_dtype),
    ):
        if tuple(t.shape) != tuple(shape):
            raise ValueError(f"{name}: shape {tuple(t.shape)} != expected {tuple(shape)}")
        if t.dtype != want:
            raise ValueError(f"{name}: dtype {t.dtype} != {want}")
        if t.device != device:
            raise ValueError(f"{name}: on {t.device}, x on {device}")
    check_inner_contiguous("out[0]", q)


def _quantize_values(x: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x / scale, rounded and clamped to the quantized range, in the target dtype."""
    qmax = _qmax(dtype)
    y = x / scale
    if dtype == torch.int8:
        y = torch.sign(y) * torch.floor(y.abs() + 0.5)
        return y.clamp(-qmax - 1.0, qmax).to(torch.int8)
    return y.clamp(-qmax, qmax).to(dtype)


def per_token_group_quant_reference(
    x: torch.Tensor, group_size: int = 128, dtype: torch.dtype = FP8_DTYPE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch twin of :func:`per_token_group_quant` (the oracle its tests compare with)."""
    qmax = _qmax(dtype)
    M, K = x.shape
    groups = -(-K // group_size)
    xf = torch.nn.functional.pad(x.float(), (0, groups * group_size - K))
    xg = xf.view(M, groups, group_size)
    scale = xg.abs().amax(dim=-1).clamp(min=SCALE_EPS) / qmax
    q = _quantize_values(xg, scale[..., None], dtype).view(M, groups * group_size)[:, :K]
    return q.contiguous(), scale


def quantize_weight_blockwise(
    w: torch.Tensor, block_size: tuple[int, int] = (128, 128), dtype: torch.dtype = FP8_DTYPE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a (..., N, K) weight per ``bn x bk`` block; returns (q, scales).

    Scales are (..., ceil(N/bn), ceil(K/bk)) fp32, the layout of DeepSeek / Qwen FP8 checkpoints.
    Ragged edge blocks are padded with zeros for the amax only. Leading batch dims are kept, so
    the batched A16W8 weights (B, N, K) quantize with the same function.
    """
    qmax = _qmax(dtype)
    bn, bk = block_size
    *lead, N, K = w.shape
    nb, kb = -(-N // bn), -(-K // bk)
    wf = torch.nn.functional.pad(w.float(), (0, kb * bk - K, 0, nb * bn - N))
    blocks = wf.reshape(*lead, nb, bn, kb, bk)
    scale = blocks.abs().amax(dim=(-3, -1)).clamp(min=SCALE_EPS) / qmax  # (..., nb, kb)
    q = _quantize_values(blocks, scale[..., :, None, :, None], dtype)
    q = q.reshape(*lead, nb * bn, kb * bk)[..., :N, :K].contiguous()
    return q, scale.contiguous()


def dequantize_token_groups(
    q: torch.Tensor, scales: torch.Tensor, group_size: int = 128
) -> torch.Tensor:
    """fp32 values of per-token-group quantized activations (M, K)."""
    K = q.shape[-1]
    return q.float() * scales.float().repeat_interleave(group_size, dim=-1)[..., :K]


def dequantize_weight_blocks(
    q: torch.Tensor, scales: torch.Tensor, block_size: tuple[int, int] = (128, 128)
) -> torch.Tensor:
    """fp32 values of block-quantized weights (..., N, K)."""
    bn, bk = block_size
    N, K = q.shape[-2:]
    s = scales.float().repeat_interleave(bn, dim=-2)[..., :N, :]
    s = s.repeat_interleave(bk, dim=-1)[..., :K]
    return q.float() * s
