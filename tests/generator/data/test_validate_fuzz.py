"""``validate`` is the one gate: it never raises, and the site renders whatever it accepts.

A small fuzzer, seeded: each case takes a copy of a valid synthetic tree, mutates one file
(one value replaced with a hostile one, a key removed or renamed, a list entry doubled, the
file cut, nested absurdly deep or renamed) and asserts that ``validate_tree`` returns (one
problem per line, no exception) and that, when it reports nothing, the catalog loads and every
page renders. The values are the kinds the probes of issue 24 found (non-integer batch keys,
absurd nesting and integers, a file name with an unknown dtype, dates without a time zone,
model ids with markup) and their neighbours.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.data.validate import validate_tree
from tests.conftest import SESSION_SEED
from tests.fixtures.make_synthetic import write_catalog

CASES = 80
DEV = "SYNTHETIC_GPU_A"

HOSTILE: list[Any] = [
    None,
    True,
    -1,
    0,
    2**31,
    2**63 - 1,
    2**70,
    1e308,
    float("inf"),
    float("nan"),
    "",
    "1.5",
    " 16",
    "<script>alert(1)</script>",
    "it's",
    "red; position: fixed; inset: 0",
    "2025-01-01T00:00:00",
    "x" * 5000,
    [],
    {},
    [1, [2, [3]]],
    {"BLOCK_SIZE_M": 16},
]
KEYS = ["1.5", " 16", "<b>", "", "0", "-1", "9" * 30]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "site_data"
    write_catalog(root, n_devices=1, n_models=1, mla=False)
    assert validate_tree(root).ok
    return root


def _nodes(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value in ``obj`` (keys and indices), the root excluded."""
    out = []
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj[:3])  # a few rows stand for all of them
    else:
        return out
    for key, value in items:
        out.append((*path, key))
        out += _nodes(value, (*path, key))
    return out


def _parent(obj: Any, path: tuple) -> Any:
    for key in path[:-1]:
        obj = obj[key]
    return obj


def _mutate_value(raw: Any, rng: random.Random) -> str:
    nodes = _nodes(raw)
    if not nodes:
        return "nothing to mutate"
    path = rng.choice(nodes)
    parent, last = _parent(raw, path), path[-1]
    action = rng.choice(["replace", "replace", "replace", "delete", "rename", "double"])
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = parent.pop(last)
    elif action == "double" and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[last])))
    else:
        action = "replace"
        parent[last] = json.loads(json.dumps(rng.choice(HOSTILE)))  # a copy
    return f"{action} {'.'.join(map(str, path))}"


def _mutate_file(path: Path, rng: random.Random) -> str:
    action = rng.choice(["cut", "deep", "rename"])
    if action == "cut":
        text = path.read_text()
        path.write_text(text[: rng.randrange(len(text))])
    elif action == "deep":
        path.write_text("[" * 50_000 + "]" * 50_000)
    else:
        name = path.name
        for old, new in (("bfloat16", "float64"), ("fp8_w8a8", "a16w8_fp8"), ("model", "m<b>")):
            name = name.replace(old, new)
        path.rename(path.with_name(name if name != path.name else f"x{name}"))
    return f"{action} the file"


def _mutate(root: Path, rng: random.Random) -> str:
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    target = rng.choice(files)
    if rng.random() < 0.15:
        return f"{target.relative_to(root)}: {_mutate_file(target, rng)}"
    raw = json.loads(target.read_text())
    what = _mutate_value(raw, rng)
    target.write_text(json.dumps(raw))  # NaN and Infinity written as JSON allows in Python
    return f"{target.relative_to(root)}: {what}"


@pytest.mark.parametrize("case", range(CASES))
def test_validate_never_raises_and_the_site_renders_what_it_accepts(case, pristine, tmp_path):
    from generator.site.catalog import load_catalog
    from generator.site.render import render_site

    rng = random.Random(SESSION_SEED * 1000 + case)
    root = tmp_path / "site_data"
    shutil.copytree(pristine, root)
    what = _mutate(root, rng)
    result = validate_tree(root)  # never raises
    for problem in result.problems:
        assert "\n" not in str(problem), (what, str(problem))
    if result.problems:
        return
    render_site(load_catalog(root), use_directory_urls=True)  # accepted: renders, no error
