"""``install-configs`` never loses a user's file and installs only what ``validate`` accepts,
all files or none (issue 24's data-loss probes).

The probes: a read-only, hand-tuned file of the same name was replaced without a word or a
copy; a full disk during the install left 2 of 6 files; a drop-in file that no longer matched
its tuning records, or had a key vLLM's ``int(key)`` rejects, was installed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from generator.cli import main as cli_main
from tests.fixtures.make_synthetic import write_catalog

DEV = "SYNTHETIC_GPU_A"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("install") / "site_data"
    write_catalog(root, n_devices=1, n_models=1, mla=False)
    return root


@pytest.fixture
def site_data(pristine, tmp_path) -> Path:
    root = tmp_path / "site_data"
    shutil.copytree(pristine, root)
    return root


def _install(site_data: Path, dest: Path, *extra: str) -> int:
    argv = ["install-configs", "--device", DEV, "--framework", "vllm"]
    return cli_main([*argv, "--site-data", str(site_data), "--dest", str(dest), *extra])


def _sources(site_data: Path) -> list[Path]:
    return sorted((site_data / "devices" / DEV / "configs" / "vllm").glob("*.json"))


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


@pytest.fixture
def hand_tuned(site_data, tmp_path) -> tuple[Path, Path]:
    """A destination already holding a read-only, hand-tuned file of one installed name."""
    dest = tmp_path / "configs"
    dest.mkdir()
    mine = dest / _sources(site_data)[2].name
    mine.write_text('{"1": {"BLOCK_SIZE_M": 16}}\n')
    mine.chmod(0o444)
    return dest, mine


def test_a_file_of_other_contents_is_not_replaced_without_backup(site_data, hand_tuned, capsys):
    dest, mine = hand_tuned
    before = _contents(dest)
    assert _install(site_data, dest) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and mine.name in err[0] and "--backup" in err[0], err
    assert _contents(dest) == before  # nothing written, the hand-tuned file untouched


def test_backup_replaces_and_keeps_a_copy_and_says_so(site_data, hand_tuned, capsys):
    dest, mine = hand_tuned
    original = mine.read_bytes()
    assert _install(site_data, dest, "--backup") == 0
    out = capsys.readouterr().out
    (copy,) = [p for p in dest.iterdir() if p.name.startswith(f"{mine.name}.bak-")]
    assert copy.read_bytes() == original
    assert f"the file it held is kept as {copy}" in out
    for src in _sources(site_data):
        assert (dest / src.name).read_bytes() == src.read_bytes()


def test_files_that_already_hold_the_same_configs_are_left_as_they_are(site_data, tmp_path):
    dest = tmp_path / "configs"
    assert _install(site_data, dest) == 0
    stamps = {p: p.stat().st_mtime_ns for p in dest.iterdir()}
    assert _install(site_data, dest) == 0  # no --backup needed: nothing would be replaced
    assert {p: p.stat().st_mtime_ns for p in dest.iterdir()} == stamps


@pytest.mark.parametrize("backup", [False, True])
def test_a_write_that_fails_midway_leaves_the_destination_as_it_was(
    site_data, hand_tuned, monkeypatch, capsys, backup
):
    """The disk fills at the third file: before, two of six were installed."""
    dest, mine = hand_tuned
    if not backup:
        mine.chmod(0o644)
        mine.unlink()
    before = _contents(dest)
    real_replace = os.replace
    calls = []

    def full_disk(src, dst, *a, **k):
        if Path(dst).parent == dest and not Path(dst).name.startswith("."):
            calls.append(dst)
            if len(calls) == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", full_disk)
    code = _install(site_data, dest, *(["--backup"] if backup else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert "nothing installed" in err[0]
    assert _contents(dest) == before  # every file as it was: no new one, no temporary one


def _edit_first(site_data: Path, change) -> Path:
    path = _sources(site_data)[0]
    raw = json.loads(path.read_text())
    path.write_text(json.dumps(change(raw), indent=4))
    return path


@pytest.mark.parametrize(
    "change, says",
    [
        # vLLM's loader runs int(key): "x16" raises there, at the engine's startup
        (lambda raw: {("x16" if k == "16" else k): v for k, v in raw.items()}, "batch sizes"),
        # a config still in range, but not the winner of its tuning record
        (
            lambda raw: {**raw, "16": {**raw["16"], "num_stages": raw["16"]["num_stages"] + 1}},
            "differs from the winners of its tuning records",
        ),
    ],
)
def test_only_what_validate_accepts_is_installed(site_data, tmp_path, capsys, change, says):
    path = _edit_first(site_data, change)
    dest = tmp_path / "configs"
    assert _install(site_data, dest) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith(str(path)) and says in line for line in err), err
    assert err[-1].startswith("error: ") and "nothing installed" in err[-1], err
    assert not dest.exists() or not any(dest.iterdir())
