"""Names and contents of the config files vLLM and SGLang load (and our A16W8 tables).

vLLM:   N={N},K={K},device_name={dev},dtype=fp8_w8a8,block_shape=[128,128].json
SGLang: N={N},K={K},device_name={dev},dtype=fp8_w8a8,block_shape=[128, 128].json
(``int8_w8a8`` for INT8). Content: {"<M>": {BLOCK_SIZE_M, BLOCK_SIZE_N, BLOCK_SIZE_K,
GROUP_SIZE_M, num_warps, num_stages}} with integer keys in ascending M (vLLM's loader runs
``int(key)`` on every key). A config tuned on an AMD GPU also carries the AMD backend's options
(``waves_per_eu``, ``matrix_instr_nonkdim``; ``keys.AMD_KEYS``): vLLM launches its kernel with
``**config``, so every key of an entry reaches Triton, which is where the engine reads them;
the reader keeps every key of a file (vLLM's own ROCm files hold ``kpack`` and no
``num_stages``). Our batched A16W8 kernel has no engine file; its tables use a format of our
own (``a16w8``), named in the same spirit.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.configs.keys import CONFIG_KEYS, Config
from generator.errors import UserError

_DTYPE_TAG = {"fp8": "fp8_w8a8", "int8": "int8_w8a8"}


class FileFormat(str, enum.Enum):
    """A folder of config tables under ``configs/``: the two engines' and our A16W8 one."""

    VLLM = "vllm"
    SGLANG = "sglang"
    A16W8 = "a16w8"


ENGINES = (FileFormat.VLLM, FileFormat.SGLANG)
FRAMEWORKS = tuple(f.value for f in ENGINES)  # the engines, as plain names (CLI choices)


def dtype_tag(input_type: str) -> str:
    try:
        return _DTYPE_TAG[input_type]
    except KeyError:
        raise UserError(f"input type '{input_type}' has no framework config file") from None


def file_name(
    fmt: FileFormat | str,
    N: int,
    K: int,
    device_name: str,
    input_type: str = "fp8",
    block: tuple[int, int] = (128, 128),
    B: int = 1,
) -> str:
    """The exact name the engine (or our A16W8 loader) looks for."""
    fmt = FileFormat(fmt)
    bn, bk = block
    if fmt is FileFormat.A16W8:
        return (
            f"B={B},N={N},K={K},device_name={device_name},dtype=a16w8_fp8,"
            f"block_shape=[{bn},{bk}].json"
        )
    shape = f"[{bn},{bk}]" if fmt is FileFormat.VLLM else f"[{bn}, {bk}]"
    return (
        f"N={N},K={K},device_name={device_name},dtype={dtype_tag(input_type)},"
        f"block_shape={shape}.json"
    )


_NAME = re.compile(
    r"^(?:B=(?P<B>\d+),)?N=(?P<N>\d+),K=(?P<K>\d+),device_name=(?P<dev>[^,]+),"
    r"dtype=(?P<tag>[a-z0-9_]+),block_shape=\[(?P<bn>\d+), ?(?P<bk>\d+)\]\.json$"
)
_INPUT_OF_TAG = {"fp8_w8a8": "fp8", "int8_w8a8": "int8", "a16w8_fp8": "bf16"}


@dataclass(frozen=True)
class TableName:
    """What a config file's name says: the shape, the device and the quantization."""

    N: int
    K: int
    device_name: str
    input_type: str
    block: tuple[int, int]
    B: int = 1


def parse_file_name(fmt: FileFormat | str, name: str) -> TableName | None:
    """The fields of ``name`` if it is exactly a name ``fmt``'s loader looks for, else None
    (a file under any other name is never loaded, and one for another device is not ours)."""
    m = _NAME.match(name)
    if m is None or m["tag"] not in _INPUT_OF_TAG:
        return None
    parsed = TableName(
        N=int(m["N"]),
        K=int(m["K"]),
        device_name=m["dev"],
        input_type=_INPUT_OF_TAG[m["tag"]],
        block=(int(m["bn"]), int(m["bk"])),
        B=int(m["B"] or 1),
    )
    p = parsed
    try:
        canonical = file_name(fmt, p.N, p.K, p.device_name, p.input_type, p.block, p.B)
    except UserError:  # a dtype this format has no file for (a16w8_fp8 in vllm/): not its name
        return None
    return parsed if canonical == name else None


def framework_file_name(
    framework: str,
    N: int,
    K: int,
    device_name: str,
    input_type: str,
    block: tuple[int, int] = (128, 128),
) -> str:
    if framework not in FRAMEWORKS:
        raise UserError(f"unknown framework '{framework}'; expected one of {FRAMEWORKS}")
    return file_name(framework, N, K, device_name, input_type, block)


def config_table_json(table: Mapping[int, Mapping[str, int]]) -> str:
    """Serialise {M: config} with ascending integer keys; the standard keys in the engines'
    order, then any other key (a kernel's own, e.g. TILES_PER_PROGRAM; the AMD backend's
    options) in sorted order."""
    ordered = {}
    for m in sorted(table):
        cfg = table[m]
        extra = sorted(k for k in cfg if k not in CONFIG_KEYS)
        ordered[str(m)] = {k: int(cfg[k]) for k in (*CONFIG_KEYS, *extra) if k in cfg}
    return json.dumps(ordered, indent=4) + "\n"


def batch_key(key: object) -> int:
    """The batch size M a table key names: a positive integer written plainly ("16"), which is
    what the files we write hold and what every loader reads the same way (vLLM runs
    ``int(key)``, which would also take " 16" or "016"). ValueError otherwise."""
    if not (isinstance(key, str) and key.isdigit() and str(int(key)) == key and int(key) >= 1):
        raise ValueError(f"batch-size key {key!r} is not a positive integer")
    return int(key)


def nearest_batch(batches: list[int], m: int) -> int:
    """The batch-size key of a table whose entry an engine runs at batch size ``m``: the
    nearest, the first of two equally near (vLLM's and SGLang's ``min(keys, key=lambda x:
    abs(int(x) - M))``, as ``kernels.tiling.pick_config`` does on the GPU side; this copy
    keeps the catalog free of Triton). ValueError on an empty list."""
    if not batches:
        raise ValueError("nearest_batch: no batch size to choose from")
    return min(batches, key=lambda b: abs(b - m))


def read_table(path: Path) -> dict[int, Config] | None:
    """The {M: config} table of a file, or None when the file does not exist."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable config file ({exc})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: unreadable config file (expected an object keyed by M)")
    try:
        return {batch_key(m): dict(cfg) for m, cfg in raw.items()}
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: unreadable config file ({exc})") from None
