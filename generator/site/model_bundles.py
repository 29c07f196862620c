"""Per-model bundles: one zip per (device, model, TP, engine) with only that model's files.

Why apart from the device bundle (:mod:`generator.site.bundles`): a user serving one model at one
TP size wants exactly its files under the names the engine loads, and to know which file serves
which layer, whether the engine release already ships a file of that name (copying over replaces
it), which tuning run produced each file, and what it gained; the device bundle holds every file
of the GPU. Names go through the same checks as every bundled name
(:func:`generator.site.bundles.sanitize_name`) and the zip is reproducible like the device's.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from generator.data import layout
from generator.data.records import SiteDataError
from generator.site.bundles import sanitize_name

_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BundleEntry:
    """One config file of a bundle, with what its manifest says about it."""

    folder: str  # a framework folder: "vllm", "sglang", "a16w8"
    name: str  # the exact file name the framework loads
    data: bytes
    about: dict[str, Any]  # manifest fields: the layers it serves, its provenance, ...

    @property
    def path(self) -> str:
        return f"{self.folder}/{sanitize_name(self.name)}"


def _entry(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def zip_bundle(entries: list[BundleEntry], readme: str, manifest: dict[str, Any]) -> bytes:
    """A reproducible zip of ``entries`` plus ``README.txt`` and ``manifest.json``.

    The manifest is ``manifest`` with a ``files`` list: every entry's path, sha256, size and
    ``about``, then the README's."""
    for e in entries:
        if e.folder not in layout.CONFIG_FOLDERS:
            raise SiteDataError(f"{e.name}: unknown bundle folder {e.folder!r}")
    files = [(e.path, e.data, e.about) for e in entries]
    files.append(("README.txt", readme.encode(), {}))
    listed = [
        {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **about}
        for path, data, about in files
    ]
    body = {**manifest, "files": listed}
    files.append(("manifest.json", (json.dumps(body, indent=1) + "\n").encode(), {}))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data, _ in files:
            _entry(zf, path, data)
    return buf.getvalue()
