"""FP8 operands in DeepGEMM's layout, prepared the way vLLM 0.33.0's DeepGEMM path prepares them.

Why: on Hopper and Blackwell the engines run DeepGEMM (``deep_gemm.fp8_gemm_nt``) for block-FP8
linear layers, and the benchmark times it as the engine runs it. That needs the operands in the
layout and with the scale rounding the engine gives it, read from the engines' source:

* Activation scales: one fp32 per token and group of 128 columns, **MN-major** (the token index
  is contiguous) with the column stride padded to a multiple of 16 bytes ("TMA-aligned": 4 fp32).
  vLLM's ``per_token_group_quant_fp8(column_major_scales=True, tma_aligned_scales=True)`` writes
  them so (``vllm/model_executor/layers/quantization/utils/fp8_utils.py``); DeepGEMM 2.x checks
  and, if needed, copies them into this layout itself (``transform_sf_into_required_layout`` /
  ``get_mn_major_tma_aligned_tensor`` in ``csrc/apis/layout.hpp``; ``check_sf_layout`` in
  ``csrc/utils/layout.hpp``: ``stride(-2) == 1``, ``stride(-1) == get_tma_aligned_size(mn, 4)``).
* UE8M0 rounding: vLLM 0.33.0 defaults to ``VLLM_USE_DEEP_GEMM_E8M0=1``, so every scale fed to
  DeepGEMM, on Hopper too, is rounded **up** to a power of two (``exp2(ceil(log2(s)))``), and the
  checkpoint's weights are re-quantized at load with power-of-two block scales
  (``requant_weight_ue8m0_inplace``: dequantize, then per 128x128 block ``amax.clamp(1e-4) /
  448`` rounded up to a power of two).
* Blackwell (sm_100): DeepGEMM takes the scales as packed UE8M0, four exponent bytes per int32
  (group ``g`` in byte ``g % 4`` of int32 ``g // 4``), MN-major and TMA-aligned, padding groups
  set to 1.0 (vLLM's ``per_token_group_quant_fp8_packed_for_deepgemm``; DeepGEMM's
  ``pack_ue8m0_to_int`` / ``per_token_cast_to_fp8(use_packed_ue8m0=True)``).

The activation quantization is our Triton kernel standing in for vLLM's CUDA op
(``torch.ops._C.per_token_group_fp8_quant``, which lives in vLLM's compiled extension): the same
work (read bf16 once, write fp8 and the scales once) into the same layout, so its time is a fair
stand-in, not vLLM's exact kernel. The torch helpers here are plain and CPU-testable.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.quant import (
    FP8_MAX,
    SCALE_EPS,
    _round_to_e4m3_grid,
    check_quant_out,
    dequantize_weight_blocks,
    group_tiling,
)
from kernels.validation import (
    FP8_DTYPE,
    check_devices,
    check_dtype,
    check_inner_contiguous,
    interpreting,
)

TMA_ALIGNMENT_BYTES = 16  # DeepGEMM's get_tma_aligned_size: kNumTMAAlignmentBytes
WEIGHT_AMAX_FLOOR = 1e-4  # vLLM's / DeepGEMM's per_block_cast_to_fp8: x_amax.clamp(1e-4)
UE8M0_ONE = 127  # the exponent byte of 1.0, what packed padding groups hold


def tma_aligned_size(n: int, element_size: int) -> int:
    """``n`` rounded up to a multiple of 16 bytes' worth of elements (DeepGEMM's rule)."""
    if TMA_ALIGNMENT_BYTES % element_size:
        raise ValueError(f"element_size: must divide {TMA_ALIGNMENT_BYTES}, got {element_size}")
    step = TMA_ALIGNMENT_BYTES // element_size
    return -(-n // step) * step


def ceil_to_ue8m0(x: torch.Tensor) -> torch.Tensor:
    """The smallest power of two >= |x|, exactly (from the fp32 bits: the exponent, plus one
    if any mantissa bit is set), exponents clamped to the normal range as DeepGEMM does."""
    bits = x.abs().float().contiguous().view(torch.int32)
    exponent = ((bits >> 23) & 0xFF) + ((bits & 0x7FFFFF) != 0).to(torch.int32)
    return (exponent.clamp(1, 254) << 23).view(torch.float32)


def mn_major_storage(scales: torch.Tensor) -> torch.Tensor:
    """The dense (groups, aligned rows) buffer behind an MN-major, TMA-aligned (rows, groups)
    scale tensor: what must be cloned to copy it (a clone of the gapped view is repacked)."""
    rows, groups = scales.shape
    aligned = scales.stride(1)
    if scales.stride(0) != 1 or aligned < rows:
        raise ValueError(f"scales: not MN-major (strides {tuple(scales.stride())})")
    return scales.as_strided((groups, aligned), (aligned, 1))


def mn_major_view(storage: torch.Tensor, rows: int) -> torch.Tensor:
    """The (rows, groups) MN-major view of a (groups, aligned rows) buffer."""
    return storage.t()[:rows]


def mn_major_tma_aligned(scales: torch.Tensor) -> torch.Tensor:
    """A copy of (rows, groups) scales in DeepGEMM's MN-major, TMA-aligned layout."""
    rows, groups = scales.shape
    aligned = tma_aligned_size(rows, scales.element_size())
    storage = torch.zeros((groups, aligned), dtype=scales.dtype, device=scales.device)
    storage[:, :rows] = scales.t()
    return mn_major_view(storage, rows)


