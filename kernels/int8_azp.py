"""INT8 GEMM with asymmetric per-token activations: the zero-point ("azp") correction.

Symmetric INT8 wastes half the code range on activations that are mostly of one sign (after a
ReLU/SiLU, or with an outlier channel). Asymmetric quantization maps each token's own
``[min, max]`` onto ``[-128, 127]`` with a scale and an integer zero point:

    x[m, k] ~= a_s[m] * (A[m, k] - a_zp[m])          A int8, a_s fp32, a_zp int32  (per token)
    w[n, k] ~= b_s[n] * B[n, k]                      B int8, b_s fp32              (per channel)

The product then splits into an integer GEMM and a rank-1 correction:

    C[m, n] = a_s[m] * b_s[n] * ( sum_k A[m, k] * B[n, k]  -  a_zp[m] * colsum_B[n] )  (+ bias[n])

with ``colsum_B[n] = sum_k B[n, k]`` computed once per weight (vLLM's ``azp_adj``), so the
inner loop is a plain int8 x int8 -> int32 dot, exactly like the symmetric kernel, and the
correction costs one multiply-subtract per output element in the epilogue. Both terms are
integers, so the correction is exact: the only rounding is the final fp32 scaling.

Overflow bound: ``|A @ B^T| <= 128 * 128 * K`` and, with zero points in ``[-128, 127]`` (what
:func:`per_token_quant_int8_azp` produces, because it keeps 0 inside the quantized range),
``|a_zp * colsum| <= 128 * 128 * K``; their difference stays inside int32 for
``K < 2**31 / (2 * 128 * 128)`` = 65536, which the wrapper checks.

Tiling, the grouped program order (``kernels.tiling``) and the config keys are those of
``kernels.w8a8_block``, so a config dict from the block INT8 tuner launches here unchanged.
There are no K scale blocks, so any power-of-two ``BLOCK_SIZE_K`` is valid.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import triton
import triton.language as tl

from kernels._host import allocate_output, matmul_sizes, num_tiles
from kernels.reference import dense_reference
from kernels.tiling import default_w8a8_config, grouped_tile_ids, split_config, validate_config
from kernels.validation import (
    check_devices,
    check_dtype,
    check_inner_contiguous,
    check_ndim,
    check_out_dtype,
    check_shape,
)

INT8_MIN = -128.0
INT8_MAX = 127.0
SCALE_EPS = 1e-10  # floor of the scale, so a constant (e.g. all-zero) row stays finite
MAX_K = 65535  # int32 bound of the accumulator plus the correction (see module doc)


# ---------------------------------------------------------------------------------------------
# Activation quantization (asymmetric, per token)


@triton.jit
def _round_half_away(y):
    return tl.where(y >= 0, tl.floor(y + 0.5), tl.ceil(y - 0.5))


# fmt: off
@triton.jit
def _per_token_azp_quant_kernel(
    # Pointers
    x_ptr, q_ptr, s_ptr, zp_ptr,
    # Sizes
    K,
    # Strides
    stride_xm, stride_qm,
    # Meta-parameters
    BLOCK: tl.constexpr,
):
    """One program per token: pass 1 finds the range, pass 2 quantizes."""
    # fmt: on
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    lo = tl.zeros((BLOCK,), dtype=tl.float32)  # starting at 0 keeps 0 inside the range
    hi = tl.zeros((BLOCK,), dtype=tl.float32)
    for k0 in range(0, K, BLOCK):
        cols = k0 + offs
        x = tl.load(x_ptr + row * stride_xm + cols, mask=cols < K, other=0.0).to(tl.float32)
        lo = tl.minimum(lo, x)
        hi = tl.maximum(hi, x)
    x_min = tl.min(lo, axis=0)
    x_max = tl.max(hi, axis=0)
    # div_rn: correctly rounded division, so the GPU matches the torch reference bit for bit.
    scale = tl.maximum(tl.div_rn(x_max - x_min, 255.0), 1e-10)
    zp = _round_half_away(-128.0 - tl.div_rn(x_min, scale))
    for k0 in range(0, K, BLOCK):
        cols = k0 + offs
        x = tl.load(x_ptr + row * stride_xm + cols, mask=cols < K, other=0.0).to(tl.float32)
        q = _round_half_away(tl.div_rn(x, scale)) + zp
        q = tl.minimum(tl.maximum(q, -128.0), 127.0)
        tl.store(q_ptr + row * stride_qm + cols, q.to(tl.int8), mask=cols < K)
    tl.store(s_ptr + row, scale)
    tl.store(zp_ptr + row, zp.to(tl.int32))


def per_token_quant_int8_azp(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric per-token INT8 quantization of a (M, K) fp16/bf16/fp32 tensor.

    Returns ``(q, scale, zp)``: q (M, K) int8, scale (M,) fp32, zp (M,) int32, such that
    ``x ~= scale[:, None] * (q - zp[:, None])``. The range of each row is widened to include 0
    (so zero is exact and ``zp`` lies in [-128, 127]); values round half away from zero.
    """
    check_dtype("x", x, (torch.float16, torch.bfloat16, torch.float32))
    check_ndim("x", x, 2)
    check_inner_contiguous("x", x)
    check_devices(x=x)
    M, K = x.shape
    q = torch.empty((M, K), dtype=torch.int8, device=x.device)
    scale = torch.empty((M,), dtype=torch.float32, device=x.device)
    zp = torch.empty((M,), dtype=torch.int32, device=x.device)
    if M == 0 or K == 0:
        return q, scale, zp
    block = min(triton.next_power_of_2(K), 1024)
    _per_token_azp_quant_kernel[(M,)](x, q, scale, zp, K, x.stride(0), q.stride(0), BLOCK=block)
    return q, scale, zp


