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

The tuner, the bench, the bundles, the validator and the site all build their paths here, so a
reader finds the layout once and a change of layout is one edit. Nothing here reads the disk
except :func:`tune_time_files` (a folder listing: the names of tune-time checks are open-ended).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.configs.engine_files import FileFormat, file_name

DEFAULT_SITE_DATA = Path(__file__).resolve().parents[2] / "site_data"

MODELS = "models"
DEVICES = "devices"
DEVICE_FILE = "device.json"
LOCK_FILE = ".lock"
TUNING = "tuning"
CONFIGS = "configs"
BENCH = "bench"
CHECKS = "checks"
PRUNING_FILE = "pruning.json"
TUNE_TIME_PREFIX = "tune_time"
TUNE_TIME_GLOB = f"{TUNE_TIME_PREFIX}*.json"
EXHAUSTIVE_SUFFIX = "__exhaustive"

# The folders under configs/: one per file format, in the order bundles list them.
CONFIG_FOLDERS: tuple[str, ...] = tuple(f.value for f in FileFormat)
# Everything a device folder may hold; the validator reports anything else.
DEVICE_ENTRIES = frozenset({DEVICE_FILE, TUNING, CONFIGS, BENCH, CHECKS, LOCK_FILE})


def models_dir(site_data: Path) -> Path:
    return Path(site_data) / MODELS


def model_file(site_data: Path, model_id: str) -> Path:
    return models_dir(site_data) / f"{model_id}.json"


def devices_dir(site_data: Path) -> Path:
    return Path(site_data) / DEVICES


def device_dir(site_data: Path, device_name: str) -> Path:
    return devices_dir(site_data) / device_name


def device_file(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / DEVICE_FILE


def lock_file(site_data: Path, device_name: str) -> Path:
    """The lock every read-merge-write of one device's folder takes (never committed)."""
    return device_dir(site_data, device_name) / LOCK_FILE


def tuning_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / TUNING


def tune_file_key(
    kernel: str,
    input_type: str,
    out_dtype: str,
    N: int,
    K: int,
    B: int,
    block_n: int,
    block_k: int,
) -> str:
    """The stem of a tuning file: what it holds, so the tuner and the lookup find it by name."""
    return f"{kernel}__{input_type}__{out_dtype}__N{N}_K{K}_B{B}_bn{block_n}_bk{block_k}"


def tune_file_name(file_key: str, exhaustive: bool) -> str:
    suffix = EXHAUSTIVE_SUFFIX if exhaustive else ""
    return f"{file_key}{suffix}.json"


def tune_file(site_data: Path, device_name: str, file_key: str, exhaustive: bool) -> Path:
    return tuning_dir(site_data, device_name) / tune_file_name(file_key, exhaustive)


def configs_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / CONFIGS


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
    return device_dir(site_data, device_name) / BENCH


def bench_file(site_data: Path, device_name: str, sweep: str) -> Path:
    return bench_dir(site_data, device_name) / f"{sweep}.json"


def checks_dir(site_data: Path, device_name: str) -> Path:
    return device_dir(site_data, device_name) / CHECKS


def pruning_check_file(site_data: Path, device_name: str) -> Path:
    return checks_dir(site_data, device_name) / PRUNING_FILE


def tune_time_file(site_data: Path, device_name: str, key: str) -> Path:
    return checks_dir(site_data, device_name) / f"{TUNE_TIME_PREFIX}__{key}.json"


def is_tune_time_check(path: Path) -> bool:
    """Whether a file of ``checks/`` is a tune-time check (one per tuner run, named by run)."""
    return path.name.startswith(TUNE_TIME_PREFIX)


def tune_time_files(site_data: Path, device_name: str) -> list[Path]:
    """The tune-time checks of one device, sorted (the tuner writes one per run)."""
    return sorted(checks_dir(site_data, device_name).glob(TUNE_TIME_GLOB))


def tune_output_dirs(
    site_data: Path, device_name: str, formats: Iterable[FileFormat | str]
) -> list[Path]:
    """Every folder a tune of one device writes into: the device's (``device.json``, the
    lock), ``tuning/``, ``checks/`` (tune-time and pruning checks) and the drop-in folder of
    each format its kernels publish. Checked writable before any work."""
    out = [device_dir(site_data, device_name), tuning_dir(site_data, device_name)]
    out.append(checks_dir(site_data, device_name))
    out += [framework_dir(site_data, device_name, FileFormat(f).value) for f in formats]
    return out


def bench_output_dirs(site_data: Path, device_name: str) -> list[Path]:
    """Every folder a sweep of one device writes into: the device's (the lock) and ``bench/``."""
    return [device_dir(site_data, device_name), bench_dir(site_data, device_name)]