def pack_ue8m0(scales: torch.Tensor) -> torch.Tensor:
    """(rows, groups) fp32 powers of two -> (rows, ceil(groups / 4)) int32 packed UE8M0,
    MN-major and TMA-aligned; padding groups hold 1.0."""
    rows, groups = scales.shape
    values = scales.float().contiguous()
    exponent = (values.view(torch.int32) >> 23) & 0xFF
    if not bool(((exponent << 23).view(torch.float32) == values).all()):
        raise ValueError("scales: not all powers of two (round them with ceil_to_ue8m0 first)")
    padded = -(-groups // 4) * 4
    exps = torch.full((rows, padded), UE8M0_ONE, dtype=torch.uint8, device=scales.device)
    exps[:, :groups] = exponent.to(torch.uint8)
    words = exps.view(torch.int32)  # little-endian: group 4w + b is byte b of word w
    return mn_major_tma_aligned(words)


def unpack_ue8m0(packed: torch.Tensor, groups: int) -> torch.Tensor:
    """(rows, groups) fp32 scales of a packed UE8M0 tensor (the inverse of :func:`pack_ue8m0`)."""
    shifts = 8 * torch.arange(4, dtype=torch.int32, device=packed.device)
    exps = (packed.unsqueeze(-1) >> shifts) & 0xFF  # (rows, words, 4): byte b of each word
    exps = exps.reshape(packed.shape[0], -1)[:, :groups].contiguous()
    return (exps << 23).view(torch.float32)


@triton.jit
def _quant_deepgemm_kernel(
    x_ptr,
    q_ptr,
    s_ptr,
    K,
    GROUP,
    NUM_GROUPS,
    STORED_GROUPS,  # NUM_GROUPS, or rounded up to 4 when packed (padding groups hold 1.0)
    stride_xm,
    stride_qm,
    stride_sg,  # elements (fp32) or bytes (packed) from one scale column to the next
    eps,
    UE8M0: tl.constexpr,
    PACKED: tl.constexpr,
    BLOCK: tl.constexpr,
    GROUPS_PER_PROGRAM: tl.constexpr,
    ROUND_IN_FP32: tl.constexpr,
):
    """One program quantizes GROUPS_PER_PROGRAM groups of one row (token)."""
    row = tl.program_id(0)
    groups = tl.program_id(1) * GROUPS_PER_PROGRAM + tl.arange(0, GROUPS_PER_PROGRAM)
    offs = tl.arange(0, BLOCK)
    cols = groups[:, None] * GROUP + offs[None, :]
    mask = (offs[None, :] < GROUP) & (cols < K) & (groups[:, None] < NUM_GROUPS)
    x = tl.load(x_ptr + row * stride_xm + cols, mask=mask, other=0.0).to(tl.float32)

    scale = tl.maximum(tl.max(tl.abs(x), axis=1), eps) / 448.0
    if UE8M0:  # round up to a power of two, from the bits (exact; log2/exp2 are approximate)
        bits = scale.to(tl.int32, bitcast=True)
        exponent = ((bits >> 23) & 0xFF) + ((bits & 0x7FFFFF) != 0).to(tl.int32)
        exponent = tl.minimum(tl.maximum(exponent, 1), 254)
        scale = (exponent << 23).to(tl.float32, bitcast=True)
    y = tl.div_rn(x, scale[:, None])
    y = tl.minimum(tl.maximum(y, -448.0), 448.0)
    if ROUND_IN_FP32:
        y = _round_to_e4m3_grid(y, 0.015625)  # e4m3fn: DeepGEMM is NVIDIA-only
    tl.store(q_ptr + row * stride_qm + cols, y.to(q_ptr.dtype.element_ty), mask=mask)

    if PACKED:  # the exponent byte of the (power-of-two) scale; 1.0 in padding groups
        exponent = (scale.to(tl.int32, bitcast=True) >> 23) & 0xFF
        byte = tl.where(groups < NUM_GROUPS, exponent, 127).to(tl.uint8)
        where = (groups // 4) * stride_sg + row * 4 + groups % 4
        tl.store(s_ptr + where, byte, mask=groups < STORED_GROUPS)
    else:
        tl.store(s_ptr + groups * stride_sg + row, scale, mask=groups < NUM_GROUPS)


def per_token_group_quant_deepgemm(
    x: torch.Tensor,
    group_size: int = 128,
    ue8m0: bool = True,
    packed: bool = False,
    out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize (M, K) activations to FP8 per token and group, scales in DeepGEMM's layout.

    Returns ``(q, scales)``: ``q`` (M, K) float8_e4m3fn; ``scales`` (M, ceil(K / group_size))
    fp32, MN-major with strides (1, aligned M), or, ``packed`` (Blackwell), (M, ceil(groups /
    4)) int32 packed UE8M0 in the same layout. ``ue8m0`` rounds every scale up to a power of
    two (vLLM's default for DeepGEMM); ``packed`` needs it. ``out``: (q, the scales' dense
    buffer, as :func:`mn_major_storage` gives it) to write instead of new tensors; the scales
    returned are its view (the benchmark's rotated sets, ``kernels.quant.per_token_group_quant``
    says why).
    """
    check_dtype("x", x, (torch.float16, torch.bfloat16, torch.float32))
    if x.dim() != 2:
        raise ValueError(f"x: expected a 2-D tensor, got shape {tuple(x.shape)}")
    check_inner_contiguous("x", x)
    check_devices(x=x)
    if group_size < 1:
        raise ValueError(f"group_size: must be >= 1, got {group_size}")
    if packed and not ue8m0:
        raise ValueError("packed: packed scales are UE8M0, so ue8m0 must be True")
    M, K = x.shape
    groups = triton.cdiv(K, group_size)
    stored = -(-groups // 4) * 4 if packed else groups
    storage_shape = (stored // 4 if packed else groups, tma_aligned_size(M, 4))
    storage_dtype = torch.int32 if packed else torch.float32
    if out is not None:
        q, storage = out
        check_quant_out(q, storage, (M, K), storage_shape, FP8_DTYPE, storage_dtype, x.device)
        if not storage.is_contiguous():
            raise ValueError(
                f"out[1]: the scales' buffer must be dense (strides {storage.stride()})"
            )
    else:
        q = torch.empty((M, K), dtype=FP8_DTYPE, device=x.device)
        storage = torch.empty(storage_shape, dtype=storage_dtype, device=x.device)
    scales = mn_major_view(storage, M)
    if packed:
        target, stride_sg = storage.view(torch.uint8), storage.stride(0) * 4
    else:
        target, stride_sg = storage, storage.stride(0)
    if M == 0 or K == 0:
        return q, scales
    block, per_program = group_tiling(group_size, stored)
    _quant_deepgemm_kernel[(M, triton.cdiv(stored, per_program))](
        x,
        q,
        target,
        K,
        group_size,
        groups,
        stored,
        x.stride(0),
        q.stride(0),
        stride_sg,
        SCALE_EPS,
        UE8M0=ue8m0,
        PACKED=packed,
        BLOCK=block,
        GROUPS_PER_PROGRAM=per_program,
        ROUND_IN_FP32=interpreting(),
        num_warps=4,
    )
    return q, scales


def per_token_group_quant_deepgemm_reference(
    x: torch.Tensor, group_size: int = 128, ue8m0: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain-torch twin of :func:`per_token_group_quant_deepgemm` (row-major fp32 scales)."""
    M, K = x.shape
    groups = -(-K // group_size)
    xf = torch.nn.functional.pad(x.float(), (0, groups * group_size - K))
    xg = xf.view(M, groups, group_size)
    scale = xg.abs().amax(dim=-1).clamp(min=SCALE_EPS) / FP8_MAX
    if ue8m0:
        scale = ceil_to_ue8m0(scale)
    q = (xg / scale[..., None]).clamp(-FP8_MAX, FP8_MAX).to(FP8_DTYPE)
    return q.view(M, groups * group_size)[:, :K].contiguous(), scale


def requantize_weight_ue8m0(
    B: torch.Tensor, Bs: torch.Tensor, block: tuple[int, int] = (128, 128)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-FP8 weights re-quantized with power-of-two block scales, as vLLM does at load when
    DeepGEMM uses UE8M0 (``requant_weight_ue8m0_inplace``): dequantize with the checkpoint's
    scales, then per block scale = ceil_to_ue8m0(max(amax, 1e-4) / 448) and q = w * (1 / scale).
    Returns (q (N, K) float8_e4m3fn, scales (ceil(N/bn), ceil(K/bk)) fp32)."""
    bn, bk = block
    N, K = B.shape
    nb, kb = -(-N // bn), -(-K // bk)
    w = dequantize_weight_blocks(B, Bs, block)
    padded = torch.nn.functional.pad(w, (0, kb * bk - K, 0, nb * bn - N))
    blocks = padded.view(nb, bn, kb, bk)
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=WEIGHT_AMAX_FLOOR)
    scale = ceil_to_ue8m0(amax / FP8_MAX)
    q = (blocks * (1.0 / scale)[:, None, :, None]).to(FP8_DTYPE)
    return q.view(nb * bn, kb * bk)[:N, :K].contiguous(), scale
