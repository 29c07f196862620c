"""The contract every tunable kernel of the registry keeps, checked for each one.

For each tunable of :data:`generator.tune.tunables.TUNABLES` and each input type it declares:

(a) its search space validates: every config has the standard keys with integer values, the
    kernel's own host code accepts it and hands Triton a launch it can compile, and the
    torch-free kernel table (what ``validate``, the bundles and the site read) names the same
    space;
(b) its unmodified default config is what the kernel runs without a config, and runs: a small
    ragged problem (no size a multiple of the default tiles), the tunable's own random operands,
    the output poisoned with NaN, the result within ``tolerance(out_dtype)`` of the fp32
    reference;
(c) compiling ahead (what the tuner's compile pool runs, :func:`compile_ahead._compile_one`)
    builds the binaries the launch loads: for every config of the space the compile path
    warms up the same kernels with the same constexprs, launch options and argument
    specializations (what Triton keys a binary on) as the launch path launches; and tasks the
    pool files under one compile key (:func:`compile_ahead.compile_key`: it compiles a config
    once per key) need the same binaries, over the tuner's batch sizes.

Every ``launch`` of the kernels (:func:`kernels._host.launch`, the one place a wrapper or its
``compile_*`` twin reaches Triton) is recorded; in (b) and for the default config the recorded
launch also really runs (on the CPU, in the interpreter; there ``warmup`` compiles nothing).
The Gluon kernel is Hopper-only: elsewhere it must refuse both the launch and the compile with
its one-line reason, which is asserted before the case is skipped with it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

import pytest
import torch

import kernels._host as host
from generator.configs.kernel_table import SPACES
from generator.configs.keys import CONFIG_KEYS
from generator.configs.ranges import config_problems
from generator.data.tasks import DEFAULT_BATCH_SIZES, Task
from generator.tune.compile_ahead import _compile_one, compile_key
from generator.tune.tunables import TUNABLES, Tunable
from kernels import compat
from kernels.reference import relative_error, tolerance
from kernels.validation import OUT_DTYPES_BY_NAME as OUT_DTYPES

CASES = [(name, it.value) for name, t in TUNABLES.items() for it in t.input_types]

# Ragged for every default tile (16..128 rows, 64..128 columns, K tiles of 128): M, N and K are
# no multiple of them, yet K and N rows stay 16-byte aligned (the TMA paths need that).
M, N, K, BATCH = 37, 200, 320, 2
OUT_DTYPE = "bfloat16"  # the tuner's default (--out-dtype)

HOPPER = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9
NOT_HOPPER = "needs a Hopper (sm_90) GPU"  # the Gluon kernel's reason (gluon_supported)
LAUNCH = host.launch


def _specialization(value: Any) -> Any:
    """What a binary depends on of one kernel argument, as Triton keys it: a pointer's dtype
    and 16-byte alignment, an integer's width and whether it is 1 or a multiple of 16 (its
    value reaches the binary at run time), a TMA descriptor's element type, box and layout;
    anything else (floats, constexpr flags) as it is."""
    if isinstance(value, torch.Tensor | host.ShapeOnly):
        return ("pointer", value.dtype, value.data_ptr() % 16 == 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("i32" if -(2**31) <= value < 2**31 else "i64", value == 1, value % 16 == 0)
    if hasattr(value, "block_shape"):  # a host TMA descriptor (the Gluon kernel, on Hopper)
        layout = getattr(value, "layout", None)
        return ("descriptor", value.base.dtype, tuple(value.block_shape), repr(layout))
    return value


class Launches:
    """Stands in for :func:`kernels._host.launch` in every kernel module that uses it,
    recording each kernel's binary key; with ``run`` the real launch follows."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, run: bool):
        self.run, self.keys = run, []
        modules = [m for n, m in sys.modules.items() if n.startswith("kernels.")]
        for module in modules:
            if module is not host and getattr(module, "launch", None) is LAUNCH:
                monkeypatch.setattr(module, "launch", self)

    def __call__(self, kernel, grid, args, warmup, /, **options) -> None:
        # The grid is not part of a binary (the Gluon compile path warms up on one program).
        self.keys.append((kernel, tuple(_specialization(a) for a in args), options))
        if self.run:
            LAUNCH(kernel, grid, args, warmup, **options)

    def take(self) -> list[tuple]:
        keys, self.keys = self.keys, []
        return keys


def _differences(
    first: list[tuple], second: list[tuple], names: tuple[str, str] = ("launched", "compiled")
) -> list[str]:
    """Where two recordings differ, readably (by default: the launch path, the compile path)."""
    a, b = names
    if len(first) != len(second):
        return [f"{len(first)} kernel(s) {a}, {len(second)} {b}"]
    out = []
    for i, ((kernel, args, opts), (b_kernel, b_args, b_opts)) in enumerate(
        zip(first, second, strict=True)
    ):
        if kernel is not b_kernel:
            out.append(f"#{i}: {a} {kernel.__name__}, {b} {b_kernel.__name__}")
        if len(args) != len(b_args):
            out.append(f"#{i}: {len(args)} arguments {a}, {len(b_args)} {b}")
        diff = [(j, x, y) for j, (x, y) in enumerate(zip(args, b_args, strict=False)) if x != y]
        out += [f"#{i}: argument {j}: {a} {x}, {b} {y}" for j, x, y in diff]
        for key in sorted(opts.keys() | b_opts.keys()):
            if opts.get(key) != b_opts.get(key):
                out.append(f"#{i}: {key}: {a} {opts.get(key)}, {b} {b_opts.get(key)}")
    return out


