"""The recorded platform facts (``generator/data/reference/platforms.json``) and the code that
acts on them agree: the FP8 format per architecture, which AMD GPUs run FP8, the AMD config keys
and Triton's defaults for them, vLLM's AMD device names; device names come out as vLLM spells
them; and every fact cites a released package's file, function and lines."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import types
from pathlib import Path

import pytest
import torch
import triton

from generator.configs.keys import AMD_KEY_VALUES, AMD_KEYS
from generator.configs.spaces import w8a8_block
from generator.data import platforms, provenance
from generator.data.provenance import rocm_pci_device_id, vllm_device_name
from generator.data.shipped import shipped_set
from generator.errors import UserError
from kernels import compat, tiling
from kernels import platform as kplatform


def test_kernels_fp8_formats_are_the_recorded_ones():
    recorded = {f.arch_prefix: f for f in platforms.fp8_formats()}
    for arch, prefix in [("gfx942", "gfx94"), ("gfx950", "gfx95"), (None, None)]:
        fmt = kplatform.fp8_format_for_arch(arch)
        rec = recorded[prefix]
        assert (fmt.name, fmt.qmax, fmt.finite_max) == (rec.dtype, rec.qmax, rec.finite_max)
    assert kplatform.FNUZ_ARCH_PREFIXES == ("gfx94",)
    # every device the record files under gfx94 gets fnuz by its name's family
    assert "AMD_Instinct_MI325X" in recorded["gfx94"].devices


def test_amd_keys_are_the_recorded_ones_and_tritons():
    """The keys the space, the kernels and the validator know are the record's, and the record's
    Triton defaults are those of the Triton installed here (its AMD backend ships in the wheel)."""
    from triton.backends.amd.compiler import HIPOptions

    recorded = platforms.amd_config_keys()
    assert set(AMD_KEYS) == set(recorded) == set(tiling.AMD_LAUNCH_KEYS)
    fields = {f.name: f.default for f in dataclasses.fields(HIPOptions)}
    for key, fact in recorded.items():
        assert fields[key] == fact["triton_default"], key
        assert tuple(fact["tuned_values"]) == AMD_KEY_VALUES[key], key
    for key, default in platforms.amd_launch_defaults().items():
        assert fields[key] == default, key
    # the space tries a subset of what vLLM's ROCm files may hold
    for key, values in w8a8_block.ROCM_KNOBS.items():
        assert set(values) <= set(AMD_KEY_VALUES[key]), key


def test_shipped_rocm_folder_matches_the_record():
    rocm = shipped_set("vllm-0.33.0").folders[0]
    record = platforms.record()
    counts = record["shipped_block_fp8_files"]["devices"]
    files = sorted(p.name for p in rocm.path.iterdir())
    assert files == sorted(rocm.sha256)  # every file has its release sha256, and no more
    for name, digest in rocm.sha256.items():  # byte for byte as copied from the release
        assert hashlib.sha256((rocm.path / name).read_bytes()).hexdigest() == digest, name
    for device, n in counts.items():
        assert sum(f"device_name={device}," in f for f in files) == n, device
    hash(shipped_set("vllm-0.33.0"))  # a set with a further folder is still hashable
    # an entry without num_stages runs with the AMD backend's default (HIPOptions: 2)
    assert rocm.launch_defaults == {"num_stages": platforms.amd_launch_defaults()["num_stages"]}


@pytest.mark.parametrize(
    "gpu_name, pci_id, expected",
    [
        ("NVIDIA H100 80GB HBM3", None, "NVIDIA_H100_80GB_HBM3"),
        ("NVIDIA GeForce RTX 4090", None, "NVIDIA_GeForce_RTX_4090"),
        ("NVIDIA L40S", None, "NVIDIA_L40S"),
        ("AMD Instinct MI300X", "0x74a1", "AMD_Instinct_MI300X"),
        ("AMD Instinct MI300X VF", "0x74b5", "AMD_Instinct_MI300X"),  # a VF: vLLM's map
        ("AMD Instinct MI325X", "0x74A5", "AMD_Instinct_MI325X"),
        ("AMD Instinct MI355X", "0x75a3", "AMD_Instinct_MI355X"),  # not in 0.33.0's map: the name
        ("AMD Radeon PRO W7900", "0x7448", "AMD_Radeon_PRO_W7900"),  # not in the map: the name
        ("AMD Instinct MI300X", None, "AMD_Instinct_MI300X"),  # ID unreadable: the name
        ("Odd/Name", None, "Odd_Name"),
        ("Odd  Name / Two", None, "Odd_Name_Two"),  # a run of spaces and '/' is one '_'
    ],
)
def test_device_names_as_vllm_spells_them(gpu_name, pci_id, expected):
    assert vllm_device_name(gpu_name, pci_id) == expected


def test_every_recorded_device_name_is_a_safe_folder_name():
    import re

    for name in platforms.rocm_device_names().values():
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name), name


def test_pci_device_id_is_read_from_sysfs_at_torchs_pci_address(monkeypatch, tmp_path: Path):
    props = types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x8C, pci_device_id=0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: props)
    device = tmp_path / "0000:8c:00.0"
    device.mkdir()
    (device / "device").write_text("0x74A1\n")
    assert rocm_pci_device_id(0, tmp_path) == "0x74a1"
    assert vllm_device_name("AMD Instinct MI300X VF", rocm_pci_device_id(0, tmp_path)) == (
        "AMD_Instinct_MI300X"
    )
    (device / "device").write_text("garbage")
    assert rocm_pci_device_id(0, tmp_path) is None
    props.pci_bus_id = 0x11  # no such device folder
    assert rocm_pci_device_id(0, tmp_path) is None


def test_provenance_on_rocm_uses_the_pci_name(monkeypatch):
    """The name comes from the PCI ID, and the architecture from gcnArchName: ROCm reports
    gfx942 as capability 9.4, which must not read as an NVIDIA sm_94."""
    props = types.SimpleNamespace(
        multi_processor_count=304,
        total_memory=192 * 2**30,
        major=9,
        minor=4,
        gcnArchName="gfx942:sramecc+:xnack-",
    )
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=0: "AMD Instinct MI300X VF")
    monkeypatch.setattr(provenance, "is_rocm", lambda: True)
    monkeypatch.setattr(provenance, "rocm_pci_device_id", lambda device=0: "0x74b5")
    monkeypatch.setattr(provenance, "driver_version", lambda: "test")
    prov = provenance.collect()
    assert prov.gpu_name == "AMD Instinct MI300X VF"
    assert prov.device_name == "AMD_Instinct_MI300X"
    assert prov.arch == "gfx942"


def test_provenance_on_cuda_records_the_sm_architecture(monkeypatch):
    props = types.SimpleNamespace(
        multi_processor_count=132, total_memory=140 * 2**30, major=9, minor=0, gcnArchName=""
    )
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=0: "NVIDIA H200")
    monkeypatch.setattr(provenance, "is_rocm", lambda: False)
    monkeypatch.setattr(provenance, "driver_version", lambda: "test")
    prov = provenance.collect()
    assert (prov.device_name, prov.arch) == ("NVIDIA_H200", "sm_90")


def test_rocm_dispatch_defaults_are_recorded():
    """vLLM on ROCm runs the Triton kernel (what this catalog tunes) unless AITER is switched
    on: VLLM_ROCM_USE_AITER is off by default."""
    assert platforms.rocm_block_fp8_env() == {
        "VLLM_ROCM_USE_AITER": False,
        "VLLM_ROCM_USE_AITER_LINEAR": True,
    }


def test_kernels_amd_fp8_archs_are_the_recorded_ones():
    """kernels.compat runs FP8 on the AMD GPUs vLLM counts as FP8-capable, no more, no fewer."""
    assert compat.AMD_FP8_ARCH_PREFIXES == platforms.amd_fp8_arch_prefixes()
    for arch in ("gfx90a", "gfx942", "gfx950", "gfx1100", "gfx1201", "gfx1250"):
        assert compat.fp8_problem(compat.GpuInfo("amd", arch=arch)) is None, arch
    assert compat.fp8_problem(compat.GpuInfo("amd", arch="gfx1030")) is not None


def test_every_source_cites_a_released_package_with_file_function_and_lines():
    cited = platforms.sources()
    packages = platforms.read_from()
    assert {c.source.ref for c in cited} == set(packages)  # every package read is cited
    for c in cited:
        assert c.source.file and c.source.function, c.where
        assert 0 < c.source.lines[0] <= c.source.lines[1], c.where
        assert len(packages[c.source.ref]["sha256"]) == 64, c.source.ref
    # every fact that cites anything is covered, and nothing cites the repository's index
    wheres = {c.where for c in cited}
    assert {"fp8_formats[gfx94]", "fp8_formats[gfx95]", "fp8_formats[None]"} <= wheres
    assert {"fp8_support", "device_names", "block_fp8_dispatch", "config_keys"} <= wheres
    text = platforms.PLATFORMS_FILE.read_text(encoding="utf-8")
    assert "public index" not in text.lower()
    assert all('"commit"' not in json.dumps(s) for _, lst in _lists() for s in lst)


def _lists():
    return platforms._source_lists(platforms.record())


@pytest.mark.parametrize(
    "breaks, message",
    [
        (lambda s: s.pop("lines"), r"without \['lines'\]"),
        (lambda s: s.update(function=""), r"without \['function'\]"),
        (lambda s: s.update(ref="main (the repository's index)"), "is not in read_from"),
        (lambda s: s.update(lines=[9, 3]), "bad line range"),
        (lambda s: s.update(lines="12-20"), "is not a range"),
    ],
)
def test_a_source_that_cannot_be_followed_is_refused(breaks, message):
    raw = copy.deepcopy(platforms.record())
    breaks(raw["device_names"]["sources"][0])
    with pytest.raises(UserError, match=message):
        platforms.sources(raw)


@pytest.mark.skipif(triton.__version__ != "3.6.0", reason="the record cites triton 3.6.0's lines")
def test_triton_sources_point_at_the_named_code_in_the_installed_wheel():
    """The Triton this project pins is installed here: each cited range holds what it names."""
    root = Path(triton.__file__).resolve().parent.parent
    triton_sources = [c for c in platforms.sources() if c.source.repo == "triton-lang/triton"]
    assert triton_sources
    for c in triton_sources:
        lines = (root / c.source.file).read_text(encoding="utf-8").splitlines()
        first, last = c.source.lines
        assert last <= len(lines), c.source.cite()
        block = "\n".join(lines[first - 1 : last])
        assert c.source.function.split(".")[-1] in block, c.source.cite()
