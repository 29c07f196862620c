"""``python -m generator tune``: tune configs for model shapes and write drop-in files.

Thin: parses the command line into a :class:`~generator.tune.plan.TuneRequest` and
:class:`~generator.tune.run.RunSettings` and calls the tuner. Without a CUDA GPU it says so in
one line and exits 0 having changed nothing, so that ``make tune && mkdocs build`` builds the
catalog from the committed data on any machine.
"""

from __future__ import annotations

import argparse
import enum

from generator.data import layout, models
from generator.data.cli_args import folder
from generator.data.tasks import DEFAULT_BATCH_SIZES
from generator.data.writable import require_writable_dir
from generator.errors import UserError
from generator.tune.plan import (
    DEFAULT_KERNELS,
    TuneRequest,
    build_tasks,
    check_block,
    check_kernels_run_here,
)
from generator.tune.pruning_check import (
    CHECK_MODEL,
    CHECK_TP,
    parse_points,
    pruning_tasks,
    run_pruning_check,
)
from generator.tune.run import RunSettings, gpu_count, tune
from generator.tune.tunables import W8A8Block


class Backend(str, enum.Enum):
    LOCAL = "local"  # one process per visible GPU
    RAY = "ray"  # tasks on a Ray cluster


def _batch_sizes(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers: '{text}'") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive integers")
    return sorted(set(values))


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="tune kernel configs (what `make tune` runs)",
        description="Tune the block-scaled W8A8 Triton kernel (and the batched A16W8 kernel for "
        "DeepSeek MLA shapes) per weight shape and batch size on every visible GPU; write full "
        "records and drop-in vLLM / SGLang config files under --save-path. Finished tasks are "
        "skipped on rerun (use --force to re-tune).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="bundled model id (repeatable) or 'all'; default: deepseek-v3 "
        f"(bundled: {', '.join(models.list_bundled())})",
    )
    p.add_argument(
        "--model-config",
        action="append",
        type=folder,
        metavar="PATH",
        help="a local Hugging Face config.json (repeatable)",
    )
    p.add_argument(
        "--tp-size",
        action="append",
        type=int,
        metavar="TP",
        help="tensor-parallel size (repeatable); default 8",
    )
    p.add_argument("--N", type=int, help="output features of one custom weight shape (with --K)")
    p.add_argument("--K", type=int, help="input features of one custom weight shape (with --N)")
    p.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        metavar="M,M,...",
        help="batch sizes (token counts) to tune (default: "
        + ",".join(map(str, DEFAULT_BATCH_SIZES))
        + ")",
    )
    p.add_argument(
        "--input-type",
        choices=[t.value for t in W8A8Block.input_types],
        default="fp8",
        help="quantized dtype of the W8A8 kernel",
    )
    p.add_argument(
        "--out-dtype",
        choices=["bfloat16", "float16"],
        default="bfloat16",
        help="output dtype (the A16W8 kernel's activation dtype too)",
    )
    p.add_argument("--block-n", type=int, default=128, help="weight quantization block (N)")
    p.add_argument("--block-k", type=int, default=128, help="weight quantization block (K)")
    p.add_argument(
        "--kernels",
        metavar="NAME,...",
        help=f"kernels to tune (default: {','.join(DEFAULT_KERNELS)}; a name given twice is "
        "tuned once): w8a8_block for linear layers (drop-in files), "
        "a16w8_batched for the DeepSeek MLA batched shapes; also our own "
        "w8a8_block_splitk, w8a8_block_decode, w8a8_block_persistent, "
        "w8a8_block_gluon (Hopper only) and a16w8_batched_swapped (MLA shapes)",
    )
    p.add_argument(
        "--exhaustive",
        action="store_true",
        help="time the whole space (only hard rules applied); results are kept apart "
        "and never used for the drop-in files",
    )
    p.add_argument(
        "--pruning-check",
        action="store_true",
        help="tune the 90 DeepSeek-V3 TP 8 points (15 shapes x M 1..4096) pruned and "
        "exhaustively, re-time both winners alternately, store every point in "
        "checks/pruning.json (resumable; see --check-points)",
    )
    p.add_argument(
        "--check-points",
        metavar="START:STOP",
        help="with --pruning-check: only these points (0-based, 90 in all), to run the check in "
        "pieces of under 10 minutes",
    )
    p.add_argument("--force", action="store_true", help="re-tune tasks that already have records")
    p.add_argument(
        "--backend",
        choices=[b.value for b in Backend],
        default="local",
        help="local: one process per visible GPU; ray: tasks on a Ray cluster",
    )
    p.add_argument("--address", help="Ray cluster address (with --backend ray)")
    p.add_argument("--gpus", type=int, help="use only this many GPUs (default: all visible)")
    p.add_argument(
        "--save-path",
        type=folder,
        default=layout.DEFAULT_SITE_DATA,
        help="site_data folder to merge results into",
    )
    p.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cpu-workers", type=int, default=2, help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def kernel_list(text: str | None) -> tuple[str, ...]:
    """The kernels of ``--kernels``, each once, in the order given (the default when absent):
    ``w8a8_block,w8a8_block`` used to tune every task twice."""
    if text is None:
        return DEFAULT_KERNELS
    names = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not names:
        raise UserError(f"--kernels {text!r}: names no kernel")
    return names


