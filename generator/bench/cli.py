"""``python -m generator bench``: run benchmark sweeps over every provider into ``site_data``.

The heavy imports (providers -> kernels -> Triton) happen inside :func:`run`, after
``--allow-cpu`` has had the chance to switch Triton to its CPU interpreter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from generator.bench.plan import MLA_BATCH_SIZES, MODEL_BATCH_SIZES, SQUARE_SIZES
from generator.bench.store import check_out_dtype
from generator.data import layout
from generator.data.cli_args import folder
from generator.data.models import DEFAULT_SITE_DATA, ModelSpec, select_models
from generator.data.writable import require_writable_dir, require_writable_dirs
from generator.errors import UserError

SWEEP_CHOICES = ("model", "square", "range", "mla", "all")
DEFAULT_SWEEPS = ("model", "square", "mla")
RUN_ORDER = ("mla", "square", "range", "model")  # cheap sweeps first: they finish even if cut
# The 8-bit GEMMs' output dtypes a sweep can compare (the engines serve bf16 and fp16 layers).
OUT_DTYPE_CHOICES = ("bfloat16", "float16")
# How a sweep measures, stored in every row's provenance (docs/methodology.md).
BENCH_METHOD = (
    "bench: {timing}; operands shared by every provider; what the block-FP8, bf16 and"
    " batched calls write (quantized activation, scales, output) in poisoned buffers of each"
    " rotated set (up to 16), shared by layout; identical work timed once; A/A control per"
    " point"
)
NO_GPU_MESSAGE = "no CUDA GPU: nothing benchmarked (site_data unchanged)"
# Replays of one candidate at one point (each >= 1 ms): 1000 is a second per candidate, far
# beyond what the median needs; an unbounded value let one point run for hours.
MAX_REPLAYS = 1000


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got '{text}'"
        ) from None


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help="benchmark every provider (cuBLAS, cuBLASLt, our Triton kernels) on model shapes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run benchmark sweeps: every selected provider on the same inputs per shape, each\n"
            "checked against an fp32 reference (status ok / incorrect / unsupported / error)\n"
            "and timed with CUDA-graph replays over L2-rotated inputs. The device's copy\n"
            "bandwidth and bf16/fp8/int8 matmul rates are measured first and stored with the\n"
            "rows, which carry TFLOP/s, GB/s and percent of that roofline. Results go to\n"
            "<save-path>/devices/<device>/bench/<sweep>.json, merged by (provider, model,\n"
            "layer, tp, B, M, N, K), so reruns replace rows instead of duplicating them.\n\n"
            "Sweeps:\n"
            "  model   (N, K) of every linear layer of the models at their TP sizes x batch\n"
            "          sizes (a shape shared by layers is measured once, recorded per layer)\n"
            "  square  M = N = K (--square-sizes)\n"
            "  range   vLLM's range_bench: --dim-start..--dim-end by --dim-increment\n"
            "  mla     DeepSeek MLA batched A16W8 GEMMs, B = heads / TP for TP 8, 4, 2, 1, with\n"
            "          the AMD MI350X figures of AITER PR #2297 and our ratio to them"
        ),
        epilog=(
            "Default (make bench): --sweep model --sweep square --sweep mla, all bundled\n"
            "models at their default TP sizes, vLLM's 18 batch sizes, every provider.\n"
            "About 11,000 points; estimated 5-7 minutes on one H100 (not yet measured).\n"
            "If cut short, rerun with --resume from the same commit: finished shapes are kept,\n"
            "the rest is measured."
        ),
    )
    parser.add_argument(
        "--sweep",
        action="append",
        choices=SWEEP_CHOICES,
        help="sweep to run; repeatable (default: model, square, mla)",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="bundled model id or HF name, repeatable, or 'all' (default: all);"
        " with 'all', model/TP combinations that cannot be split are skipped"
        " with a warning",
    )
    parser.add_argument(
        "--tp-size",
        action="append",
        type=int,
        metavar="TP",
        help="tensor-parallel size, repeatable (default: each model's default"
        " TP sizes for 'model'; 8, 4, 2, 1 for 'mla')",
    )
    parser.add_argument(
        "--batch-sizes",
        action="append",
        type=_int_list,
        metavar="M,M,...",
        help="batch sizes M of the model sweep (default: vLLM's "
        + ",".join(map(str, MODEL_BATCH_SIZES))
        + ")",
    )
    parser.add_argument(
        "--mla-batch-sizes",
        action="append",
        type=_int_list,
        metavar="M,M,...",
        help="batch sizes M of the mla sweep (default: "
        + ",".join(map(str, MLA_BATCH_SIZES))
        + ", the published figures')",
    )
    parser.add_argument(
        "--square-sizes",
        action="append",
        type=_int_list,
        metavar="S,S,...",
        help="sizes of the square sweep (default: " + ",".join(map(str, SQUARE_SIZES)) + ")",
    )
    parser.add_argument("--dim-start", type=int, default=256, help="range sweep start (256)")
    parser.add_argument("--dim-end", type=int, default=4096, help="range sweep end (4096)")
    parser.add_argument("--dim-increment", type=int, default=256, help="range sweep step (256)")
    for dim in ("m", "n", "k"):
        parser.add_argument(
            f"--{dim}-constant",
            type=int,
            default=None,
            help=f"range sweep: keep {dim.upper()} fixed at this value",
        )
    parser.add_argument(
        "--providers",
        action="append",
        metavar="NAME[,NAME]",
        help="providers to run, comma-separated or repeatable (like vLLM's"
        " --kernels); default: all; see --list-providers",
    )
    parser.add_argument(
        "--list-providers",
        action="store_true",
        help="print the registered providers and what each times, then exit",
    )
    parser.add_argument(
        "--out-dtype",
        choices=OUT_DTYPE_CHOICES,
        default="bfloat16",
        help="output dtype of the 8-bit GEMMs (default bfloat16)",
    )
    parser.add_argument(
        "--save-path",
        type=folder,
        default=DEFAULT_SITE_DATA,
        help="site_data root to write into and read tuned configs from"
        " (default: the repository's site_data)",
    )
    parser.add_argument(
        "--replays",
        type=int,
        default=20,
        help=f"most CUDA-graph replays per point (default 20, at most {MAX_REPLAYS})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip shapes whose rows, for every provider asked, are already in the sweep files,"
        " measured by this commit and timed the way this run times (any other shape is measured"
        " again for all its providers); after tuning at an uncommitted tree, rerun without it",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)
    return parser


def _flatten(lists: list[list[int]] | None, default: tuple[int, ...]) -> list[int]:
    return [v for lst in lists for v in lst] if lists else list(default)


def _resolve_models(names: list[str] | None) -> list[tuple[ModelSpec, bool]]:
    return select_models(names or ["all"])


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _provider_table(providers) -> str:
    lines = []
    for p in providers:
        timed = "quant+gemm" if p.quant_in_timed_region else "gemm only"
        needs = ",".join(r.value for r in p.requires) or "-"
        base = " [baseline]" if p.is_baseline else ""
        lines.append(
            f"{p.name:26} {p.kind.value:8} {p.compute.value:5} {timed:11} {needs:13}"
            f" {p.description}{base}"
        )
    header = f"{'provider':26} {'kind':8} {'ceil':5} {'timed':11} {'requires':13} description"
    return "\n".join([header, *lines])


def run(args: argparse.Namespace) -> int:
    on_cuda = torch.cuda.is_available()
    if args.allow_cpu and not on_cuda:
        # Must precede the first import of kernels (Triton reads it when decorating).
        os.environ.setdefault("TRITON_INTERPRET", "1")
    from generator.bench import plan, report
    from generator.bench import registry as providers
    from generator.bench.run import run_sweep
    from generator.measure.ceilings import measure_ceilings

    selected = providers.select(args.providers)
    if args.list_providers:
        print(_provider_table(selected))
        return 0
    if not 1 <= args.replays <= MAX_REPLAYS:
        raise UserError(f"--replays must be in 1..{MAX_REPLAYS}, got {args.replays}")
    require_writable_dir(args.save_path, "--save-path")
    for tp in args.tp_size or []:
        if tp < 1:
            raise UserError(f"--tp-size must be at least 1, got {tp}")
    sweeps = [s for s in (args.sweep or DEFAULT_SWEEPS)]
    if "all" in sweeps:
        sweeps = list(plan.SWEEPS)
    sweeps = [s for s in RUN_ORDER if s in sweeps]
    models = _resolve_models(args.model) if {"model", "mla"} & set(sweeps) else []

    points = {}
    if "model" in sweeps:
        points["model"] = plan.model_points(
            models, args.tp_size, _flatten(args.batch_sizes, MODEL_BATCH_SIZES), _warn
        )
    if "square" in sweeps:
        points["square"] = plan.square_points(_flatten(args.square_sizes, SQUARE_SIZES))
    if "range" in sweeps:
        points["range"] = plan.range_points(
            args.dim_start,
            args.dim_end,
            args.dim_increment,
            args.m_constant,
            args.n_constant,
            args.k_constant,
        )
    if "mla" in sweeps:
        points["mla"] = plan.mla_points(
            models, args.tp_size, _flatten(args.mla_batch_sizes, MLA_BATCH_SIZES), _warn
        )

    if not on_cuda and not args.allow_cpu:
        print(NO_GPU_MESSAGE)
        return 0

    from generator.data import provenance as prov_mod
    from generator.measure.timing import TIMING_METHOD, l2_cache_bytes
    from kernels.validation import OUT_DTYPES_BY_NAME

    device = torch.device("cuda") if on_cuda else torch.device("cpu")
    prov = prov_mod.collect() if on_cuda else prov_mod.collect_cpu()
    prov = prov.model_copy(update={"method": BENCH_METHOD.format(timing=TIMING_METHOD)})
    save_path = Path(args.save_path)
    # before any work: every folder the sweeps write, and every sweep file this run merges into
    # (readable by this code, and of this run's output dtype)
    require_writable_dirs(layout.bench_output_dirs(save_path, prov.device_name), "--save-path")
    for sweep in sweeps:
        check_out_dtype(layout.bench_file(save_path, prov.device_name, sweep), args.out_dtype)
    t0 = time.monotonic()
    ceilings = measure_ceilings(device, _warn)
    print(
        f"ceilings on {prov.gpu_name}: copy {ceilings.copy_gbps:.0f} GB/s, bf16"
        f" {ceilings.bf16_tflops:.0f} TFLOP/s, fp8 {ceilings.fp8_tflops:.0f} TFLOP/s, int8"
        f" {ceilings.int8_tops or float('nan'):.0f} TOP/s ({time.monotonic() - t0:.1f} s)"
    )
    ctx = providers.BenchContext(
        device=device,
        out_dtype=OUT_DTYPES_BY_NAME[args.out_dtype],
        site_data=Path(args.save_path),
        device_name=prov.device_name,
        l2_bytes=l2_cache_bytes() if on_cuda else 0,
    )
    for sweep in sweeps:
        kinds = {t.problem.kind for t in points[sweep]}
        chosen = [p for p in selected if p.kind in kinds]
        if not points[sweep] or not chosen:
            _warn(f"{sweep}: nothing to run (no shapes or no provider of this kind selected)")
            continue
        print(f"{sweep}: {len(points[sweep])} shapes x {len(chosen)} providers")
        t_sweep = time.monotonic()
        result = run_sweep(
            sweep,
            points[sweep],
            chosen,
            ctx,
            prov,
            ceilings,
            Path(args.save_path),
            replays=args.replays,
            resume=args.resume,
            progress=not args.no_progress,
        )
        print(
            f"{sweep}: {result.measured} points measured, {result.skipped} skipped, in"
            f" {time.monotonic() - t_sweep:.0f} s; file has {len(result.rows)} rows"
            f" ({report.status_summary(result.rows)}) -> {result.path}"
        )
        if sweep == "mla":
            print(report.mla_table([r for r in result.rows if r.sweep == "mla"]))
    print(f"total {time.monotonic() - t0:.0f} s")
    return 0
