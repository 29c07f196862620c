"""The import-graph check CI runs (``.ci/check_imports.py``): clean on this tree, and it fails,
naming the modules, on a circle, on an import up a layer, and on one between peer layers, at
module level or inside a function."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location(
        "check_imports", REPO / ".ci" / "check_imports.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in ("kernels", "generator", "generator/data", "generator/bench", "generator/tune"):
        init = root / pkg / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.touch()
    return root


def test_this_tree_imports_one_way(checker, capsys):
    assert checker.main(["check_imports", str(REPO)]) == 0
    assert "one way" in capsys.readouterr().out


def test_an_upward_import_inside_a_function_is_caught(checker, tmp_path):
    root = _tree(
        tmp_path,
        {
            "generator/data/lookup.py": "def f():\n    from generator.tune import search\n",
            "generator/tune/search.py": "",
        },
    )
    problems, _, _ = checker.check(root)
    assert problems == [
        "generator/data/lookup.py:2: generator.data.lookup (data) imports "
        "generator.tune.search (tune), a higher layer"
    ]


def test_peers_may_not_import_each_other(checker, tmp_path):
    root = _tree(
        tmp_path,
        {
            "generator/tune/search.py": "from generator.bench.timing import x\n",
            "generator/bench/timing.py": "",
        },
    )
    (problem,) = checker.check(root)[0]
    assert problem.endswith("imports generator.bench.timing (bench), a peer layer")


def test_a_circle_inside_a_package_is_caught(checker, tmp_path):
    root = _tree(
        tmp_path,
        {
            "generator/bench/context.py": "from generator.bench import registry\n",
            "generator/bench/registry.py": (
                "def load():\n    from generator.bench.context import C\n"
            ),
        },
    )
    (problem,) = checker.check(root)[0]
    assert problem.startswith("import circle among 2 modules")
    assert (
        "generator.bench.context -> generator.bench.registry -> generator.bench.context" in problem
    )
