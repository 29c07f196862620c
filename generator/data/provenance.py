"""Provenance of a measurement: which GPU, driver and software, and which commit of ours."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import triton

from generator.data.platforms import rocm_device_names
from generator.data.records import Provenance
from kernels.platform import is_rocm

REPO_ROOT = Path(__file__).resolve().parents[2]
PCI_DEVICES = Path("/sys/bus/pci/devices")
# vLLM 0.33.0 vllm/utils/platform_utils.py get_device_name_as_file_name: re.sub(r"[\s/]+", "_", ...)
_FILE_NAME_SEPARATORS = re.compile(r"[\s/]+")


def vllm_device_name(gpu_name: str, pci_device_id: str | None = None) -> str:
    """The device name as vLLM puts it in config file names.

    NVIDIA: the GPU's name with each run of whitespace or '/' replaced by one '_' (vLLM 0.33.0
    ``get_device_name_as_file_name``), e.g. ``NVIDIA_H100_80GB_HBM3``. AMD: vLLM names the GPU
    by its PCI device ID, so an MI300X is ``AMD_Instinct_MI300X`` whatever the driver calls it,
    and its virtual function (0x74b5) too (``generator/data/reference/platforms.json``: vLLM's
    ``_ROCM_DEVICE_ID_NAME_MAP``); an ID vLLM does not list (the MI350X and MI355X among them)
    falls back to the name, spelled as for NVIDIA (vLLM takes amdsmi's market name there, which
    this cannot read; torch's name is the nearest)."""
    if pci_device_id:
        known = rocm_device_names().get(pci_device_id.strip().lower())
        if known:
            return known
    return _FILE_NAME_SEPARATORS.sub("_", gpu_name)


def rocm_pci_device_id(device: int = 0, pci_root: Path = PCI_DEVICES) -> str | None:
    """The PCI device ID (``0x74a1``) of AMD GPU ``device``, read from sysfs at the PCI address
    torch reports; None where it cannot be read (vLLM asks amdsmi for the same number)."""
    props = torch.cuda.get_device_properties(device)
    try:
        address = (
            f"{int(getattr(props, 'pci_domain_id', 0)):04x}:{int(props.pci_bus_id):02x}:"
            f"{int(props.pci_device_id):02x}.0"
        )
        text = (Path(pci_root) / address / "device").read_text(encoding="ascii").strip()
    except (AttributeError, OSError, TypeError, ValueError, UnicodeDecodeError):
        return None
    return text.lower() if text.lower().startswith("0x") else None


def git_sha() -> str:
    """Commit of this checkout; BLOCKGEMM_GIT_SHA wins (the GPU machine gets no .git folder)."""
    env = os.environ.get("BLOCKGEMM_GIT_SHA")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        sha = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def same_commit(a: str, b: str) -> bool:
    """Whether two provenance ``git_sha`` values name one commit: the GPU machine records the
    abbreviated sha it is given (BLOCKGEMM_GIT_SHA), a checkout the full one, so one must be a
    prefix of the other (7 hex digits at least). A dirty tree (``<sha>-dirty``) matches only
    itself; an unknown commit matches nothing."""
    short, full = sorted((a.lower(), b.lower()), key=len)
    if "unknown" in (a, b) or len(short) < 7:
        return False
    if short == full:
        return True
    return set(full) <= set("0123456789abcdef") and full.startswith(short)


def driver_version() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def collect(gpu_count: int = 1, device: int = 0) -> Provenance:
    """Provenance of the current CUDA device (call only where CUDA is available)."""
    props = torch.cuda.get_device_properties(device)
    name = torch.cuda.get_device_name(device)
    pci_id = rocm_pci_device_id(device) if is_rocm() else None
    return Provenance(
        gpu_name=name,
        device_name=vllm_device_name(name, pci_id),
        sm_count=props.multi_processor_count,
        gpu_count=gpu_count,
        memory_gib=round(props.total_memory / 2**30, 1),
        driver=driver_version(),
        cuda=str(torch.version.cuda),
        torch=torch.__version__,
        triton=triton.__version__,
        git_sha=git_sha(),
        date=datetime.now(timezone.utc).replace(microsecond=0),
        arch=gpu_arch(props),
    )


def gpu_arch(props: Any) -> str:
    """The architecture of a device, as :attr:`Provenance.arch` records it: ROCm's gcnArchName
    without its feature flags ("gfx942:sramecc+:xnack-" -> "gfx942"), since ROCm reports its
    own capability numbers (9.4 for gfx942) that must not be read as NVIDIA's; else
    ``sm_<major><minor>``."""
    gcn = getattr(props, "gcnArchName", "") or ""
    if is_rocm() and gcn:
        return gcn.split(":", 1)[0]
    return f"sm_{props.major}{props.minor}"


def collect_cpu(gpu_count: int = 0) -> Provenance:
    """Provenance for CPU-interpreter runs (tests only: never published)."""
    return Provenance(
        gpu_name=f"CPU interpreter ({platform.machine()})",
        device_name="CPU_INTERPRETER",
        sm_count=0,
        gpu_count=gpu_count,
        memory_gib=0.0,
        driver="none",
        cuda="none",
        torch=torch.__version__,
        triton=triton.__version__,
        git_sha=git_sha(),
        date=datetime.now(timezone.utc).replace(microsecond=0),
    )
