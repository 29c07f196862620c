"""The benchmark providers as the code declares them: the one source of provider metadata.

Why: every bench file stores the metadata of its providers (:class:`ProviderInfo`), and the
catalog used to learn it from the files, the last one loaded winning. A contributed device's
``square.json`` that redefined ``torch-bf16`` (baseline off) and swapped the config sources of
two providers so changed 90 of 224 figures on *another* device's pages, and ``validate``
passed it. Now the metadata of a registered provider is the registry's, read from its
torch-free snapshot (``providers.json``, written by ``python -m generator.bench.snapshot``
and kept equal to :mod:`generator.bench.registry` by a test); a file may only repeat it:

* what a provider *is* (:data:`MEANING`: kind, scheme, origin, installable, config source,
  quantization timed, baseline, output dtype) must equal the registry's, or ``validate``
  refuses the file (:func:`disagreements`), save the values older runs legitimately
  recorded (:data:`FORMER`);
* how it looks (label, description, dash, symbol) is the registry's wherever shown; a file's
  older wording is ignored; its colour is declared nowhere but the site's one palette
  (``generator.site.providers.PALETTE``, slot = its place in the registry), so that no two
  providers look alike (the ``color`` that files before 2026-12-03 record is dropped when
  read: :class:`ProviderInfo`);
* a provider the registry does not know (a contributed kernel) keeps the metadata its own
  file records, on its own device's pages only (``generator.site.providers``), and can never
  be a baseline or installable: those roles decide every speedup and every bundle.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from generator.data.records import ProviderInfo

SNAPSHOT = Path(__file__).with_name("providers.json")

MEANING = (
    "kind",
    "scheme",
    "origin",
    "installable",
    "config_source",
    "quant_timed",
    "baseline",
    "output_dtype",
)

# Values a registered provider's field held in the files of earlier runs, accepted there:
# the split-K and persistent rows of 2026-11 were measured with one fixed config chosen in lab
# sweeps (lab/fast_kernels.py; each row's config field), before they took the tuner's winner.
FORMER: dict[str, dict[str, tuple[object, ...]]] = {
    "triton-fp8-block-splitk": {"config_source": ("fixed",)},
    "triton-fp8-block-persistent": {"config_source": ("fixed",)},
}
# Fields added to ProviderInfo after files were written: a file may leave them out (None).
ADDED_LATER = ("output_dtype",)


@functools.cache
def registered() -> dict[str, ProviderInfo]:
    """Name -> metadata of every registered provider, in the registry's (display) order."""
    raw = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    infos = [ProviderInfo.model_validate(item) for item in raw]
    return {i.name: i for i in infos}


def disagreements(stored: ProviderInfo) -> list[tuple[str, str]]:
    """(field, rule) for each field of ``stored`` whose meaning differs from the registry's;
    empty for a provider the registry does not know (see :func:`unregistered_problems`)."""
    known = registered().get(stored.name)
    if known is None:
        return []
    out = []
    for field in MEANING:
        have, want = getattr(stored, field), getattr(known, field)
        if have == want or have in FORMER.get(stored.name, {}).get(field, ()):
            continue
        if have is None and field in ADDED_LATER:
            continue
        out.append((field, f"{_shown(have)}, but the registry says {_shown(want)}"))
    return out


def unregistered_problems(stored: ProviderInfo) -> list[tuple[str, str]]:
    """(field, rule) for the roles a provider the registry does not know may not take."""
    if stored.name in registered():
        return []
    out = []
    if stored.baseline:
        out.append(("baseline", "only a registered provider can be the baseline"))
    if stored.installable:
        out.append(("installable", "only a registered provider can be installed by our files"))
    return out


def _shown(value: object) -> str:
    if hasattr(value, "value"):
        value = value.value  # an enum
    return repr(value)
