"""Per-device config bundles (zip + manifest) and installing configs into a framework folder.

Why: the point of tuning is that a user drops the files into vLLM or SGLang and stops seeing
"Using default W8A8 Block FP8 kernel config". The files in ``site_data/devices/<dev>/configs/``
already carry the exact names each framework loads; this module only packs them safely:

* every name is checked against the characters those names use (letters, digits, ``=,[]._-``
  and space) and must be a bare file name: no separator, no ``..``, no absolute path, no leading
  dot, so nothing can be written outside the chosen folder, when zipping or when installing;
* the zip is deterministic (sorted entries, fixed timestamps), so an unchanged device gives a
  byte-identical bundle and the site build is reproducible;
* ``manifest.json`` lists the sha256 of every file and, for each config file, where its
  winners were measured (the provenance of the tuning records it is derived from, not the
  device's first run), so a user (and the browser test) can check what they copied;
* a config file is shipped or installed only if it is this device's (its name says so) and
  every config in it is one its kernel can run (:mod:`generator.configs.ranges`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from generator.configs.engine_files import FileFormat, batch_key, file_name, parse_file_name
from generator.configs.kernel_table import PUBLISHER, formats_of
from generator.configs.ranges import config_problems
from generator.data import layout
from generator.data.records import (
    DeviceFile,
    Provenance,
    SiteDataError,
    TuneFile,
    load,
    record_provenance,
)
from generator.errors import UserError
from generator.site.engines import engine
from generator.site.installer import Installed, install_all

R = TypeVar("R", bound=BaseModel)

_ALLOWED = re.compile(r"^[A-Za-z0-9=,\[\]._ -]+$")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)

README = """\
Tuned block-scaled 8-bit GEMM configs for {device}
{underline}

Measured on (the tuning runs whose winners these files hold; manifest.json says which
file comes from which):
{measured}

vllm/    copy into vLLM's config folder ({vllm_as_of}, the only one it loads them from):
           <site-packages>/vllm/{vllm_folder}/
         vLLM looks a file up by name (N, K, device_name, dtype, block_shape) the first
         time its Triton kernel runs a layer of that shape; on Hopper it runs DeepGEMM or
         FlashInfer by default, and the files are read only where Triton is forced.
sglang/  copy into SGLang's config folder ({sglang_as_of}, the only one it loads them from):
           <site-packages>/sglang/{sglang_folder}/
(No A16W8 tables: they tune this project's research kernel, which no engine loads; the
catalog's A16W8 MLA page has its measurements.)

Or let the CLI copy them for you:
  python -m generator install-configs --device {device} --framework vllm --dest <folder>

manifest.json lists every file with its sha256; check with `sha256sum`.
The device name in the file names must equal torch.cuda.get_device_name() with spaces and '/'
replaced by '_'; if your GPU reports another name, the files will not be found.
"""


# The config folders an engine loads (vLLM's, SGLang's): what a bundle holds and the CLI
# installs. Our A16W8 tables tune a research kernel no engine runs (the dispatch rules cover
# no A16W8 scheme, and no engine has a loader for the format): nothing to install.
INSTALLABLE = (FileFormat.VLLM.value, FileFormat.SGLANG.value)


@dataclass(frozen=True)
class ConfigFile:
    """One drop-in config file as read from ``site_data``: read once, so what a page links, a
    bundle packs and a download serves are the same bytes."""

    framework: str  # its folder under configs/ (a FileFormat value)
    name: str  # its bare file name
    path: Path
    data: bytes


@dataclass(frozen=True)
class DeviceBundle:
    """What one device's zip holds, read from ``site_data`` before anything is rendered."""

    device: str  # the device folder's name
    device_file: Provenance  # device.json's: when the folder was first written
    # every config file, with where its winners were measured (oldest first; may be empty)
    files: list[tuple[ConfigFile, list[Provenance]]]


def sanitize_name(name: str, where: Path | None = None) -> str:
    """Return ``name`` if it is a safe bare file name, else raise naming the file.

    Refusing (rather than rewriting) keeps the name exactly what the framework loads: a rewritten
    name would silently never be found."""
    label = str(where) if where is not None else repr(name)
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or ".." in name
        or not _ALLOWED.match(name)
    ):
        raise SiteDataError(f"{label}: unsafe file name {name!r} (only a bare name may be used)")
    return name


