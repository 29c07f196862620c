"""Names and contents of the drop-in config files vLLM and SGLang load.

vLLM:   N={N},K={K},device_name={dev},dtype=fp8_w8a8,block_shape=[128,128].json
SGLang: N={N},K={K},device_name={dev},dtype=fp8_w8a8,block_shape=[128, 128].json
(``int8_w8a8`` for INT8). Content: {"<M>": {BLOCK_SIZE_M, BLOCK_SIZE_N, BLOCK_SIZE_K,
GROUP_SIZE_M, num_warps, num_stages}} with keys in ascending M. Our batched A16W8 kernel has no
framework file; its tables use a format of our own, named in the same spirit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from generator.errors import UserError
from kernels.tiling import CONFIG_KEYS

FRAMEWORKS = ("vllm", "sglang")
_DTYPE_TAG = {"fp8": "fp8_w8a8", "int8": "int8_w8a8"}


def dtype_tag(input_type: str) -> str:
    try:
        return _DTYPE_TAG[input_type]
    except KeyError:
        raise UserError(f"input type '{input_type}' has no framework config file") from None


def framework_file_name(
    framework: str,
    N: int,
    K: int,
    device_name: str,
    input_type: str,
    block: tuple[int, int] = (128, 128),
) -> str:
    bn, bk = block
    shape = f"[{bn},{bk}]" if framework == "vllm" else f"[{bn}, {bk}]"
    if framework not in FRAMEWORKS:
        raise UserError(f"unknown framework '{framework}'; expected one of {FRAMEWORKS}")
    return (
        f"N={N},K={K},device_name={device_name},dtype={dtype_tag(input_type)},"
        f"block_shape={shape}.json"
    )


def a16w8_file_name(
    B: int, N: int, K: int, device_name: str, block: tuple[int, int] = (128, 128)
) -> str:
    return (
        f"B={B},N={N},K={K},device_name={device_name},dtype=a16w8_fp8,"
        f"block_shape=[{block[0]},{block[1]}].json"
    )


def config_table_json(table: Mapping[int, Mapping[str, int]]) -> str:
    """Serialise {M: config} with ascending integer keys and keys in the frameworks' order."""
    ordered = {str(m): {k: int(table[m][k]) for k in CONFIG_KEYS} for m in sorted(table)}
    return json.dumps(ordered, indent=4) + "\n"


def device_configs_dir(site_data: Path, device_name: str) -> Path:
    return Path(site_data) / "devices" / device_name / "configs"


def load_tuned_table(
    site_data: Path,
    device_name: str,
    N: int,
    K: int,
    input_type: str = "fp8",
    block: tuple[int, int] = (128, 128),
) -> dict[int, dict[str, int]] | None:
    """The tuned {M: config} table for a shape on a device, or None when none was tuned."""
    path = (
        device_configs_dir(site_data, device_name)
        / "vllm"
        / framework_file_name("vllm", N, K, device_name, input_type, block)
    )
    return _read_table(path)


def load_a16w8_table(
    site_data: Path, device_name: str, B: int, N: int, K: int, block: tuple[int, int] = (128, 128)
) -> dict[int, dict[str, int]] | None:
    path = (
        device_configs_dir(site_data, device_name)
        / "a16w8"
        / a16w8_file_name(B, N, K, device_name, block)
    )
    return _read_table(path)


def _read_table(path: Path) -> dict[int, dict[str, int]] | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable config file ({exc})") from None
    return {int(m): dict(cfg) for m, cfg in raw.items()}
