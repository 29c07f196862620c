"""The torch-free copy of the registry's provider metadata is the registry's (issue 24).

``validate`` and the site read provider metadata from ``generator/data/providers.json``, not
from bench files; this keeps it equal to :mod:`generator.bench.registry`, and each declared
output dtype equal to what the provider returns (the bound its rows are judged by).
"""

from __future__ import annotations

import pytest
import torch

from generator.bench import registry as pv
from generator.bench import requirements
from generator.bench.snapshot import snapshot_text
from generator.data.provider_registry import SNAPSHOT, registered


def test_the_snapshot_is_the_registry():
    assert SNAPSHOT.read_text(encoding="utf-8") == snapshot_text(), (
        "the providers changed: run `python -m generator.bench.snapshot` and commit "
        "generator/data/providers.json"
    )
    assert list(registered()) == [p.name for p in pv.PROVIDERS]
    assert all(registered()[p.name] == p.info for p in pv.PROVIDERS)


def _runnable() -> list[pv.Provider]:
    ctx = pv.BenchContext(device=torch.device("cpu"), out_dtype=torch.float16)
    return [p for p in pv.PROVIDERS if requirements.unmet(p, ctx) is None]


@pytest.mark.parametrize("provider", _runnable(), ids=lambda p: p.name)
def test_the_declared_output_dtype_is_the_one_returned(provider, device):
    """A float16 run: a provider that declares no output dtype returns float16; one that
    declares one (the bf16 providers) returns that, whatever ``--out-dtype`` says."""
    ctx = pv.BenchContext(device=torch.device(device), out_dtype=torch.float16)
    if provider.kind == pv.Kind.BATCHED:
        problem = pv.Problem(M=4, N=128, K=128, B=2, kind=pv.Kind.BATCHED)
    else:
        problem = pv.Problem(M=4, N=128, K=256)
    ctx.start(problem)
    try:
        out = provider.setup(problem, ctx).calls[0]()
    except pv.Unsupported as exc:
        pytest.skip(f"{provider.name}: {exc}")
    declared = provider.info.output_dtype or "float16"
    assert str(out.dtype).removeprefix("torch.") == declared
