"""``make deepgemm``: DeepGEMM for the GPU machine, taken from the pinned vLLM wheel and packed.

Why: the DeepGEMM providers need ``deep_gemm`` on the GPU machine, which has no network and
takes 64 MiB a call. vLLM 0.33.0's wheel vendors DeepGEMM 2.8.1 (``vllm/third_party/deep_gemm``:
the Python package, its compiled extension and the CUDA headers its JIT compiles against), and
that folder imports on its own as a top-level ``deep_gemm`` (it imports only torch and itself).
So, on a machine with network: download the wheel with pip, check it against the sha256 pinned
here, check every extracted file against the wheel's RECORD, and write only that folder, renamed
``deep_gemm/`` and with :data:`generator.bench.deep_gemm_lib.SOURCE_FILE` naming the wheel, into
one ``.tar.xz`` (about 10 MB). On the GPU machine (``--help`` prints the lines)::

    mkdir -p /tmp/dg && tar -xJf .deepgemm/deep_gemm-2.8.1-vllm-0.33.0.tar.xz -C /tmp/dg
    export PYTHONPATH=/tmp/dg:$PYTHONPATH CUDA_HOME=/usr/local/cuda   # its JIT runs nvcc

Nothing is built: the files are the wheel's, unchanged. A wrong hash is one line and exit code 2,
and nothing is written (the archive goes to a temporary file, renamed when complete).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from generator.bench.deep_gemm_lib import SOURCE_FILE
from generator.errors import UserError

VLLM_VERSION = "0.33.0"
WHEEL = f"vllm-{VLLM_VERSION}-cp38-abi3-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "4b6bdec4ab269990bf70d45a3c1e94c3760a27064513760193b26d6f0da883aa"
PREFIX = "vllm/third_party/deep_gemm/"
PACKAGE = "deep_gemm"
# pip matches a manylinux tag exactly: every tag a wheel for an x86-64 Linux may carry, newest
# first; the pinned sha256 decides which file is accepted.
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
)
DEFAULT_DEST = Path(".deepgemm")  # what the GPU command carries: the archive alone (6 MB)
DEFAULT_CACHE = Path(".deepgemm-cache")  # the 336 MB wheel, kept out of the carried folder
DEVICE_LINES = (
    "mkdir -p /tmp/dg && tar -xJf {archive} -C /tmp/dg && "
    "export PYTHONPATH=/tmp/dg:$PYTHONPATH CUDA_HOME=/usr/local/cuda"
)

Runner = Callable[[Sequence[str]], int]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_command(cache: Path, python_version: str = "3.12") -> list[str]:
    """The pip call that fetches the pinned wheel (no dependencies, a binary for x86-64 Linux
    whatever this machine is)."""
    command = [sys.executable, "-m", "pip", "download", f"vllm=={VLLM_VERSION}", "--no-deps"]
    command += ["--only-binary=:all:", "--python-version", python_version]
    command += ["--implementation", "cp", "-d", str(cache)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return command


def _run(command: Sequence[str]) -> int:
    return subprocess.call(list(command))


def fetch_wheel(cache: Path, run: Runner = _run, sha256: str = WHEEL_SHA256) -> Path:
    """The pinned wheel in ``cache``, downloaded unless a copy with the pinned hash is there."""
    wheel = cache / WHEEL
    if wheel.is_file() and sha256_of(wheel) == sha256:
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    if run(pip_command(cache)) != 0:
        raise UserError(f"pip could not download vllm=={VLLM_VERSION} (see its output above)")
    if not wheel.is_file():
        found = ", ".join(sorted(p.name for p in cache.glob("vllm-*.whl"))) or "nothing"
        raise UserError(f"pip fetched {found}, not {WHEEL}")
    got = sha256_of(wheel)
    if got != sha256:
        raise UserError(f"{wheel}: sha256 {got} is not the pinned {sha256}; refusing to use it")
    return wheel


def _record(zf: zipfile.ZipFile) -> dict[str, str]:
    """path -> urlsafe-base64 sha256 of every file the wheel's RECORD lists."""
    name = next((n for n in zf.namelist() if n.endswith(".dist-info/RECORD")), None)
    if name is None:
        raise UserError("the wheel has no RECORD: cannot check its files")
    out = {}
    for line in zf.read(name).decode("utf-8").splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) == 3 and parts[1].startswith("sha256="):
            out[parts[0]] = parts[1].removeprefix("sha256=")
    return out


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def pack(wheel: Path, dest: Path, sha256: str = WHEEL_SHA256) -> tuple[Path, dict]:
    """Write ``dest/deep_gemm-<version>-vllm-<vllm version>.tar.xz`` from ``wheel``; returns
    its path and a summary (files, bytes unpacked and packed, DeepGEMM's version)."""
    got = sha256_of(wheel)
    if got != sha256:
        raise UserError(f"{wheel}: sha256 {got} is not the pinned {sha256}; refusing to use it")
    with zipfile.ZipFile(wheel) as zf:
        record = _record(zf)
        members = [
            n
            for n in zf.namelist()
            if n.startswith(PREFIX) and not n.endswith("/") and "__pycache__/" not in n
        ]
        if f"{PREFIX}__init__.py" not in members:
            raise UserError(f"{wheel.name} has no {PREFIX}: not a wheel that vendors DeepGEMM")
        files = {}
        for name in members:
            data = zf.read(name)
            if record.get(name) != _digest(data):
                raise UserError(f"{wheel.name}: {name} does not match the wheel's RECORD")
            files[PACKAGE + "/" + name.removeprefix(PREFIX)] = data
    version = _version(files[f"{PACKAGE}/__init__.py"].decode("utf-8"))
    source = {"wheel": wheel.name, "sha256": sha256, "folder": PREFIX, "deep_gemm": version}
    files[f"{PACKAGE}/{SOURCE_FILE}"] = (json.dumps(source, indent=2) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"deep_gemm-{version}-vllm-{VLLM_VERSION}.tar.xz"
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".deep_gemm-", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:xz", preset=6) as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
                if name.endswith(".so"):
                    info.mode = 0o755
                tar.addfile(info, io.BytesIO(files[name]))
        os.chmod(tmp, 0o644)
        os.replace(tmp, archive)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    summary = {
        "files": len(files),
        "unpacked_bytes": sum(len(d) for d in files.values()),
        "packed_bytes": archive.stat().st_size,
        "deep_gemm": version,
    }
    return archive, summary


def _version(init: str) -> str:
    for line in init.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise UserError(f"{PREFIX}__init__.py has no __version__")


def main(argv: Sequence[str] | None = None, run: Runner = _run) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator.deepgemm_fetch",
        description=__doc__.split("\n\n")[0],
        epilog="On the GPU machine: " + DEVICE_LINES.format(archive="<archive>"),
    )
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="output folder")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where the downloaded wheel is kept"
    )
    parser.add_argument(
        "--wheel", type=Path, help=f"use this {WHEEL} (checked against the pinned sha256)"
    )
    args = parser.parse_args(argv)
    try:
        wheel = args.wheel or fetch_wheel(args.cache, run, WHEEL_SHA256)
        archive, s = pack(wheel, args.dest, WHEEL_SHA256)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"deepgemm: {archive} (deep_gemm {s['deep_gemm']} from {WHEEL}: {s['files']} files, "
        f"{s['unpacked_bytes'] / 1e6:.1f} MB unpacked, {s['packed_bytes'] / 1e6:.1f} MB packed)"
    )
    print("on the GPU machine: " + DEVICE_LINES.format(archive=archive))
    return 0


if __name__ == "__main__":
    sys.exit(main())
