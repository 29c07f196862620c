"""Which DeepGEMM the benchmark runs, found the way vLLM finds it, and said in one line.

Why a module: the DeepGEMM providers' rows must say which build they timed (the package and its
version, and where it came from), and the requirement check must say in one line why there is
none. vLLM 0.33.0 prefers an installed ``deep_gemm`` package and falls back to the copy in its
wheel, ``vllm.third_party.deep_gemm`` (``_import_deep_gemm`` in ``vllm/utils/deep_gemm.py``);
we look in the same order. ``make deepgemm`` extracts that vendored copy from the pinned vLLM
wheel as a top-level ``deep_gemm`` package and leaves :data:`SOURCE_FILE` inside it, naming the
wheel and its sha256.

:func:`locate` finds it without importing it (the registry builds the providers' metadata at
import time, on machines without a GPU too); :func:`load` imports it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

SOURCE_FILE = "_blockgemm_source.json"  # written into the package by `make deepgemm`
MODULES = ("deep_gemm", "vllm.third_party.deep_gemm")  # vLLM's order
HOW_TO_GET_IT = (
    "run `make deepgemm` and put the unpacked folder on PYTHONPATH (README), or install vLLM"
)
_VERSION = re.compile(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


@dataclass(frozen=True)
class DeepGemmBuild:
    """A DeepGEMM found on this machine (not yet imported)."""

    module: str  # the name to import
    path: Path | None  # the package folder
    version: str | None
    origin: str  # where it came from, one phrase

    def describe(self) -> str:
        """One phrase for the provider's ``library`` field, which rows and pages quote: short,
        and in the characters that field allows (no ';', at most 120)."""
        version = self.version or "(version unknown)"
        return f"deep_gemm {version} {self.origin}, module {self.module}"


def locate() -> DeepGemmBuild | None:
    """The DeepGEMM vLLM would import here, found without importing it; None if there is none."""
    for name in MODULES:
        found = _find(name)
        if found is not None:
            return found
    return None


def load() -> tuple[ModuleType, DeepGemmBuild]:
    """Import the located DeepGEMM; raises ImportError naming what to do when there is none
    (importing it may raise other errors: its extension loads CUDA libraries)."""
    build = locate()
    if build is None:
        raise ImportError(f"no deep_gemm package and no vLLM with one: {HOW_TO_GET_IT}")
    return importlib.import_module(build.module), build


def problem() -> str | None:
    """Why DeepGEMM cannot be used here (one line), or None."""
    try:
        module, _ = load()
    except Exception as exc:  # an extension that fails to load raises anything
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"deep_gemm is not importable ({type(exc).__name__}: {first})"[:300]
    missing = [
        n for n in ("fp8_gemm_nt", "transform_sf_into_required_layout") if not hasattr(module, n)
    ]
    if missing:
        return f"this deep_gemm has no {', '.join(missing)} (DeepGEMM 2.x is needed)"
    return None


def _find(name: str) -> DeepGemmBuild | None:
    loaded = sys.modules.get(name)
    if loaded is not None:  # already imported (or put there by a test)
        file = getattr(loaded, "__file__", None)
        path = Path(file).parent if file else None
        return DeepGemmBuild(name, path, getattr(loaded, "__version__", None), _origin(name, path))
    if name == "deep_gemm":
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations)))
    else:  # vllm.third_party.deep_gemm: find vLLM without importing it (its import is heavy)
        try:
            spec = importlib.util.find_spec("vllm")
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / "third_party" / "deep_gemm"
        if not (path / "__init__.py").is_file():
            return None
    return DeepGemmBuild(name, path, _version_in(path), _origin(name, path))


def _version_in(path: Path) -> str | None:
    try:
        match = _VERSION.search((path / "__init__.py").read_text(encoding="utf-8"))
    except OSError:
        return None
    return match.group(1) if match else None


def _origin(name: str, path: Path | None) -> str:
    if path is not None:
        try:
            source = json.loads((path / SOURCE_FILE).read_text(encoding="utf-8"))
            return f"from {source['wheel']} (sha256 {source['sha256'][:12]})"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    if name == "vllm.third_party.deep_gemm":
        return f"vendored in the installed vLLM {_dist_version('vllm') or ''}".rstrip()
    return "(installed package)"


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
