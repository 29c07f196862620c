"""Where the decode kernel's time goes at M = 1: is it the fused quantization or the weight stream?

    python lab/decode_limits.py          # $OUT set: JSON to $OUT/decode_limits.json

For five DeepSeek-V3 TP 8 weights and 12 configs (weight rows x warps x buffers x SPLIT_K), it
times four things in one run (generator.measure.timing: CUDA graph, median, L2-rotated input sets):

* ``decode``: :mod:`kernels.w8a8_block_decode` as shipped (bf16 activation in, quantized inside);
* ``noquant``: the same kernel with the quantization arithmetic removed (the activation is
  still loaded; scale 1, cast only);
* ``nox``: also without the activation load: the loop streams the weight and runs the MMAs;
* ``splitk_gemm_only``: :mod:`kernels.w8a8_block_splitk` on the pre-quantized activation (its
  separate quantization launch is timed once per weight as ``quant_only``).

``noquant`` and ``nox`` compute wrong results on purpose: they are diagnostics built by
patching the kernel's source into a temporary module, never registered or published. ``nox``
is the ceiling of this kernel structure: what the split-K weight stream reaches with no
activation work at all. The roofline is the weight bytes over the measured copy bandwidth
(generator.measure.ceilings.measure_copy_gbps; 2990 GB/s on the H100). Operands come from the decode
Tunable's ``make_operands`` (bf16 X and its quantized (A, As), block-quantized B, Bs). Without
a CUDA GPU it prints one line and exits 0.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.data.tasks import Task  # noqa: E402
from generator.measure.ceilings import measure_copy_gbps  # noqa: E402
from generator.measure.timing import l2_cache_bytes, rotation_count, time_cuda_graph  # noqa: E402
from generator.tune.tunables import get_tunable  # noqa: E402
from kernels import w8a8_block_decode  # noqa: E402
from kernels.quant import per_token_group_quant  # noqa: E402
from kernels.w8a8_block_splitk import w8a8_block_splitk_matmul  # noqa: E402

SHAPES = [(4608, 7168), (3072, 7168), (7168, 2304), (2112, 7168), (7168, 256)]
TILES = [(128, 4, 3), (128, 4, 6), (256, 8, 4), (64, 4, 6)]  # (BLOCK_SIZE_N, warps, stages)
SPLITS = (None, 4, 16)  # None: chosen at launch from the shape and the SM count

LOAD_X = "        x = tl.load(x_ptrs, mask=k_mask, other=0.0).to(tl.float32)\n"
QUANTIZE = (
    "        a_s = tl.maximum(tl.max(tl.abs(x), axis=1), eps) / qmax\n"
    "        q = tl.minimum(tl.maximum(tl.div_rn(x, a_s[:, None]), -qmax), qmax)"
)
NO_QUANTIZE = "        a_s = tl.full([BLOCK_SIZE_M], 1.0, tl.float32)\n        q = x"
NO_LOAD_X = "        x = tl.full([BLOCK_SIZE_M, BLOCK_SIZE_K], 1.0, tl.float32)\n"


def patched_decode(name: str, replacements: list[tuple[str, str]]) -> ModuleType:
    """The decode kernel module with source replacements applied (each must match once)."""
    src = Path(w8a8_block_decode.__file__).read_text()
    for old, new in replacements:
        if src.count(old) != 1:
            raise RuntimeError(f"{name}: the kernel source changed; cannot patch {old!r}")
        src = src.replace(old, new)
    path = Path(tempfile.mkdtemp()) / f"decode_{name}.py"  # Triton reads the source file
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"decode_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_us(calls: list[Callable[[], object]]) -> float:
    return round(time_cuda_graph(calls, max_replays=30).median_us, 2)


def main() -> int:
    if not torch.cuda.is_available():
        print("decode_limits: no CUDA GPU; nothing measured")
        return 0
    kernels = {
        "decode": w8a8_block_decode,
        "noquant": patched_decode("noquant", [(QUANTIZE, NO_QUANTIZE)]),
        "nox": patched_decode("nox", [(LOAD_X, NO_LOAD_X), (QUANTIZE, NO_QUANTIZE)]),
    }
    dev = torch.device("cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    copy_gbps = measure_copy_gbps(dev)
    decode_tunable = get_tunable("w8a8_block_decode")
    rows = []
    for N, K in SHAPES:
        task = Task(
            kernel="w8a8_block_decode",
            input_type="fp8",
            out_dtype="bfloat16",
            block_n=128,
            block_k=128,
            N=N,
            K=K,
            B=1,
            M=1,
        )
        sets = [
            decode_tunable.make_operands(task, g, "cuda")
            for _ in range(rotation_count(N * K, l2_cache_bytes(dev)))
        ]
        roof = round(N * K / copy_gbps / 1e3, 2)
        for (bn, warps, stages), split in ((t, s) for t in TILES for s in SPLITS):
            cfg = {
                "BLOCK_SIZE_M": 16,
                "BLOCK_SIZE_N": bn,
                "BLOCK_SIZE_K": 128,
                "GROUP_SIZE_M": 1,
                "num_warps": warps,
                "num_stages": stages,
            }
            if split is not None:
                cfg["SPLIT_K"] = split
            row = {"N": N, "K": K, "cfg": cfg, "roof_us": roof}
            for name, mod in kernels.items():
                row[name] = median_us(
                    [
                        lambda o=o, mod=mod, cfg=cfg: mod.w8a8_block_decode_matmul(
                            o["X"], o["B"], o["Bs"], config=cfg
                        )
                        for o in sets
                    ]
                )
            row["splitk_gemm_only"] = median_us(
                [
                    lambda o=o, cfg=cfg: w8a8_block_splitk_matmul(
                        o["A"], o["B"], o["As"], o["Bs"], config=cfg
                    )
                    for o in sets
                ]
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
        quant = {
            "N": N,
            "K": K,
            "quant_only": median_us(
                [lambda o=o: per_token_group_quant(o["X"], 128, torch.float8_e4m3fn) for o in sets]
            ),
        }
        rows.append(quant)
        print(json.dumps(quant), flush=True)
    out = Path(os.environ.get("OUT", tempfile.gettempdir())) / "decode_limits.json"
    out.write_text(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(),
                "torch": torch.__version__,
                "copy_gbps": round(copy_gbps),
                "rows": rows,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
