"""``python -m generator tune``: tune configs for model shapes and write drop-in files.

Without a CUDA GPU this says so in one line and exits 0 having changed nothing, so that
``make tune && mkdocs build`` builds the catalog from the committed data on any machine.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from generator.data import models
from generator.data.records import PruningCheck, PruningPoint, TuneFile, TuneTimeCheck, load, save
from generator.errors import UserError
from generator.tune.dispatch import TaskOutcome, run_local, run_ray
from generator.tune.search import TuneOptions
from generator.tune.store import device_dir, finished_tasks, merge_result, tune_file_path
from generator.tune.tasks import DEFAULT_BATCH_SIZES, Task
from generator.tune.tunables import QUANT_DTYPES, get_tunable

# The pruning check: exhaustive vs pruned winners on DeepSeek-V3 TP 8 shapes, small to large M.
# All points share one compile class (M a multiple of 16, K/128 not), so the ~1000 configs of
# the exhaustive space compile once.
PRUNING_POINTS = [
    (576, 7168, 16),
    (2112, 7168, 32),
    (4608, 7168, 64),
    (7168, 2304, 16),
    (3072, 1536, 128),
    (4096, 512, 256),
    (7168, 256, 512),
    (1536, 7168, 1024),
    (512, 7168, 48),
    (3072, 7168, 2048),
    (4608, 7168, 4096),
    (7168, 2304, 1024),
]


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
        type=Path,
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
        default=list(DEFAULT_BATCH_SIZES),
        metavar="M,M,...",
        help="batch sizes (token counts) to tune",
    )
    p.add_argument(
        "--input-type",
        choices=sorted(QUANT_DTYPES),
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
        default="w8a8_block,a16w8_batched",
        metavar="NAME,...",
        help="kernels to tune: w8a8_block for linear layers (drop-in files), "
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
        help="tune 12 DeepSeek-V3 points pruned and exhaustively and store the ratio "
        "in checks/pruning.json",
    )
    p.add_argument("--force", action="store_true", help="re-tune tasks that already have records")
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local: one process per visible GPU; ray: tasks on a Ray cluster",
    )
    p.add_argument("--address", help="Ray cluster address (with --backend ray)")
    p.add_argument("--gpus", type=int, help="use only this many GPUs (default: all visible)")
    p.add_argument(
        "--save-path",
        type=Path,
        default=models.DEFAULT_SITE_DATA,
        help="site_data folder to merge results into",
    )
    p.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cpu-workers", type=int, default=2, help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _specs(args: argparse.Namespace) -> list[models.ModelSpec]:
    specs = []
    names = args.model or ([] if (args.model_config or args.N) else ["deepseek-v3"])
    if "all" in names:
        names = models.list_bundled()
    specs += [models.load_model(n) for n in names]
    specs += [models.load_hf_config(p) for p in (args.model_config or [])]
    return specs


def build_tasks(args: argparse.Namespace) -> list[Task]:
    """Model shapes x TP x batch sizes -> unique tasks (a shape shared by models tunes once)."""
    if (args.N is None) != (args.K is None):
        raise UserError("--N and --K go together")
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    tunables = [get_tunable(k) for k in kernels]  # UserError naming the known kernels
    gemm_kernels = [t.name for t in tunables if not t.batched]
    batched_kernels = [t for t in tunables if t.batched]
    for tp in args.tp_size or [8]:
        if tp < 1:
            raise UserError(f"--tp-size {tp}: must be >= 1")
    block = (args.block_n, args.block_k)
    nk: list[tuple[int, int]] = []
    batched: list[tuple[int, int, int]] = []
    explicit = bool(args.model and "all" not in args.model) or bool(args.model_config)
    for spec in _specs(args):
        for tp in args.tp_size or [8]:
            try:
                shapes = models.weight_shapes(spec, tp, *block)
            except UserError as exc:
                if explicit:
                    raise
                print(f"skipping {spec.id} at TP {tp}: {exc}", file=sys.stderr)
                continue
            nk += models.unique_nk(shapes)
            batched += [(s.B, s.N, s.K) for s in models.mla_batched_shapes(spec, tp)]
    if args.N is not None:
        if args.N < 1 or args.K < 1:
            raise UserError(f"--N {args.N} --K {args.K}: must be positive")
        if args.K % args.block_k:
            raise UserError(f"--K {args.K} is not a multiple of --block-k {args.block_k}")
        nk.append((args.N, args.K))
    tasks: list[Task] = []
    tasks += [
        Task(kernel, args.input_type, args.out_dtype, *block, n, k, 1, m)
        for kernel in gemm_kernels
        for n, k in dict.fromkeys(nk)
        for m in args.batch_sizes
    ]
    tasks += [
        Task(t.name, t.input_types[0], args.out_dtype, *block, n, k, b, m)
        for t in batched_kernels
        for b, n, k in dict.fromkeys(batched)
        for m in args.batch_sizes
    ]
    return tasks


def _pruning_tasks(args: argparse.Namespace) -> list[Task]:
    return [
        Task("w8a8_block", args.input_type, args.out_dtype, args.block_n, args.block_k, n, k, 1, m)
        for n, k, m in PRUNING_POINTS
    ]


def _gpu_count(args: argparse.Namespace) -> int:
    import torch

    if not torch.cuda.is_available():
        return 0
    n = torch.cuda.device_count()
    return min(n, args.gpus) if args.gpus else n


class _Writer:
    """Merges each outcome as it arrives and drives the progress bar."""

    def __init__(self, save_path: Path, provenance, exhaustive: bool, total: int):
        self.save_path = save_path
        self.provenance = provenance
        self.exhaustive = exhaustive
        self.failed: list[TaskOutcome] = []
        self.records: dict[Task, object] = {}
        self.per_worker: Counter[str] = Counter()
        self.bar = tqdm(total=total, unit="task", dynamic_ncols=True, desc="tuning")

    def __call__(self, outcome: TaskOutcome) -> None:
        self.per_worker[outcome.worker] += 1
        if outcome.record is None:
            self.failed.append(outcome)
            tqdm.write(f"task failed: {outcome.task.label()}: {outcome.error}")
        else:
            merge_result(
                self.save_path, self.provenance, outcome.task, outcome.record, self.exhaustive
            )
            self.records[outcome.task] = outcome.record
        self.bar.set_postfix_str(outcome.task.label(), refresh=False)
        self.bar.update(1)


def _run_tasks(
    tasks: list[Task], args: argparse.Namespace, exhaustive: bool, on_cuda: bool, gpus: int
) -> _Writer:
    from generator.data import provenance

    prov = provenance.collect(gpu_count=max(gpus, 1)) if on_cuda else provenance.collect_cpu()
    if not args.force:
        done = finished_tasks(args.save_path, prov.device_name, tasks, exhaustive)
        if done:
            print(f"resuming: {len(done)} of {len(tasks)} tasks already tuned (--force to redo)")
        tasks = [t for t in tasks if t not in done]
    opts = TuneOptions(device="cuda" if on_cuda else "cpu", exhaustive=exhaustive)
    writer = _Writer(args.save_path, prov, exhaustive, len(tasks))
    if not tasks:
        writer.bar.close()
        return writer
    if args.backend == "ray":
        run_ray(tasks, opts, args.address, writer)
    else:
        workers = gpus if on_cuda else max(1, args.cpu_workers)
        compile_workers = max(1, (os.cpu_count() or 1) // max(1, workers))
        left = run_local(tasks, opts, workers, compile_workers, writer)
        if left:
            print(f"{left} task(s) not finished (a worker died); rerun to resume", file=sys.stderr)
    writer.bar.close()
    return writer


def run(args: argparse.Namespace) -> int:
    tasks = _pruning_tasks(args) if args.pruning_check else build_tasks(args)
    if not tasks:
        raise UserError("nothing to tune: no shapes selected")
    gpus = _gpu_count(args)
    on_cuda = gpus > 0
    if not on_cuda and not args.allow_cpu:
        print("no CUDA GPU found: nothing tuned, site_data unchanged")
        return 0
    t0 = time.perf_counter()
    if args.pruning_check:
        return _pruning_check(tasks, args, on_cuda, gpus)
    writer = _run_tasks(tasks, args, args.exhaustive, on_cuda, gpus)
    wall = time.perf_counter() - t0
    print(f"tuned {len(writer.records)} task(s) in {wall:.0f} s; {len(writer.failed)} failed")
    if writer.per_worker:
        spread = ", ".join(f"{w}: {n}" for w, n in sorted(writer.per_worker.items()))
        print(f"work spread: {spread}")
    if on_cuda and writer.records and len(writer.records) == len(tasks) and not args.exhaustive:
        _store_tune_time(args, writer, tasks, wall)
    return 1 if writer.failed else 0


def _store_tune_time(args, writer: _Writer, tasks: list[Task], wall: float) -> None:
    names = ",".join(args.model or ["deepseek-v3"])
    tps = ",".join(str(t) for t in (args.tp_size or [8]))
    check = TuneTimeCheck(
        provenance=writer.provenance,
        description=f"python -m generator tune --model {names} --tp-size {tps} "
        f"--kernels {args.kernels} ({len(tasks)} tasks, {writer.provenance.gpu_count} GPU)",
        tasks=len(tasks),
        wall_s=round(wall, 1),
    )
    key = (
        f"tune_time__{names}__tp{tps}__{args.kernels.replace(',', '+')}"
        f"__{writer.provenance.gpu_count}gpu"
    ).replace("/", "_")
    save(
        device_dir(args.save_path, writer.provenance.device_name) / "checks" / f"{key}.json", check
    )


def _pruning_check(tasks: list[Task], args: argparse.Namespace, on_cuda: bool, gpus: int) -> int:
    pruned = _run_tasks(tasks, args, False, on_cuda, gpus)
    exhaustive = _run_tasks(tasks, args, True, on_cuda, gpus)
    points = []
    dev = (pruned.provenance or exhaustive.provenance).device_name
    for t in tasks:
        recs = []
        for ex in (False, True):
            tf = load(tune_file_path(args.save_path, dev, t, ex), TuneFile)
            recs.append(next((r for r in tf.records if r.M == t.M), None))
        if not all(r and r.winner for r in recs):
            continue
        p, e = recs
        points.append(
            PruningPoint(
                kernel=t.kernel,
                N=t.N,
                K=t.K,
                M=t.M,
                pruned_us=p.winner.latency_us,
                exhaustive_us=e.winner.latency_us,
                pruned_config=p.winner.config,
                exhaustive_config=e.winner.config,
                pruned_timed=p.configs_timed,
                exhaustive_timed=e.configs_timed,
            )
        )
    if not points:
        raise UserError("pruning check: no point has both a pruned and an exhaustive winner")
    geo = math.exp(sum(math.log(p.pruned_us / p.exhaustive_us) for p in points) / len(points))
    check = PruningCheck(provenance=pruned.provenance, points=points, geomean_ratio=geo)
    save(device_dir(args.save_path, dev) / "checks" / "pruning.json", check)
    print(f"pruning check: {len(points)} points, pruned/exhaustive time geomean {geo:.4f}")
    return 0
