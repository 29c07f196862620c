"""The engine-default providers (DeepGEMM as vLLM runs it, kernel-only, FlashInfer's swap-AB):
metadata, requirement messages, and their wiring, checked on the CPU against a fake
``deep_gemm`` that computes the GEMM in torch and checks the layouts DeepGEMM checks."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

from generator.bench import deep_gemm_lib, plan, requirements
from generator.bench import registry as pv
from generator.bench.providers import common, engine_default
from generator.bench.requirements import unmet
from generator.bench.run import run_sweep
from generator.data import dispatch, records
from generator.data.provenance import collect_cpu
from generator.data.records import BenchFile, Ceilings, Origin, Scheme, Status
from kernels.quant_deepgemm import ceil_to_ue8m0, requantize_weight_ue8m0
from kernels.reference import relative_error, tolerance
from kernels.validation import FP8_DTYPE

NAMES = ("deepgemm-fp8-block", "deepgemm-fp8-block-noquant", "flashinfer-fp8-block-swapab")
PROBLEM = pv.Problem(M=5, N=256, K=384)


def _align4(n: int) -> int:
    return -(-n // 4) * 4


def _pack_rows(sf: torch.Tensor) -> torch.Tensor:
    """(rows, groups) powers of two -> (rows, words) int32, written out group by group."""
    rows, groups = sf.shape
    exps = ((sf.view(torch.int32) >> 23) & 0xFF).to(torch.int64)
    words = torch.zeros((rows, -(-groups // 4)), dtype=torch.int64)
    for g in range(words.shape[1] * 4):
        byte = exps[:, g] if g < groups else torch.full((rows,), 127, dtype=torch.int64)
        words[:, g // 4] |= byte << (8 * (g % 4))
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def _unpack_rows(words: torch.Tensor, groups: int) -> torch.Tensor:
    w = words.to(torch.int64) & 0xFFFFFFFF
    cols = [(w[:, g // 4] >> (8 * (g % 4))) & 0xFF for g in range(groups)]
    return (torch.stack(cols, dim=1).to(torch.int32) << 23).view(torch.float32)


class FakeDeepGemm(types.ModuleType):
    """DeepGEMM's two calls the providers make, in torch, with DeepGEMM's layout checks
    (``csrc/apis/gemm.hpp`` / ``layout.hpp``), stricter where the providers promise more: the
    activation scales already TMA-aligned (else DeepGEMM copies them in the timed call)."""

    def __init__(self, arch: int = 9) -> None:
        super().__init__("deep_gemm")
        self.__version__ = "0.0.0-fake"
        self.arch = arch
        self.gemms: list[dict] = []
        self.transforms: list[dict] = []

    def transform_sf_into_required_layout(
        self, sf, mn, k, recipe, num_groups=None, is_sfa=None, disable_ue8m0_cast=False
    ):
        self.transforms.append(dict(recipe=tuple(recipe), is_sfa=is_sfa, cast=disable_ue8m0_cast))
        assert sf.dtype == torch.float32 and sf.shape == (num_groups, -(-mn // 128), -(-k // 128))
        if self.arch == 9:
            return sf
        rows = sf[0].repeat_interleave(128, dim=0)[:mn]  # one scale row per output row
        return _pack_rows(rows).unsqueeze(0)

    def fp8_gemm_nt(self, a, b, d, disable_ue8m0_cast=False):
        (A, sfa), (B, sfb) = a, b
        M, K = A.shape
        N, groups = B.shape[0], -(-K // 128)
        self.gemms.append(
            dict(sfa_stride=sfa.stride(), sfa_dtype=sfa.dtype, B=B, cast=disable_ue8m0_cast)
        )
        assert A.dtype == B.dtype == FP8_DTYPE and A.stride(-1) == 1 and B.stride(-1) == 1
        assert d.dtype == torch.bfloat16 and d.shape == (M, N) and d.stride(-1) == 1
        if self.arch == 9:
            assert sfa.dtype == torch.float32 and sfa.shape == (M, groups)
            assert sfa.stride() == (1, _align4(M))
            assert sfb.is_contiguous() and sfb.shape == (-(-N // 128), groups)
            a_sc, b_sc = sfa, sfb.repeat_interleave(128, dim=0)[:N]
        else:
            assert sfa.dtype == sfb.dtype == torch.int32 and sfa.shape == (M, -(-groups // 4))
            assert sfa.stride() == (1, _align4(M))
            a_sc, b_sc = _unpack_rows(sfa, groups), _unpack_rows(sfb, groups)
        a_val = A.float() * a_sc.repeat_interleave(128, dim=-1)[:, :K]
        b_val = B.float() * b_sc.repeat_interleave(128, dim=-1)[:, :K]
        d.copy_((a_val @ b_val.t()).to(d.dtype))


@pytest.fixture
def fake(monkeypatch):
    module = FakeDeepGemm()
    monkeypatch.setitem(sys.modules, "deep_gemm", module)
    return module


def _ctx(out_dtype: torch.dtype = torch.bfloat16, l2_bytes: int = 0) -> pv.BenchContext:
    ctx = pv.BenchContext(device=torch.device("cpu"), out_dtype=out_dtype, l2_bytes=l2_bytes)
    ctx.start(PROBLEM)
    return ctx


def _error(provider: pv.Provider, ctx: pv.BenchContext, call: int = 0) -> float:
    out = provider.setup(PROBLEM, ctx).calls[call]()
    return relative_error(out, ctx.reference_of(provider.reference, PROBLEM))


def test_metadata_says_what_each_provider_is():
    infos = {n: pv.get(n).info for n in NAMES}
    assert all(i.scheme == Scheme.FP8_BLOCK and i.origin == Origin.LIBRARY for i in infos.values())
    assert not any(i.installable for i in infos.values())
    assert [infos[n].quant_timed for n in NAMES] == [True, False, True]
    assert "as vLLM runs it" in infos["deepgemm-fp8-block"].label
    assert "power-of-two" in infos["deepgemm-fp8-block"].description
    assert "stands in" in infos["flashinfer-fp8-block-swapab"].description
    build = deep_gemm_lib.locate()
    assert infos["deepgemm-fp8-block"].library == (build.describe() if build else None)
    for n in NAMES:
        assert pv.get(n).library  # what DeepGEMM refuses is "unsupported", as for cuBLAS


def test_every_provider_the_dispatch_rules_name_is_registered():
    names = {p.name for p in pv.all_providers()}
    for rules in dispatch.rule_table().engines:
        for backend in rules.backends.values():
            assert backend.provider is None or backend.provider in names, backend.id
            assert backend.stand_in is None or backend.stand_in in names, backend.id


def test_requirement_messages_are_one_line(monkeypatch, fake):
    dg = pv.get("deepgemm-fp8-block")
    cpu = unmet(dg, pv.BenchContext(device=torch.device("cpu")))
    assert cpu == (
        "needs an NVIDIA Hopper (sm_90) or Blackwell (sm_100) GPU (DeepGEMM has no CPU path)"
    )
    gpu = pv.BenchContext(device=torch.device("cuda"))
    monkeypatch.setattr(requirements, "_capability", lambda ctx: (8, 9))
    assert unmet(dg, gpu) == "needs an sm_90 or sm_100 GPU (DeepGEMM's FP8 GEMM), this one is sm_89"
    for capability in ((9, 0), (10, 0), (10, 3)):
        monkeypatch.setattr(requirements, "_capability", lambda ctx, c=capability: c)
        assert unmet(dg, gpu) is None
    old = types.ModuleType("deep_gemm")  # a DeepGEMM 1.x: other names
    old.gemm_fp8_fp8_bf16_nt = fake.fp8_gemm_nt
    old.transform_sf_into_required_layout = fake.transform_sf_into_required_layout
    monkeypatch.setitem(sys.modules, "deep_gemm", old)
    assert unmet(dg, gpu) == "this deep_gemm has no fp8_gemm_nt (DeepGEMM 2.x is needed)"
    monkeypatch.setattr(deep_gemm_lib, "locate", lambda: None)
    message = unmet(dg, gpu)
    assert message.startswith("deep_gemm is not importable (ImportError: no deep_gemm package")
    assert "make deepgemm" in message and "\n" not in message


def test_engine_path_and_kernel_only_match_their_reference(fake):
    ctx = _ctx()
    for name in NAMES[:2]:
        assert _error(pv.get(name), ctx) < tolerance(torch.bfloat16), name
    assert len(fake.gemms) == 2
    B, Bs = common.fp8_block_weight(ctx)
    B2, Bs2 = requantize_weight_ue8m0(B, Bs)
    for call in fake.gemms:  # vLLM's call: UE8M0 cast on, aligned fp32 scales, UE8M0 weights
        assert call["cast"] is False and call["sfa_stride"] == (1, 8)
        assert torch.equal(call["B"].float(), B2.float())
    assert fake.transforms == [dict(recipe=(1, 128, 128), is_sfa=False, cast=False)]  # once


def test_the_reference_follows_the_power_of_two_rounding(fake):
    ctx = _ctx()
    provider = pv.get("deepgemm-fp8-block")
    out = provider.setup(PROBLEM, ctx).calls[0]()
    own = ctx.reference_of(provider.reference, PROBLEM)
    plain = ctx.reference_of(common.block_reference("fp8"), PROBLEM)  # fp32 scales
    assert not torch.equal(own, plain)
    assert relative_error(out, own) < relative_error(out, plain)
    _, As = engine_default.ue8m0_act(ctx)
    _, Bs = engine_default.ue8m0_weight(ctx)
    assert torch.equal(ceil_to_ue8m0(As), As) and torch.equal(ceil_to_ue8m0(Bs), Bs)


def test_only_the_engine_path_quantizes_inside_the_timed_call(fake):
    ctx = _ctx()
    prepared = {n: pv.get(n).setup(PROBLEM, ctx) for n in NAMES[:2]}
    before = {n: p.calls[0]().float().clone() for n, p in prepared.items()}
    ctx.x_bf16.mul_(2.0)
    changed = {n: not torch.equal(before[n], p.calls[0]().float()) for n, p in prepared.items()}
    assert changed == {"deepgemm-fp8-block": True, "deepgemm-fp8-block-noquant": False}


def test_rotated_sets_keep_deepgemms_scale_layout(fake):
    ctx = _ctx(l2_bytes=4 * 1024 * 1024)
    for name in NAMES[:2]:
        prepared = pv.get(name).setup(PROBLEM, ctx)
        assert len(prepared.calls) > 1
        for i in range(len(prepared.calls)):
            assert _error(pv.get(name), ctx, i) < tolerance(torch.bfloat16)
    assert {c["sfa_stride"] for c in fake.gemms} == {(1, 8)}


def test_blackwell_gets_packed_ue8m0_scales(monkeypatch, fake):
    fake.arch = 10
    monkeypatch.setattr(engine_default, "packed_scales", lambda ctx: True)
    ctx = _ctx()
    for name in NAMES[:2]:
        assert _error(pv.get(name), ctx) < tolerance(torch.bfloat16), name
    assert {c["sfa_dtype"] for c in fake.gemms} == {torch.int32}


def test_fp16_output_and_a_missing_deep_gemm_are_unsupported_with_the_reason(monkeypatch, fake):
    dg = pv.get("deepgemm-fp8-block")
    with pytest.raises(pv.Unsupported, match="DeepGEMM writes bf16 output only"):
        dg.setup(PROBLEM, _ctx(torch.float16))
    monkeypatch.setattr(deep_gemm_lib, "locate", lambda: None)
    with pytest.raises(pv.Unsupported, match="make deepgemm"):
        dg.setup(PROBLEM, _ctx())


def test_flashinfer_is_unsupported_and_names_its_stand_in():
    with pytest.raises(pv.Unsupported) as info:
        pv.get("flashinfer-fp8-block-swapab").setup(PROBLEM, _ctx())
    message = str(info.value)
    assert "FlashInfer 0.7.2.post1" in message and "could not be installed" in message
    assert message.endswith("stand-in: deepgemm-fp8-block")


def test_a_sweep_records_the_engine_defaults_like_every_provider(monkeypatch, fake, tmp_path):
    monkeypatch.setitem(requirements.REQUIREMENT_CHECKS, pv.Requirement.DEEP_GEMM, lambda c: None)
    chosen = pv.select(["triton-fp8-block-default", *NAMES])
    ceilings = Ceilings(copy_gbps=3000.0, bf16_tflops=800.0, fp8_tflops=1600.0)
    ctx = pv.BenchContext(device=torch.device("cpu"))
    points = [plan.SweepPoint(PROBLEM)]
    result = run_sweep(
        "square", points, chosen, ctx, collect_cpu(), ceilings, tmp_path, replays=1, progress=False
    )
    status = {r.provider: r.measurement.status for r in result.rows}
    assert status == {
        "triton-fp8-block-default": Status.OK,
        "deepgemm-fp8-block": Status.OK,
        "deepgemm-fp8-block-noquant": Status.OK,
        "flashinfer-fp8-block-swapab": Status.UNSUPPORTED,
    }
    saved = records.load(result.path, BenchFile)
    assert saved.providers["deepgemm-fp8-block"].library == engine_default.LIBRARY


def _assert_a_valid_library_field(text: str) -> None:
    """What describe() says must be storable as a provider's library (the registry builds the
    DeepGEMM providers from it at import: an invalid phrase stops every bench on a GPU)."""
    info = pv.get("deepgemm-fp8-block").info
    checked = records.ProviderInfo.model_validate({**info.model_dump(), "library": text})
    assert checked.library == text


def _package(root, name: str, version: str, source: dict | None = None):
    folder = root.joinpath(*name.split("."))
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(f"__version__ = '{version}'\n", encoding="utf-8")
    if source is not None:
        (folder / deep_gemm_lib.SOURCE_FILE).write_text(json.dumps(source), encoding="utf-8")
    return folder


def test_locate_finds_the_extracted_copy_and_says_where_it_came_from(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "deep_gemm", raising=False)
    source = {
        "wheel": "vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl",
        "sha256": "4b6bdec4ab26" * 5,
    }
    folder = _package(tmp_path, "deep_gemm", "2.8.1", source)
    monkeypatch.syspath_prepend(str(tmp_path))
    build = deep_gemm_lib.locate()
    assert build.module == "deep_gemm" and build.path == folder and build.version == "2.8.1"
    assert build.describe() == (
        "deep_gemm 2.8.1 from vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl (sha256 "
        "4b6bdec4ab26), module deep_gemm"
    )
    _assert_a_valid_library_field(build.describe())
    assert "deep_gemm" not in sys.modules  # found, not imported


def test_locate_falls_back_to_the_copy_inside_vllm_without_importing_vllm(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "deep_gemm", raising=False)
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    (tmp_path / "vllm").mkdir()
    (tmp_path / "vllm" / "__init__.py").write_text("raise RuntimeError('imported')\n")
    _package(tmp_path, "vllm.third_party.deep_gemm", "2.8.1")
    monkeypatch.syspath_prepend(str(tmp_path))
    if deep_gemm_lib._find("deep_gemm") is not None:
        pytest.skip("a real deep_gemm is installed here")
    build = deep_gemm_lib.locate()
    assert build.module == "vllm.third_party.deep_gemm" and build.version == "2.8.1"
    assert "vendored in the installed vLLM" in build.origin
    _assert_a_valid_library_field(build.describe())
    assert "vllm" not in sys.modules