def per_token_quant_int8_azp_reference(x: torch.Tensor
                                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain-torch twin of :func:`per_token_quant_int8_azp` (the oracle of its tests)."""

    def round_half_away(y: torch.Tensor) -> torch.Tensor:
        return torch.where(y >= 0, torch.floor(y + 0.5), torch.ceil(y - 0.5))

    xf = x.float()
    x_min = xf.amin(dim=1).clamp(max=0.0)
    x_max = xf.amax(dim=1).clamp(min=0.0)
    scale = ((x_max - x_min) / 255.0).clamp(min=SCALE_EPS)
    zp = round_half_away(-128.0 - x_min / scale)
    q = (round_half_away(xf / scale[:, None]) + zp[:, None]).clamp(INT8_MIN, INT8_MAX)
    return q.to(torch.int8), scale, zp.to(torch.int32)


def quantize_weight_per_channel_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel INT8 of a (N, K) weight: (q int8, scale (N,) fp32)."""
    wf = w.float()
    scale = (wf.abs().amax(dim=1) / INT8_MAX).clamp(min=SCALE_EPS)
    y = wf / scale[:, None]
    q = (torch.sign(y) * torch.floor(y.abs() + 0.5)).clamp(INT8_MIN, INT8_MAX)
    return q.to(torch.int8), scale


def weight_colsum(B: torch.Tensor) -> torch.Tensor:
    """``colsum_B[n] = sum_k B[n, k]`` in int32: computed once per weight, like vLLM's azp_adj."""
    check_dtype("B", B, (torch.int8,))
    check_ndim("B", B, 2)
    return B.sum(dim=1, dtype=torch.int32)


# ---------------------------------------------------------------------------------------------
# GEMM


# fmt: off
@triton.jit
def _int8_azp_gemm_kernel(
    # Pointers
    a_ptr, b_ptr, c_ptr, a_scale_ptr, a_zp_ptr, b_scale_ptr, b_colsum_ptr, bias_ptr,
    # Sizes
    M, N, K,
    # Strides
    stride_am, stride_ak,
    stride_bk, stride_bn,
    stride_cm, stride_cn,
    stride_as, stride_azp, stride_bs, stride_bcs, stride_bias,
    # Meta-parameters
    BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,
    GROUP_SIZE_M: tl.constexpr,
    HAS_BIAS: tl.constexpr,
):
    # fmt: on
    pid_m, pid_n = grouped_tile_ids(
        tl.program_id(0), M, N, BLOCK_SIZE_M, BLOCK_SIZE_N, GROUP_SIZE_M
    )

    # Out-of-range rows / columns wrap (% M, % N) so loads need no mask; the store drops them.
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn

    # acc = A_tile_rows @ B_tile_cols^T over all of K, exact in int32 (masked K tail loads 0).
    acc = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.int32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        k_remaining = K - k * BLOCK_SIZE_K
        a = tl.load(a_ptrs, mask=offs_k[None, :] < k_remaining, other=0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < k_remaining, other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk

    # Epilogue (module doc): exact integer zero-point correction, then one fp32 scaling.
    zp = tl.load(a_zp_ptr + offs_am * stride_azp)
    colsum = tl.load(b_colsum_ptr + offs_bn * stride_bcs)
    acc = acc - zp[:, None] * colsum[None, :]
    a_s = tl.load(a_scale_ptr + offs_am * stride_as)
    b_s = tl.load(b_scale_ptr + offs_bn * stride_bs)
    c = acc.to(tl.float32) * a_s[:, None] * b_s[None, :]
    if HAS_BIAS:
        c += tl.load(bias_ptr + offs_bn * stride_bias).to(tl.float32)[None, :]

    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c.to(c_ptr.dtype.element_ty), mask=c_mask)


def int8_azp_matmul(
    A: torch.Tensor,
    a_s: torch.Tensor,
    a_zp: torch.Tensor,
    B: torch.Tensor,
    b_s: torch.Tensor,
    b_colsum: torch.Tensor,
    bias: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.bfloat16,
    config: Mapping[str, int] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """C = a_s * b_s * (A @ B^T - a_zp * colsum_B) (+ bias), see the module doc.

    Args:
        A: (M, K) int8 activations, K unit-stride.
        a_s: (M,) float32 per-token scales.
        a_zp: (M,) int32 per-token zero points.
        B: (N, K) int8 weights, K unit-stride.
        b_s: (N,) float32 per-channel weight scales.
        b_colsum: (N,) int32 row sums of B (:func:`weight_colsum`), precomputed per weight.
        bias: optional (N,) float16/bfloat16/float32, added after scaling.
        out_dtype: float16, bfloat16 or float32.
        config: vLLM-style config dict; ``None`` uses vLLM's W8A8 default.
        out: optional preallocated (M, N) output.
    """
    check_ndim("A", A, 2)
    check_ndim("B", B, 2)
    check_dtype("A", A, (torch.int8,))
    check_dtype("B", B, (torch.int8,))
    check_out_dtype(out_dtype)
    M, N, K = matmul_sizes("A", A, B)
    if K > MAX_K:
        raise ValueError(f"A: K={K} > {MAX_K} could overflow the int32 accumulator")
    for name, t, dtype, length in (("a_s", a_s, torch.float32, M), ("a_zp", a_zp, torch.int32, M),
                                   ("b_s", b_s, torch.float32, N),
                                   ("b_colsum", b_colsum, torch.int32, N)):
        check_dtype(name, t, (dtype,))
        check_shape(name, t, (length,))
    tensors = dict(A=A, a_s=a_s, a_zp=a_zp, B=B, b_s=b_s, b_colsum=b_colsum)
    if bias is not None:
        check_dtype("bias", bias, (torch.float16, torch.bfloat16, torch.float32))
        check_shape("bias", bias, (N,))
        tensors["bias"] = bias
    check_inner_contiguous("A", A)
    check_inner_contiguous("B", B)
    check_devices(**tensors)
    cfg = config if config is not None else default_w8a8_config()
    # No K scale blocks here: validate BLOCK_SIZE_K against itself (any power of two is fine).
    cfg = validate_config(cfg, int(cfg.get("BLOCK_SIZE_K", 0)) or 1)
    C = allocate_output(out, (M, N), out_dtype, A.device)

    meta, launch = split_config(cfg)
    grid = (num_tiles(M, N, meta),)
    bias_arg = bias if bias is not None else b_s  # any valid pointer; unused without HAS_BIAS
    # fmt: off
    _int8_azp_gemm_kernel[grid](
        A, B, C, a_s, a_zp, b_s, b_colsum, bias_arg,
        M, N, K,
        A.stride(0), A.stride(1),
        B.stride(1), B.stride(0),
        C.stride(0), C.stride(1),
        a_s.stride(0), a_zp.stride(0), b_s.stride(0), b_colsum.stride(0), bias_arg.stride(0),
        **meta, **launch,
        HAS_BIAS=bias is not None,
    )
    # fmt: on
    return C


def int8_azp_reference(A: torch.Tensor, a_s: torch.Tensor, a_zp: torch.Tensor, B: torch.Tensor,
                       b_s: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """fp32 (M, N) = dequant(A; a_s, a_zp) @ dequant(B; b_s)^T (+ bias), as kernels.reference."""
    a = (A.float() - a_zp.float()[:, None]) * a_s.float()[:, None]
    b = B.float() * b_s.float()[:, None]
    ref = dense_reference(a, b)
    return ref + bias.float()[None, :] if bias is not None else ref


def int8_azp_bytes(M: int, N: int, K: int, out_dtype: torch.dtype, bias: bool = False) -> int:
    """Fewest bytes: A, B once; per-token (scale, zp) and per-channel (scale, colsum[, bias])."""
    out_size = torch.empty(0, dtype=out_dtype).element_size()
    return M * K + N * K + 8 * M + (8 + 4 * bias) * N + M * N * out_size