def _problem(name: str, input_type: str, tunable: Tunable) -> Task:
    return Task(name, input_type, OUT_DTYPE, 128, 128, N, K, BATCH if tunable.batched else 1, M)


def _operands(tunable: Tunable, task: Task, rng: torch.Generator, device: str) -> dict:
    if device == "cpu":
        return tunable.make_operands(task, rng, device)
    g = torch.Generator(device=device)  # the operands are drawn on their device
    g.manual_seed(int(torch.randint(2**62, (1,), generator=rng)))
    return tunable.make_operands(task, g, device)


def _poisoned(tunable: Tunable, task: Task, device: str) -> torch.Tensor:
    return tunable.new_output(task, device).fill_(float("nan"))


def _launch_is_compilable(options: dict) -> bool:
    """Triton compiles a launch for a power-of-two warp count (at most 32) and >= 1 stage."""
    warps, stages = options.get("num_warps", 4), options.get("num_stages", 1)
    return 0 < warps <= 32 and warps & (warps - 1) == 0 and stages >= 1


@pytest.mark.parametrize("name, input_type", CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_tunable_contract(name, input_type, rng, device, monkeypatch):
    tunable = TUNABLES[name]
    task = _problem(name, input_type, tunable)
    default = tunable.default_config(task)  # imports the kernel's module (some are lazy)
    refuses = name == "w8a8_block_gluon" and not HOPPER
    if name == "w8a8_block_gluon" and compat.gluon_problem():
        pytest.skip(compat.gluon_problem())  # this Triton cannot express the kernel at all

    # (a) The search space validates (the tunable reads it from the kernel table).
    assert name in SPACES
    space = tunable.space.configs()
    assert space and len({tuple(sorted(c.items())) for c in space}) == len(space)
    for cfg in space:
        assert set(CONFIG_KEYS) <= set(cfg), cfg
        assert all(type(v) is int for v in cfg.values()), cfg
    # A default that wins the runoff is published: validate and the bundles must accept it.
    assert config_problems(default, name, task.block_k) == []

    ops = _operands(tunable, task, rng, device)
    out = _poisoned(tunable, task, device)
    recorder = Launches(monkeypatch, run=False)
    if refuses:
        # Its compile path stops at the device check, so the kernel's own config check is
        # asked directly; then launch and compile must both give the one-line reason.
        from kernels.w8a8_block_gluon import _validate

        for cfg in space:
            _validate(cfg, task.block)
        with pytest.raises(
            ValueError, match=f"^{re.escape(f'w8a8_block_gluon_matmul: {NOT_HOPPER}')}$"
        ):
            tunable.run(task, ops, default, out)
        error = _compile_one((task, default))
        assert error == f"ValueError: compile_w8a8_block_gluon: {NOT_HOPPER}"
        assert recorder.take() == []  # nothing reached Triton
        pytest.skip(f"{name}: {NOT_HOPPER}")

    # (a) + (c) over the whole space, on the host side only (recorded, not launched): the
    # kernel accepts every config, and compiling ahead warms up what the launch loads.
    for cfg in space:
        tunable.run(task, ops, cfg, out)
        launched = recorder.take()
        assert launched and all(_launch_is_compilable(opts) for _, _, opts in launched), cfg
        assert _compile_one((task, cfg)) is None, cfg
        compiled = recorder.take()
        assert compiled == launched, (cfg, _differences(launched, compiled))
    # (c) The compile pool compiles a config once per compile key: tasks under one key must
    # need the same binaries. The tuner's batch sizes at this weight shape (and, batched,
    # several heads per rank), for the default and configs across the space.
    sizes = [(b, m) for b in ((1, BATCH, BATCH + 1, 16, 32) if tunable.batched else (1,))
             for m in DEFAULT_BATCH_SIZES]  # fmt: skip
    for cfg in [default, *space[:: max(1, len(space) // 8)]]:
        by_key: dict[tuple, dict] = {}
        for b, m in sizes:
            sized = dataclasses.replace(task, B=b, M=m)
            assert _compile_one((sized, cfg)) is None, (sized, cfg)
            by_key.setdefault(compile_key(sized, cfg), {})[(b, m)] = recorder.take()
        assert len(by_key) < len(sizes), "no two tasks share a key: nothing checked"
        for members in by_key.values():
            (first, binaries), *others = members.items()
            for size, other in others:
                names = (f"(B, M) = {first}", f"(B, M) = {size}")
                assert other == binaries, (cfg, _differences(binaries, other, names))
    # (b) The default is what the kernel runs without a config ("before tuning")...
    tunable.run(task, ops, None, out)
    without_config = recorder.take()
    tunable.run(task, ops, default, out)
    with_default = recorder.take()
    assert with_default == without_config, _differences(
        without_config, with_default, ("without a config", "with the default")
    )

    # (b) ... and it runs, for real, on the ragged problem.
    recorder.run = True
    out = _poisoned(tunable, task, device)
    result = tunable.run(task, ops, default, out)
    launched = recorder.take()
    assert result.data_ptr() == out.data_ptr()
    assert torch.isfinite(out).all(), "some outputs were never written"
    bound = tolerance(OUT_DTYPES[task.out_dtype])
    err = relative_error(out, tunable.reference(task, ops))
    assert err <= bound, f"rel error {err:.2e} > {bound:.2e}"

    # (c) The compile pool's job for the default config builds exactly those binaries.
    assert _compile_one((task, default)) is None
    compiled = recorder.take()
    assert compiled == launched, _differences(launched, compiled)
