"""No device's files can change another device's pages (issue 24's integrity probes).

The catalog used to learn provider metadata from every bench file it loaded, the last one
winning: a contributed device's ``square.json`` that turned the bf16 baseline off and swapped
the config sources of the tuned and default providers changed or removed 90 of 224 figures
of another device, and a colour written as a CSS declaration list put an overlay and an
outside request on every device's pages. ``validate`` refuses such files now
(tests/generator/data/test_validate_hardening.py); these tests load them past it, straight
into the catalog, to show the site does not depend on that alone.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from generator.site import providers
from generator.site.catalog import load_catalog
from generator.site.render import render_site
from tests.fixtures.make_synthetic import write_catalog

A, B = "SYNTHETIC_GPU_A", "SYNTHETIC_GPU_B"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("isolation") / "site_data"
    write_catalog(root, n_devices=2, n_models=1, mla=False)
    return root


@pytest.fixture
def tree(pristine, tmp_path) -> Path:
    root = tmp_path / "site_data"
    shutil.copytree(pristine, root)
    return root


def _pages_of(root: Path, device: str) -> dict[str, str]:
    """Every generated page of ``device``: its markdown and its HTML fragments."""
    out = render_site(load_catalog(root), use_directory_urls=True)
    slug = device.lower().replace("_", "-")
    pages = {
        p.src_uri: p.markdown + "".join(p.fragments.values())
        for p in out.pages
        if device in p.src_uri or slug in p.src_uri.lower()
    }
    assert pages, [p.src_uri for p in out.pages]
    return pages


def _plant(root: Path, device: str, change) -> None:
    path = root / "devices" / device / "bench" / "square.json"
    raw = json.loads(path.read_text())
    change(raw["providers"])
    path.write_text(json.dumps(raw))


def _redefine(infos: dict) -> None:
    """The probe's file: the baseline off, two config sources swapped, and metadata for a
    provider the registry does not know, which the other device also has rows of."""
    infos["torch-bf16"]["baseline"] = False
    tuned, default = infos["triton-fp8-block-tuned"], infos["triton-fp8-block-default"]
    tuned["config_source"], default["config_source"] = "default", "tuned"
    infos["mystery-kernel"] = {
        **infos["triton-fp8-block-default"],
        "name": "mystery-kernel",
        "label": "Contributed kernel",
        "config_source": "own",
    }


def test_another_devices_bench_file_leaves_these_pages_as_they_are(tree):
    before = _pages_of(tree, A)
    _plant(tree, B, _redefine)
    after = _pages_of(tree, A)
    assert after.keys() == before.keys()
    changed = [uri for uri in before if before[uri] != after[uri]]
    assert not changed, changed


def test_a_contributed_providers_metadata_is_its_own_devices_only(tree):
    """B records a label for "mystery-kernel"; A's rows of the same name are not B's
    provider: they keep no metadata, and B's rows get B's label under a name of B's."""
    _plant(tree, B, _redefine)
    catalog = load_catalog(tree)
    rows = {d.name: {r.provider for r in d.bench["square"]} for d in catalog.devices}
    assert "mystery-kernel" in rows[A] and "mystery-kernel" not in rows[B]
    (mine,) = [n for n in rows[B] if n.startswith("mystery-kernel")]
    assert mine != "mystery-kernel" and B in mine
    assert providers.style(mine).label == "Contributed kernel"
    assert providers.style("mystery-kernel").label == "mystery-kernel"  # A's: no metadata
    assert providers.style("torch-bf16").is_baseline  # the registry's, whatever B says
    assert providers.style("triton-fp8-block-tuned").config_source == "tuned"


def test_a_contributed_provider_is_never_the_baseline_or_installed(tree):
    def claims(infos: dict) -> None:
        _redefine(infos)
        infos["mystery-kernel"].update(baseline=True, installable=["vllm", "sglang"])

    _plant(tree, B, claims)
    catalog = load_catalog(tree)
    (b,) = [d for d in catalog.devices if d.name == B]
    (mine,) = [r.provider for r in b.bench["square"] if r.provider.startswith("mystery")][:1]
    style = providers.style(mine)
    assert not style.is_baseline and style.installable == []
    assert providers.tuned_fp8({r.provider for r in b.bench["square"]}) == (
        "triton-fp8-block-tuned"
    )


_STYLE_ATTR = re.compile(r'style="([^"]*)"')
_SAFE_STYLE = re.compile(r"^--bg-c: #[0-9a-fA-F]{3,6}; --bg-cd: #[0-9a-fA-F]{3,6}$")


def test_a_colour_cannot_inject_css(tree):
    """A colour a file records (files before 2026-12-03 record one per provider) is dropped
    when read: a CSS declaration list there reaches no style attribute."""
    hostile = "red; position: fixed; inset: 0; background: url(https://x.example/p.png)"

    def paint(infos: dict) -> None:
        infos["mystery-kernel"] = {**infos["torch-bf16"], "name": "mystery-kernel"}
        infos["mystery-kernel"].update(color=hostile, baseline=False)
        infos["torch-bf16"]["color"] = hostile

    _plant(tree, B, paint)
    out = render_site(load_catalog(tree), use_directory_urls=True)
    html = "".join("".join(p.fragments.values()) for p in out.pages)
    assert "position: fixed" not in html and "x.example" not in html
    for style in _STYLE_ATTR.findall(html):
        assert _SAFE_STYLE.match(style), style


@pytest.mark.parametrize(
    "color, shown",
    [
        ("#d62728", "#d62728"),
        ("#abc", "#abc"),
        ("red; position: fixed", "#7f7f7f"),
        ("", "#7f7f7f"),
    ],
)
def test_only_a_hex_colour_reaches_a_style_attribute(color, shown):
    assert providers.css_color(color) == shown


_SPEC = re.compile(r'<script type="application/json">(.*?)</script>', re.S)


def test_no_provider_declares_a_colour_and_the_palette_draws_every_line(tree):
    """A provider's colour has one source, the site's palette: neither the registry's snapshot
    nor the record of a provider has a colour (the one that files before 2026-12-03 record no
    code read), and one recorded, black for bf16 and for a contributed kernel, is dropped: every
    chart draws each provider in its palette colour, no two alike."""
    from generator.data.provider_registry import SNAPSHOT, registered
    from generator.data.records import ProviderInfo

    assert "color" not in ProviderInfo.model_fields
    assert not [i["name"] for i in json.loads(SNAPSHOT.read_text()) if "color" in i]
    assert "color" not in registered()["torch-bf16"].model_dump()

    def paint(infos: dict) -> None:
        _redefine(infos)
        for info in infos.values():
            info["color"] = "#000000"

    _plant(tree, B, paint)
    out = render_site(load_catalog(tree), use_directory_urls=True)
    specs = [
        json.loads(m) for p in out.pages for f in p.fragments.values() for m in _SPEC.findall(f)
    ]
    contributed = 0
    for spec in specs:
        mine = [s for s in spec["series"] if s["key"]]
        for s in mine:
            declared = providers.style(s["key"]).color
            assert declared in providers.PALETTE, s["key"]
            assert s["color"] == providers.legible(declared, providers.LIGHT_BG), s["key"]
            assert s["color_dark"] == providers.legible(declared, providers.DARK_BG), s["key"]
            contributed += s["key"].startswith("mystery-kernel@")
        colours = [s["color"] for s in mine]
        assert len(set(colours)) == len(colours), colours
    assert len(specs) > 5 and contributed > 0
