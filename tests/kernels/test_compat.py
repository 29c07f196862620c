"""The Triton version contract: one declared range, probes instead of version checks, and the
install check that keeps a GPU machine's torch/triton only when they are inside the range."""

from __future__ import annotations

from pathlib import Path

import pytest
import triton

from generator import install_check
from kernels import compat

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict:
    return install_check.declared_requirements((ROOT / "pyproject.toml").read_text())


def test_pyproject_and_compat_state_the_same_triton_range():
    spec = _declared()["triton"].specifier
    assert set(str(s) for s in spec) == set(compat.SUPPORTED_TRITON)
    for version, inside in [
        ("3.5.1", False),
        ("3.6.0", True),
        ("3.7.1", True),
        ("3.9.0", True),
        ("3.10.0", False),
    ]:
        assert spec.contains(version) is inside
        assert compat.triton_in_supported_range(version) is inside


def test_installed_triton_is_inside_the_range():
    assert compat.triton_in_supported_range(triton.__version__), triton.__version__


def test_tma_copies_resolve_to_the_name_this_triton_offers():
    from triton.experimental.gluon.language.nvidia.hopper import tma

    new = getattr(tma, "async_load", None)
    expected = new if new is not None else tma.async_copy_global_to_shared
    assert compat.tma_async_load is expected
    store = getattr(tma, "async_store", None)
    assert compat.tma_async_store is (
        store if store is not None else tma.async_copy_shared_to_global
    )


def test_gluon_and_offline_build_are_available_across_the_range():
    assert compat.gluon_problem() is None
    assert compat.offline_build_problem() is None


def test_missing_api_is_one_line_naming_it(monkeypatch):
    compat.gluon_problem.cache_clear()
    monkeypatch.setattr(compat, "tma_async_load", None)
    try:
        problem = compat.gluon_problem()
        assert problem is not None and "Hopper TMA load" in problem and "\n" not in problem
    finally:
        compat.gluon_problem.cache_clear()


def test_interpreter_problem_names_the_numpy_bound():
    problem = compat.interpreter_problem("2.4.0")
    if compat.TRITON_VERSION.startswith("3.6."):
        assert problem is not None and "numpy < 2.4" in problem
    else:
        assert problem is None
    assert compat.interpreter_problem("2.2.6") is None


@pytest.mark.parametrize(
    "installed, code, words",
    [
        ({"torch": "2.11.0+cu130", "triton": "3.6.0"}, 0, "keeping the installed torch 2.11.0"),
        ({"torch": "2.13.0", "triton": "3.9.0"}, 0, "triton 3.9.0"),
        ({"torch": "2.11.0", "triton": "3.5.1"}, 2, "triton 3.5.1 (supported: "),
        ({"torch": "2.11.0", "triton": "3.10.0"}, 2, "outside the supported range"),
        ({"torch": "2.4.0", "triton": "3.6.0"}, 2, "torch 2.4.0"),
        ({"torch": None, "triton": None}, 1, "torch is not installed"),
    ],
)
def test_install_check_keeps_only_supported_stacks(installed, code, words):
    got_code, line = install_check.check(installed, _declared())
    assert got_code == code
    assert words in line and "\n" not in line