def find_device_dir(site_data: Path, device: str) -> Path:
    """The device folder for a name as vLLM spells it or as torch prints it (spaces allowed)."""
    devices = layout.devices_dir(site_data)
    available = sorted(p.name for p in devices.iterdir() if p.is_dir()) if devices.is_dir() else []
    # spelled as vLLM 0.33.0's get_device_name_as_file_name does: each run of whitespace or '/'
    # becomes one '_'
    wanted = re.sub(r"[\s/]+", "_", device.strip())
    for name in available:
        if name.lower() == wanted.lower():
            return layout.device_dir(site_data, name)
    raise UserError(f"unknown device '{device}'; available: {', '.join(available) or '(none)'}")


def config_files(
    site_data: Path, device: str, frameworks: tuple[str, ...] = layout.CONFIG_FOLDERS
) -> list[ConfigFile]:
    """The drop-in files of one device (its folder's name), checked: regular files, safe
    names, valid JSON, this device's and runnable by their kernel."""
    out = []
    for fw in frameworks:
        folder = layout.framework_dir(site_data, device, fw)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                continue  # a write in progress (records.atomic_write_text)
            if path.is_symlink() or not path.is_file():
                raise SiteDataError(f"{path}: not a regular file (symlinks are not bundled)")
            if path.suffix != ".json":
                continue
            name = sanitize_name(path.name, path)
            data = path.read_bytes()
            try:
                table = json.loads(data.decode())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SiteDataError(f"{path}: not valid JSON ({exc})") from None
            _check_table(path, fw, device, table)
            out.append(ConfigFile(fw, name, path, data))
    return out


def _check_table(path: Path, framework: str, device: str, table: object) -> None:
    """Refuse a file that is not this device's or holds a config its kernel cannot run."""
    parsed = parse_file_name(framework, path.name)
    if parsed is None:
        raise SiteDataError(f"{path}: not a file name {framework} loads")
    if parsed.device_name != device:
        raise SiteDataError(f"{path}: a file for {parsed.device_name}, in {device}'s folder")
    if not isinstance(table, dict) or not table:
        raise SiteDataError(f"{path}: field '<root>': expected an object keyed by M")
    kernel = PUBLISHER[FileFormat(framework)]
    for key, cfg in table.items():
        try:
            batch_key(key)  # what every loader reads alike (vLLM: int(key))
        except ValueError:
            raise SiteDataError(
                f"{path}: field '{key}': keys must be batch sizes (positive integers)"
            ) from None
        for problem in config_problems(cfg, kernel, parsed.block[1]):
            raise SiteDataError(f"{path}: field '{key}': {problem}")


def _record(path: Path, model: type[R], loaded: Mapping[Path, BaseModel]) -> R:
    """The record at ``path``: the one the caller has already loaded, else read now."""
    got = loaded.get(path)
    return got if isinstance(got, model) else load(path, model)


def config_sources(
    site_data: Path, device: str, loaded: Mapping[Path, BaseModel] | None = None
) -> dict[tuple[str, str], list[Provenance]]:
    """(framework, file name) -> where the winners of that config file were measured: the
    distinct provenances of the tuning records it is derived from, oldest first.
    ``loaded``: records the caller has already read, by path (not read again)."""
    out: dict[tuple[str, str], list[Provenance]] = {}
    for path in sorted(layout.tuning_dir(site_data, device).glob("*.json")):
        tf = _record(path, TuneFile, loaded or {})
        if tf.exhaustive:
            continue
        provs = [record_provenance(tf, r) for r in tf.records if r.winner and r.winner.config]
        distinct = sorted({p.model_dump_json(): p for p in provs}.values(), key=lambda p: p.date)
        block = (tf.block_n, tf.block_k)
        for fmt in formats_of(tf.kernel):
            try:
                name = file_name(fmt, tf.N, tf.K, device, tf.input_type, block, tf.B)
            except UserError:  # no engine file for this input type
                continue
            out[(fmt.value, name)] = distinct
    return out


