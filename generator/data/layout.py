"""Every path under ``site_data/``, in one place.

``<dev>`` is the device name as vLLM spells it (``torch.cuda.get_device_name()`` with spaces
and '/' replaced by '_', e.g. ``NVIDIA_H100_80GB_HBM3``)::

    models/<model-id>.json                      ModelFile     (bundled model definitions)
    devices/<dev>/device.json                   DeviceFile    (provenance + measured ceilings)
    devices/<dev>/tuning/<key>[__exhaustive].json   TuneFile  (one kernel x dtype x shape)
    devices/<dev>/configs/vllm/*.json           drop-in vLLM config files
    devices/<dev>/configs/sglang/*.json         drop-in SGLang config files
    devices/<dev>/configs/a16w8/*.json          our own format for the batched A16W8 kernel
    devices/<dev>/bench/<sweep>.json            BenchFile     (one sweep of one run)
    devices/<dev>/checks/pruning.json           PruningCheck  (pruned vs exhaustive winners)
    devices/<dev>/checks/tune_time__*.json      TuneTimeCheck (wall time of a tune)

The tuner, the bench, the bundles and the site all build their paths here, so a reader finds
the layout once and a change of layout is one edit.
"""

from __future__ import annotations

from pathlib import Path

from generator.configs.engine_files import FileFormat, file_name

DEFAULT_SITE_DATA = Path(__file__).resolve().parents[2] / "site_data"

A16W8_FOLDER = "a16w8"
EXHAUSTIVE_SUFFIX = "__exhaustive"


def models_dir(site_data: Path) -> Path:
    return Path(site_data) / "models"


def devices_dir(site_data: Path) -> Path:
    return Path(site_data) / "devices"


def device_dir(site_data: Path, device_name: str) -> Path:
    return devices_dir(site_data) / device_name


def device_file(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / "device.json"


def lock_file(site_data: Path, device_name: str) -> Path:
    """The lock every read-merge-write of one device's folder takes (never committed)."""
    return device_dir(site_data, device_name) / ".lock"


def tuning_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / "tuning"


def tune_file(site_data: Path, device_name: str, file_key: str, exhaustive: bool) -> Path:
    suffix = EXHAUSTIVE_SUFFIX if exhaustive else ""
    return tuning_dir(site_data, device_name) / f"{file_key}{suffix}.json"


def configs_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / "configs"


def framework_dir(site_data: Path, device_name: str, folder: str) -> Path:
    """``configs/vllm``, ``configs/sglang`` or ``configs/a16w8``."""
    return configs_dir(site_data, device_name) / folder


def table_path(
    site_data: Path,
    device_name: str,
    fmt: FileFormat | str,
    N: int,
    K: int,
    input_type: str = "fp8",
    block: tuple[int, int] = (128, 128),
    B: int = 1,
) -> Path:
    """Where the config table of one shape lies, under the exact name its loader looks for."""
    fmt = FileFormat(fmt)
    name = file_name(fmt, N, K, device_name, input_type, block, B)
    return framework_dir(site_data, device_name, fmt.value) / name


def bench_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / "bench"


def bench_file(site_data: Path, device_name: str, sweep: str) -> Path:
    return bench_dir(site_data, device_name) / f"{sweep}.json"


def checks_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / "checks"


def pruning_check_file(site_data: Path, device_name: str) -> Path:
    return checks_dir(site_data, device_name) / "pruning.json"


def tune_time_file(site_data: Path, device_name: str, key: str) -> Path:
    return checks_dir(site_data, device_name) / f"tune_time__{key}.json"