def _request(args: argparse.Namespace) -> TuneRequest:
    return TuneRequest(
        models=tuple(args.model or ()),
        model_configs=tuple(args.model_config or ()),
        tp_sizes=tuple(args.tp_size or (8,)),
        N=args.N,
        K=args.K,
        batch_sizes=tuple(args.batch_sizes or DEFAULT_BATCH_SIZES),
        input_type=args.input_type,
        out_dtype=args.out_dtype,
        block=(args.block_n, args.block_k),
        kernels=kernel_list(args.kernels),
    )


# Flags the pruning check has its own answer for (its model, TP, shapes, batch sizes, kernel
# and both searches): given with --pruning-check they were silently ignored.
PRUNING_FIXED = {
    "kernels": "--kernels",
    "model": "--model",
    "model_config": "--model-config",
    "tp_size": "--tp-size",
    "N": "--N",
    "K": "--K",
    "batch_sizes": "--batch-sizes",
}


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that conflict or would be ignored are errors, not silently dropped."""
    if args.pruning_check:
        given = [flag for dest, flag in PRUNING_FIXED.items() if getattr(args, dest) is not None]
        if args.exhaustive:
            given.append("--exhaustive")
        if given:
            raise UserError(
                f"--pruning-check tunes its own points ({CHECK_MODEL} TP {CHECK_TP}, w8a8_block, "
                f"pruned and exhaustive); it cannot take {', '.join(given)}"
            )
    elif args.check_points is not None:
        raise UserError("--check-points selects points of --pruning-check; add --pruning-check")
    if args.address is not None and args.backend != Backend.RAY.value:
        raise UserError("--address names a Ray cluster; add --backend ray")


def _check_args(args: argparse.Namespace) -> None:
    """The numbers and the output folder, before any work (each a one-line UserError): a
    save path that cannot be written used to be found only after tuning, losing the work."""
    if args.gpus is not None and args.gpus < 1:
        raise UserError(
            f"--gpus {args.gpus}: must be at least 1 (leave it out to use every visible GPU)"
        )
    if args.cpu_workers < 0:
        raise UserError(f"--cpu-workers {args.cpu_workers}: must be at least 0")
    require_writable_dir(args.save_path, "--save-path")


def run(args: argparse.Namespace) -> int:
    _check_flags(args)
    _check_args(args)
    req = _request(args)
    points = None
    if args.pruning_check:
        check_block(req.block, ("w8a8_block",))
        tasks = pruning_tasks(req.input_type, req.out_dtype, req.block)
        points = parse_points(args.check_points, len(tasks))  # with or without a GPU
    else:
        tasks = build_tasks(req)
    if not tasks:
        raise UserError("nothing to tune: no shapes selected")
    gpus = gpu_count(args.gpus)
    if gpus == 0 and not args.allow_cpu:
        print("no CUDA GPU found: nothing tuned, site_data unchanged")
        return 0
    if gpus > 0:
        from kernels.compat import gpu_info

        check_kernels_run_here(req.kernels, req.input_type, gpu_info("cuda:0"))
    settings = RunSettings(
        save_path=args.save_path,
        gpus=gpus,
        force=args.force,
        backend=args.backend,
        address=args.address,
        cpu_workers=args.cpu_workers,
    )
    if points is not None:
        return run_pruning_check(tasks, settings, points)
    return tune(tasks, settings, args.exhaustive, req.label(), req.kernels, req.command())