def _run_line(p: Provenance) -> str:
    return (
        f"  {p.gpu_name} ({p.gpu_count} GPU), torch {p.torch}, triton {p.triton}, CUDA {p.cuda},"
        f" git {p.git_sha}, {p.date.date().isoformat()}"
    )


def _entry(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def read_device_bundle(
    site_data: Path, device: str, loaded: Mapping[Path, BaseModel] | None = None
) -> DeviceBundle:
    """Everything one device's zip is made of, read and checked (``device``: as
    :func:`find_device_dir` takes it; ``loaded``: records already read, by path)."""
    site_data = Path(site_data)
    name = find_device_dir(site_data, device).name
    fallback = _record(layout.device_file(site_data, name), DeviceFile, loaded or {}).provenance
    sources = config_sources(site_data, name, loaded)
    files = [(f, sources.get((f.framework, f.name), [])) for f in config_files(site_data, name)]
    return DeviceBundle(name, fallback, files)


def build_bundle(site_data: Path, device: str) -> bytes:
    """One device's zip: ``vllm/``, ``sglang/``, ``manifest.json``, ``README.txt`` (the
    installable files only: see :data:`INSTALLABLE`)."""
    return zip_device_bundle(read_device_bundle(site_data, device))


def zip_device_bundle(bundle: DeviceBundle) -> bytes:
    """The zip of what :func:`read_device_bundle` read: made from memory, so the site renders
    it without touching the disk."""
    configs = [
        (f"{f.framework}/{f.name}", f.data, provs)
        for f, provs in bundle.files
        if f.framework in INSTALLABLE
    ]
    fallback = bundle.device_file
    runs = {p.model_dump_json(): p for _, _, provs in configs for p in provs}
    measured = [_run_line(p) for p in sorted(runs.values(), key=lambda p: p.date)]
    if not measured or any(not provs for _, _, provs in configs):
        no_record = f" ({layout.DEVICE_FILE}: files with no tuning record)"
        measured.append(_run_line(fallback) + no_record)
    vllm, sglang = engine(FileFormat.VLLM.value), engine(FileFormat.SGLANG.value)
    readme = README.format(
        vllm_as_of=vllm.as_of,
        vllm_folder=vllm.folder,
        sglang_as_of=sglang.as_of,
        sglang_folder=sglang.folder,
        device=bundle.device,
        underline="=" * (len(bundle.device) + 50),
        measured="\n".join(measured),
    ).encode()
    # (zip path, bytes, the manifest's provenance entry: config files only)
    files: list[tuple[str, bytes, list[dict] | None]] = [
        (path, data, [p.model_dump(mode="json", exclude_none=True) for p in provs])
        for path, data, provs in configs
    ]
    files.append(("README.txt", readme, None))
    manifest = {
        "device": bundle.device,
        "device_file": fallback.model_dump(
            mode="json", exclude_none=True
        ),  # when the folder was first written
        "files": [
            {
                "path": path,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                **({"provenance": provs} if provs is not None else {}),
            }
            for path, data, provs in files
        ],
    }
    files.append(("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode(), None))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data, _ in files:
            _entry(zf, path, data)
    return buf.getvalue()


def install_configs(
    site_data: Path, device: str, framework: str, dest: Path, backup: bool = False
) -> Installed:
    """Copy one device's files for one framework into ``dest`` (created if missing), all or
    none (:func:`generator.site.installer.install_all`).

    A file of the same name with other contents is replaced only with ``backup`` (a copy of
    it is kept beside, and the result lists it); without, nothing is installed."""
    if framework not in INSTALLABLE:
        known = ", ".join(INSTALLABLE)
        why = (
            ": no engine loads the A16W8 tables (research kernel)"
            if framework == FileFormat.A16W8.value
            else ""
        )
        raise UserError(f"unknown framework '{framework}'{why}; one of: {known}")
    site_data = Path(site_data)
    name = find_device_dir(site_data, device).name
    files = config_files(site_data, name, (framework,))
    if not files:
        folder = layout.framework_dir(site_data, name, framework)
        raise UserError(f"{folder}: no {framework} configs for {name}")
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest}: exists and is not a folder")
    return install_all([(f.name, f.data) for f in files], dest, backup)
