"""Is the torch / Triton already installed inside the range this project supports?

Run by ``make install`` on a machine with a GPU *before* anything is installed, by path
(``python generator/install_check.py``), so it imports nothing of the project and nothing that
may be missing: only the standard library and pip's vendored ``packaging``. The range is read
from ``pyproject.toml`` (the one place it is written; ``kernels.compat`` is tested against it).

Prints one line and exits 0 when the installed versions are inside the range (``make install``
then keeps them), 1 when torch is not installed yet (pip may choose), 2 when one is outside
the range (nothing is changed: replacing a serving stack's torch is the user's decision).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare venv: pip always carries it
    from pip._vendor.packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
GUARDED = ("torch", "triton")


def declared_requirements(text: str) -> dict[str, Requirement]:
    """The ``dependencies`` entries of pyproject.toml for the guarded packages."""
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)
    if block is None:
        raise ValueError("pyproject.toml has no dependencies list")
    found = {}
    for quoted in re.findall(r'"([^"]+)"', block.group(1)):
        req = Requirement(quoted)
        if req.name in GUARDED:
            found[req.name] = req
    return found


def check(installed: dict[str, str | None], declared: dict[str, Requirement]) -> tuple[int, str]:
    """(exit code, the one line to print) for the installed versions (None: not installed)."""
    if installed.get("torch") is None:
        return 1, "install: torch is not installed; pip will pick one inside the supported range"
    outside = []
    for name, req in declared.items():
        version = installed.get(name)
        if version is not None and not req.specifier.contains(version, prereleases=True):
            outside.append(f"{name} {version} (supported: {req.specifier})")
    kept = ", ".join(f"{n} {installed[n]}" for n in GUARDED if installed.get(n))
    if outside:
        return 2, (
            f"install: {'; '.join(outside)} is outside the supported range; nothing was "
            "changed (install a supported torch/triton, or see README 'Supported versions')"
        )
    return 0, f"install: keeping the installed {kept} (inside the supported range)"


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    declared = declared_requirements(PYPROJECT.read_text(encoding="utf-8"))
    code, line = check({n: _installed(n) for n in GUARDED}, declared)
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
