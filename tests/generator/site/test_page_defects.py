"""What a first-time reader of the catalog ran into (issue 23, item 4), each checked on a built
synthetic catalog or on the modules that compute what the pages say: one config folder per
engine (the one its loader opens), charts whose providers can be told apart, captions that name
the statistic the number is, stand-ins said as such, provider lists that can be read back,
providers called installed only where a file of theirs is, and an MLA page about this GPU.
(The first table column staying in view on a phone is a browser check: test_site_browser.py.)"""

from __future__ import annotations

import html
import json
import re
import zipfile
from pathlib import Path

import pytest

from generator.data import dispatch
from generator.site import engines
from tests.fixtures.make_synthetic import write_catalog
from tests.fixtures.sitebuild import mkdocs_build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("defects")
    write_catalog(root / "site_data", n_devices=3, n_models=3)
    result = mkdocs_build(root / "site_data", root / "site")
    assert result.returncode == 0, result.stderr
    return root / "site_data", root / "site"


def _texts(site: Path) -> dict[str, str]:
    """Every page and every README of every zip the site serves, by path."""
    out = {str(p.relative_to(site)): html.unescape(p.read_text()) for p in site.rglob("*.html")}
    for z in site.rglob("*.zip"):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                if name.endswith("README.txt"):
                    out[f"{z.relative_to(site)}:{name}"] = zf.read(name).decode()
    return out


# a folder inside the sglang package that ends in "configs" (path segments without dots, so a
# GitHub URL's "sglang/tree/v0.5.23/..." is passed over)
_SGLANG_FOLDER = re.compile(r"(?<![\w-])sglang/((?:\w+/)*?configs)\b")


def test_sglang_config_folder_is_the_one_its_loader_opens(built: tuple[Path, Path]) -> None:
    """SGLang 0.5.23's get_w8a8_block_fp8_configs (sglang/kernels/ops/gemm/fp8_kernel.py of
    the wheel) opens ``configs/`` beside itself and nothing else: every page, bundle README and
    the installer's help name that one folder, the one the dispatch rules name."""
    _, site = built
    rules = dispatch.engine_rules("sglang", "0.5.23").backends["triton"].kernel
    (from_rules,) = set(_SGLANG_FOLDER.findall(rules))
    sglang = engines.engine("sglang")
    assert sglang.folder == from_rules == "kernels/ops/gemm/configs"
    assert sglang.loader == ("sglang/kernels/ops/gemm/fp8_kernel.py", "get_w8a8_block_fp8_configs")
    seen: dict[str, set[str]] = {}
    for where, text in _texts(site).items():
        for folder in _SGLANG_FOLDER.findall(text):
            seen.setdefault(folder, set()).add(where)
    assert set(seen) == {from_rules}, {f: sorted(w)[:3] for f, w in seen.items()}
    # named on every model page's install card, on the installing page, in every SGLang README
    texts = _texts(site)
    assert "sglang/kernels/ops/gemm/configs/" in texts["installing.html"]
    readmes = [t for w, t in texts.items() if w.endswith("-sglang-configs.zip:README.txt")]
    assert readmes and all("sglang/kernels/ops/gemm/configs/" in t for t in readmes)


def test_no_page_sends_block_fp8_files_to_a_folder_vllm_does_not_read(
    built: tuple[Path, Path],
) -> None:
    """vLLM 0.33.0 reads VLLM_TUNED_CONFIG_FOLDER for fused-MoE, Mamba and LoRA configs only
    (vllm/envs.py); its block-FP8 loader opens its own configs/ folder."""
    _, site = built
    for where, text in _texts(site).items():
        assert "VLLM_TUNED_CONFIG_FOLDER" not in text, where
    assert engines.engine("vllm").folder == "model_executor/layers/quantization/utils/configs"


def test_installer_help_names_the_same_folders() -> None:
    import argparse

    from generator.site import install_cli

    parser = argparse.ArgumentParser()
    install_cli.add_parser(parser.add_subparsers(), "install-configs")
    text = parser._subparsers._group_actions[0].choices["install-configs"].description  # type: ignore[union-attr]
    assert "<site-packages>/sglang/kernels/ops/gemm/configs/" in text
    assert "<site-packages>/vllm/model_executor/layers/quantization/utils/configs/" in text
    assert set(_SGLANG_FOLDER.findall(text)) == {"kernels/ops/gemm/configs"}
