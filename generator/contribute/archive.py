"""The one file a contributor sends, and the maintainer's side of it.

The archive (``.tar.gz``) holds ``CONTRIBUTION.json`` (:mod:`.summary`) and the device folder
as it sits under ``site_data``: ``devices/<device>/...`` (device.json, tuning/, configs/,
bench/, checks/), nothing else. It is written to a temp file and renamed, so an interrupted
run leaves no half archive; owner names are left out.

:func:`unpack_archive` takes one from a stranger: only regular files and folders, only under
``devices/<one device>/`` or the summary, no absolute paths, no ``..``, bounded sizes; the
summary must name that device and device.json a contributor. It is extracted into a staging
tree beside the bundled models and validated there (``generator.data.validate``); only then is
the folder moved into ``site_data/devices/`` in one rename. Anything wrong: nothing is written.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from generator.contribute.summary import SUMMARY_FILE
from generator.data import layout
from generator.data.records import DeviceFile, load
from generator.data.validate import Validation, validate_tree
from generator.errors import UserError

MAX_MEMBER_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 1024 * 2**20
MAX_MEMBERS = 100_000
_SAFE_PART = re.compile(r"^[A-Za-z0-9._=,\[\] +-]+$")  # config file names hold = , [ ] and a space


def archive_name(device: str) -> str:
    return f"blockgemm-contribution-{device}.tar.gz"


def stage_device(site_data: Path, device: str, dest: Path) -> Path:
    """A tree at ``dest`` with the bundled models and this device's folder (no lock file):
    exactly what a maintainer's tree will hold for this device, for ``validate``."""
    src = layout.device_dir(site_data, device)
    if not src.is_dir():
        raise UserError(f"{src}: no device folder to send (nothing was measured)")
    models = layout.models_dir(site_data)
    if models.is_dir():
        shutil.copytree(models, layout.models_dir(dest))
    shutil.copytree(
        src, layout.device_dir(dest, device), ignore=shutil.ignore_patterns(layout.LOCK_FILE)
    )
    return dest


def write_archive(staged: Path, device: str, summary: dict[str, Any], dest: Path) -> Path:
    """Write the archive of ``staged``'s device folder and the summary to ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            data = (json.dumps(summary, indent=2) + "\n").encode()
            info = tarfile.TarInfo(SUMMARY_FILE)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
            root = layout.device_dir(staged, device)
            for path in [root, *sorted(root.rglob("*"))]:
                name = str(PurePosixPath(layout.DEVICES, device, *path.relative_to(root).parts))
                tar.add(path, arcname=name, recursive=False, filter=_anonymous)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _check_members(tar: tarfile.TarFile, archive: Path) -> tuple[str, list[tarfile.TarInfo]]:
    """The device the archive holds and its members, or a one-line UserError."""
    members = tar.getmembers()
    if len(members) > MAX_MEMBERS:
        raise UserError(f"{archive}: {len(members)} entries; at most {MAX_MEMBERS}")
    devices: set[str] = set()
    total = 0
    for m in members:
        parts = PurePosixPath(m.name).parts
        if m.name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise UserError(f"{archive}: entry '{m.name}' is not a plain relative path")
        if not (m.isfile() or m.isdir()):
            raise UserError(f"{archive}: entry '{m.name}' is not a regular file or folder")
        if not all(_SAFE_PART.match(p) for p in parts):
            raise UserError(f"{archive}: entry '{m.name}' has characters a catalog file has not")
        if m.size > MAX_MEMBER_BYTES:
            raise UserError(f"{archive}: entry '{m.name}' is larger than {MAX_MEMBER_BYTES} bytes")
        total += m.size
        if m.name == SUMMARY_FILE:
            continue
        if len(parts) < 2 or parts[0] != layout.DEVICES:
            raise UserError(f"{archive}: entry '{m.name}' is outside devices/<device>/")
        devices.add(parts[1])
    if total > MAX_TOTAL_BYTES:
        raise UserError(f"{archive}: {total} bytes unpacked; at most {MAX_TOTAL_BYTES}")
    if len(devices) != 1:
        raise UserError(f"{archive}: holds {len(devices)} device folders; a contribution is one")
    if SUMMARY_FILE not in {m.name for m in members}:
        raise UserError(f"{archive}: no {SUMMARY_FILE} (not written by `blockgemm contribute`)")
    return devices.pop(), members


def read_summary(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    fh = tar.extractfile(SUMMARY_FILE)
    try:
        summary = json.loads(fh.read().decode("utf-8")) if fh else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{archive}: {SUMMARY_FILE} is not JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise UserError(f"{archive}: {SUMMARY_FILE} is not an object")
    return summary


def unpack_archive(
    archive: Path, site_data: Path, replace: bool = False
) -> tuple[str, dict[str, Any], Validation]:
    """Check, validate and add the archive's device folder to ``site_data``; returns the device,
    the summary and the validation. Refused whole (UserError, nothing written) when anything is
    wrong; a validation with problems is returned unapplied for the caller to report."""
    archive, site_data = Path(archive), Path(site_data)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise UserError(f"{archive}: not a readable .tar.gz ({exc})") from None
    with tar:
        device, members = _check_members(tar, archive)
        summary = read_summary(tar, archive)
        if summary.get("device") != device:
            raise UserError(
                f"{archive}: {SUMMARY_FILE} names device {summary.get('device')!r}, the archive "
                f"holds {device}"
            )
        target = layout.device_dir(site_data, device)
        if target.exists() and not replace:
            raise UserError(f"{target}: exists; --replace to replace it with the contribution")
        layout.devices_dir(site_data).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=layout.devices_dir(site_data), prefix=".unpack-") as t:
            staged = Path(t)
            for m in members:
                if m.name == SUMMARY_FILE:
                    continue
                out = staged.joinpath(*PurePosixPath(m.name).parts)
                if m.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                out.write_bytes(src.read() if src else b"")
            if layout.models_dir(site_data).is_dir():
                shutil.copytree(layout.models_dir(site_data), layout.models_dir(staged))
            device_json = layout.device_file(staged, device)
            if not device_json.is_file():
                raise UserError(f"{archive}: no devices/{device}/{layout.DEVICE_FILE}")
            validation = validate_tree(staged)
            if not validation.ok:
                return device, summary, validation
            contributor = load(device_json, DeviceFile).contributed_by
            if not contributor or contributor != summary.get("contributed_by"):
                raise UserError(
                    f"{archive}: device.json's contributed_by ({contributor!r}) is not the "
                    f"summary's ({summary.get('contributed_by')!r}): not a contributed device"
                )
            _move_into_place(layout.device_dir(staged, device), target)
    return device, summary, validation


def _move_into_place(src: Path, target: Path) -> None:
    """Rename ``src`` to ``target``; an existing target is swapped out and removed after."""
    old = target.with_name(f".{target.name}.replaced")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(src, target)
    shutil.rmtree(old, ignore_errors=True)
