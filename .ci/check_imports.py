#!/usr/bin/env python3
"""Check that the packages import one way: no circle, no arrow back up a layer.

The layers, lowest first (a module may import its own package and any lower layer):

    generator.errors              one-line user errors, used everywhere
    kernels                       Triton kernels, quantization, fp32 references
    generator.configs             config keys, search spaces, engine file formats (torch-free)
    generator.data                records, site_data layout, models, shipped files, lookups
    generator.measure             timing and ceilings: how the GPU is measured
    generator.tune | .bench       the tuner and the benchmark (peers: neither imports the other)
    generator.site                the catalog (pages, bundles, install-configs)
    generator.cli, __main__, ...  entry points

Every import counts, at module level or inside a function: an import moved into a function
still runs, so it still closes a circle. Circles are looked for between modules, across and
inside packages. Exit code 1 with one line per problem; 0 and one summary line when clean.

Usage: python .ci/check_imports.py [ROOT]   (ROOT: the repository, default: this file's parent)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGES = ("kernels", "generator")
# (layer name, rank, module prefixes): a module belongs to the longest prefix that matches it
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("errors", 0, ("generator.errors",)),
    ("kernels", 1, ("kernels",)),
    ("configs", 2, ("generator.configs",)),
    ("data", 3, ("generator.data",)),
    ("measure", 4, ("generator.measure",)),
    ("tune", 5, ("generator.tune",)),
    ("bench", 5, ("generator.bench",)),
    ("site", 6, ("generator.site",)),
    ("entry", 7, ("generator.cli", "generator.__main__", "generator.install_check", "generator")),
)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> tuple[str, int]:
    best: tuple[int, str, int] | None = None
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), name, rank)
    if best is None:
        raise ValueError(f"{module}: in no layer")
    return best[1], best[2]


def imported_modules(module: str, path: Path, known: set[str]) -> Iterable[tuple[str, int]]:
    """(imported module of the project, line) for every import statement in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one
            targets = [
                f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a package attribute
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] in PACKAGES:
                yield target, node.lineno


def parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first: those are imports too."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def check(root: Path) -> tuple[list[str], int, int]:
    """Problems (one line each), module count and edge count."""
    files = {
        module_name(root, p): p
        for pkg in PACKAGES
        for p in sorted((root / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    }
    known = set(files)
    problems: list[str] = []
    edges: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        src_layer, src_rank = layer_of(module)
        for target, line in sorted(set(imported_modules(module, path, known))):
            if target == module:
                continue
            edges[module].add(target)
            dst_layer, dst_rank = layer_of(target)
            if dst_layer == src_layer:
                continue
            what = f"{path.relative_to(root)}:{line}: {module} ({src_layer}) imports {target}"
            if dst_rank > src_rank:
                problems.append(f"{what} ({dst_layer}), a higher layer")
            elif dst_rank == src_rank:
                problems.append(f"{what} ({dst_layer}), a peer layer")
    for component, cycle in cycles(edges):
        problems.append(
            f"import circle among {len(component)} modules ({', '.join(component)}): "
            + " -> ".join([*cycle, cycle[0]])
        )
    return problems, len(files), sum(len(v) for v in edges.values())


def cycles(edges: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Each strongly connected component of more than one module (Tarjan) with one circle
    through it, so the message names modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[list[str], list[str]]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append((sorted(component), path_through(sorted(component), edges)))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def path_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A circle inside ``component``: from its first module, follow imports that stay inside
    until a module repeats."""
    inside = set(component)
    path = [component[0]]
    seen = {component[0]: 0}
    while True:
        nxt = sorted(w for w in edges[path[-1]] if w in inside)[0]
        if nxt in seen:
            return path[seen[nxt] :]
        seen[nxt] = len(path)
        path.append(nxt)


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parents[1]
    problems, modules, n_edges = check(root)
    for line in problems:
        print(line)
    if problems:
        print(f"check_imports: {len(problems)} problem(s) in {modules} modules")
        return 1
    ranks: dict[int, list[str]] = {}
    for name, rank, _ in LAYERS:
        ranks.setdefault(rank, []).append(name)
    order = " < ".join(" | ".join(names) for _, names in sorted(ranks.items()))
    print(f"check_imports: {modules} modules, {n_edges} imports, one way ({order})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
