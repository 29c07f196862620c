"""Config bundles and install-configs: exact framework file names, manifest hashes, safe names."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from generator import cli
from generator.data.records import SiteDataError
from generator.errors import UserError
from generator.site import bundles
from tests.fixtures.make_synthetic import write_catalog

DEV = "SYNTHETIC_GPU_A"


@pytest.fixture(scope="module")
def site_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundles") / "site_data"
    write_catalog(root, n_devices=1, n_models=2)
    return root


def test_bundle_layout_and_manifest(site_data: Path) -> None:
    data = bundles.build_bundle(site_data, DEV)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["device"] == DEV and manifest["device_file"]["git_sha"] == "synthetic"
    assert {f["path"] for f in manifest["files"]} == set(names) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["path"])).hexdigest() == f["sha256"]
    assert any(n.startswith("vllm/") and n.endswith("block_shape=[128,128].json") for n in names)
    assert any(n.startswith("sglang/") and n.endswith("block_shape=[128, 128].json") for n in names)
    # no engine loads the A16W8 tables: research, not in the zip (review3 item 12)
    assert not any(n.startswith("a16w8/") for n in names) and "README.txt" in names
    for n in names:
        assert not n.startswith("/") and ".." not in n
    assert bundles.build_bundle(site_data, DEV) == data, "bundles must be reproducible"


def test_manifest_and_readme_cite_the_runs_behind_each_file(tmp_path: Path) -> None:
    """Provenance comes from the tuning records a file is derived from, record by record, not
    from device.json (which says when the folder was first written)."""
    root = tmp_path / "site_data"
    write_catalog(root, n_devices=1, n_models=1, mla=False)
    dev = root / "devices" / DEV
    device_json = json.loads((dev / "device.json").read_text())
    device_json["provenance"]["git_sha"] = "first-run"
    (dev / "device.json").write_text(json.dumps(device_json))
    tuning = sorted((dev / "tuning").glob("w8a8_block__fp8__*.json"))[0]
    raw = json.loads(tuning.read_text())
    later = {**raw["provenance"], "git_sha": "later-run", "date": "2026-12-01T00:00:00Z"}
    raw["records"][0]["provenance"] = later
    tuning.write_text(json.dumps(raw))
    zf = zipfile.ZipFile(io.BytesIO(bundles.build_bundle(root, DEV)))
    manifest = json.loads(zf.read("manifest.json"))
    shas = {f["path"]: [p["git_sha"] for p in f.get("provenance", [])] for f in manifest["files"]}
    n, k = raw["N"], raw["K"]
    name = f"N={n},K={k},device_name={DEV},dtype=fp8_w8a8,block_shape=[128,128].json"
    assert shas[f"vllm/{name}"] == ["synthetic", "later-run"]  # oldest first
    assert all("first-run" not in s for s in shas.values())
    readme = zf.read("README.txt").decode()
    assert "git later-run, 2026-12-01" in readme and "git synthetic" in readme
    assert "first-run" not in readme


@pytest.mark.parametrize(
    "name",
    ["../evil.json", "/etc/passwd", "a/b.json", "a\\b.json", ".hidden.json", "x\x00.json", ""],
)
def test_unsafe_names_are_refused(name: str) -> None:
    says = f"{name!r}: unsafe file name {name!r} (only a bare name may be used)"
    with pytest.raises(SiteDataError, match=f"^{re.escape(says)}$"):
        bundles.sanitize_name(name)


def test_framework_names_are_accepted() -> None:
    stem = "N=4608,K=7168,device_name=NVIDIA_H100_80GB_HBM3,dtype=fp8_w8a8"
    for name in (f"{stem},block_shape=[128,128].json", f"{stem},block_shape=[128, 128].json"):
        assert bundles.sanitize_name(name) == name


def test_symlinked_config_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "site_data"
    write_catalog(root, n_devices=1, n_models=1, mla=False)
    (tmp_path / "secret.json").write_text("{}")
    (root / "devices" / DEV / "configs" / "vllm" / "link.json").symlink_to(tmp_path / "secret.json")
    with pytest.raises(SiteDataError, match="link.json"):
        bundles.build_bundle(root, DEV)


def test_install_configs(site_data: Path, tmp_path: Path) -> None:
    written = bundles.install_configs(
        site_data, "synthetic gpu a", "sglang", tmp_path / "out"
    ).written
    src = sorted((site_data / "devices" / DEV / "configs" / "sglang").iterdir())
    assert sorted(p.name for p in written) == [p.name for p in src]
    for p in src:
        assert (tmp_path / "out" / p.name).read_text() == p.read_text()


def test_install_configs_errors(site_data: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown device"):
        bundles.install_configs(site_data, "NO_SUCH_GPU", "vllm", tmp_path)
    with pytest.raises(UserError, match="unknown framework"):
        bundles.install_configs(site_data, DEV, "tensorrt", tmp_path)


def test_cli(
    site_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # only this command: the others' modules (tune, bench) are not needed to test it
    monkeypatch.setattr(cli, "COMMANDS", {"install-configs": "generator.site.install_cli"})
    args = [
        "install-configs",
        "--device",
        DEV,
        "--framework",
        "vllm",
        "--site-data",
        str(site_data),
    ]
    assert cli.main([*args, "--dest", str(tmp_path / "vllm")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert any((tmp_path / "vllm").iterdir())
    bad = [
        "install-configs",
        "--device",
        "NOPE",
        "--framework",
        "vllm",
        "--site-data",
        str(site_data),
    ]
    assert cli.main([*bad, "--dest", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: unknown device")
