"""The search spaces' shared-memory rule is sized from the device the tuner runs on, queried from
torch, never sm_90's 227 KB assumed: Ada and consumer Blackwell allow a block 99 KB, MI300 64 KB
of LDS. Device properties are faked as torch reports them on each GPU."""

from __future__ import annotations

import types

import pytest
import torch

from generator.configs.spaces import SMEM_BYTES_SM90, smem_estimate
from generator.data.tasks import Task
from generator.tune import search
from generator.tune.search import candidates_for, device_smem_bytes, problem_of
from generator.tune.tunables import get_tunable

SM90_OPTIN = 232_448  # H100 / H200: 227 KB
SM89_OPTIN = 101_376  # L40S / L4 / RTX 4090 (and sm_120): 99 KB
MI300_LDS = 65_536


def _props(optin: int | None, per_block: int = 49_152):
    fields = {"shared_memory_per_block": per_block, "name": "fake"}
    if optin is not None:
        fields["shared_memory_per_block_optin"] = optin
    return types.SimpleNamespace(**fields)


@pytest.fixture
def gpu(monkeypatch):
    """Fake the device torch reports: ``gpu(props)``."""

    def set_props(props):
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
        monkeypatch.setattr(search, "is_rocm", lambda: False)

    return set_props


@pytest.mark.parametrize("optin", [SM90_OPTIN, SM89_OPTIN, MI300_LDS])
def test_budget_is_the_devices_opt_in_maximum(gpu, optin):
    gpu(_props(optin))
    assert device_smem_bytes("cuda") == optin
    assert device_smem_bytes("cuda:0") == optin


def test_without_an_opt_in_figure_the_per_block_one_is_used(gpu):
    gpu(_props(None, per_block=MI300_LDS))
    assert device_smem_bytes("cuda") == MI300_LDS


def test_a_device_reporting_no_shared_memory_is_an_error_not_a_guess(gpu):
    gpu(_props(None, per_block=0))
    with pytest.raises(RuntimeError, match="reports no shared memory per block"):
        device_smem_bytes("cuda")


def test_cpu_runs_size_the_rule_as_for_the_lent_hopper_gpus():
    assert device_smem_bytes("cpu") == SMEM_BYTES_SM90 == SM90_OPTIN


@pytest.mark.parametrize("kernel", ["w8a8_block", "a16w8_batched", "w8a8_block_decode"])
def test_ada_prunes_what_does_not_fit_99_kb_and_keeps_what_hopper_keeps_otherwise(gpu, kernel):
    """The same task on sm_90 and on sm_89: sm_89 keeps exactly the sm_90 survivors whose
    pipeline buffers fit 99 KB, and every survivor fits the device it was pruned for."""
    t = get_tunable(kernel)
    task = Task(
        kernel,
        t.input_types[0].value,
        "bfloat16",
        128,
        128,
        4096,
        7168,
        16 if t.batched else 1,
        2048,
    )
    kept = {}
    for optin in (SM90_OPTIN, SM89_OPTIN):
        gpu(_props(optin))
        configs, report = candidates_for(task, "cuda", exhaustive=True)
        p = problem_of(task, t, "cuda")
        assert p.smem_bytes == optin
        assert all(smem_estimate(c, p) <= optin for c in configs)
        kept[optin] = ({tuple(sorted(c.items())) for c in configs}, report)
    hopper, ada = kept[SM90_OPTIN][0], kept[SM89_OPTIN][0]
    assert ada < hopper  # strictly fewer: the deep pipelines of big tiles are gone
    gpu(_props(SM89_OPTIN))
    p = problem_of(task, t, "cuda")
    assert ada == {c for c in hopper if smem_estimate(dict(c), p) <= SM89_OPTIN}
    assert kept[SM89_OPTIN][1].removed.get("shared memory", 0) > kept[SM90_OPTIN][1].removed.get(
        "shared memory", 0
    )


def test_every_default_of_a_kernel_ada_runs_fits_ada():
    """The configs a run times whatever the space says (each kernel's default) fit sm_89's 99 KB
    for every kernel that runs there (the Gluon and persistent TMA kernels do not: 128 KB)."""
    from kernels.compat import GpuInfo, kernel_problem

    ada = GpuInfo("nvidia", capability=(8, 9))
    for name in ("w8a8_block", "a16w8_batched", "w8a8_block_splitk", "w8a8_block_decode"):
        t = get_tunable(name)
        assert kernel_problem(name, ada) is None
        for M in (1, 64, 4096):
            task = Task(
                name,
                t.input_types[0].value,
                "bfloat16",
                128,
                128,
                4096,
                7168,
                16 if t.batched else 1,
                M,
            )
            p = problem_of(task, t, "cpu")
            assert smem_estimate(t.default_config(task), p) <= SM89_OPTIN, (name, M)
