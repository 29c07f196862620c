"""Test setup: without a CUDA GPU, run the Triton kernels in Triton's CPU interpreter.

``TRITON_INTERPRET`` is read when a kernel is decorated, so it must be set before anything
imports ``kernels``; conftest.py is imported first by pytest.
"""

from __future__ import annotations

import os
import zlib

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Stop with one line where the CPU interpreter is known not to work (every kernel test
    would fail with the same deep error)."""
    from kernels.compat import interpreter_problem

    problem = None if HAS_CUDA else interpreter_problem()
    if problem:
        pytest.exit(problem, returncode=2)


# Small-shape kernel tests run on the GPU when there is one, else in the interpreter.
DEVICE = "cuda" if HAS_CUDA else "cpu"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_gpu)


@pytest.fixture
def device() -> str:
    return DEVICE


# Random data (never zeros) from a fixed seed, so CI runs the same operands every time and a
# failure replays as it happened. BLOCKGEMM_SEED=<int> picks another seed; BLOCKGEMM_SEED=random
# draws one on purpose (printed in the header, so a failure it finds can be replayed).
DEFAULT_SEED = 20261202


def _session_seed(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_SEED
    if value == "random":
        return int.from_bytes(os.urandom(4), "little")
    return int(value)


SESSION_SEED = _session_seed(os.environ.get("BLOCKGEMM_SEED"))


def pytest_report_header(config: pytest.Config) -> str:
    import numpy
    import triton

    mode = "CUDA" if HAS_CUDA else "TRITON_INTERPRET=1 (CPU)"
    return (
        f"blockgemm: kernels on {mode}; torch {torch.__version__}, triton "
        f"{triton.__version__}, numpy {numpy.__version__}; BLOCKGEMM_SEED={SESSION_SEED}"
    )


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> torch.Generator:
    """A generator seeded from the session seed and the test id (random data, never zeros)."""
    g = torch.Generator()
    g.manual_seed((SESSION_SEED * 1000003 + zlib.crc32(request.node.nodeid.encode())) % 2**63)
    return g
