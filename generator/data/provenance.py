"""Provenance of a measurement: which GPU, driver and software, and which commit of ours."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch
import triton

from generator.data.records import Provenance

REPO_ROOT = Path(__file__).resolve().parents[2]


def vllm_device_name(gpu_name: str) -> str:
    """The device name as vLLM / SGLang put it in config file names (spaces and '/' -> '_')."""
    return gpu_name.replace(" ", "_").replace("/", "_")


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
    return Provenance(
        gpu_name=name,
        device_name=vllm_device_name(name),
        sm_count=props.multi_processor_count,
        gpu_count=gpu_count,
        memory_gib=round(props.total_memory / 2**30, 1),
        driver=driver_version(),
        cuda=str(torch.version.cuda),
        torch=torch.__version__,
        triton=triton.__version__,
        git_sha=git_sha(),
        date=datetime.now(timezone.utc).replace(microsecond=0),
    )


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
