"""The benchmark's providers, in one immutable registry, as tritonbench keeps them.

Why a registry: every sweep must run every provider on the same inputs and treat them alike; the
benchmark only loops over it, there is no ``if provider == ...`` anywhere. It is built once from
the families' lists (:data:`generator.bench.providers.PROVIDERS`, in the catalog's display
order) and never changes at run time: a sweep is handed the providers it runs, so a test runs a
deliberately broken provider by passing it, not by registering it in a global.

This module is also the bench's public face for what a caller needs beside the providers: the
value types (:mod:`generator.bench.provider`) and the per-run context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from generator.bench.context import BenchContext
from generator.bench.problem import Kind, Problem
from generator.bench.provider import Compute, Prepared, Provider, Requirement, Unsupported
from generator.bench.providers import PROVIDERS as FAMILIES
from generator.errors import UserError

__all__ = [
    "PROVIDERS",
    "BenchContext",
    "Compute",
    "Kind",
    "Prepared",
    "Problem",
    "Provider",
    "Requirement",
    "Unsupported",
    "all_providers",
    "by_name",
    "get",
    "select",
]


def by_name(providers: Sequence[Provider]) -> dict[str, Provider]:
    """Name -> provider, in order; a second provider with a name already taken is an error,
    never an overwrite (a bench file's rows are keyed by provider name)."""
    out: dict[str, Provider] = {}
    for p in providers:
        if p.name in out:
            raise ValueError(f"provider '{p.name}' is already registered")
        out[p.name] = p
    return out


_BY_NAME = by_name(FAMILIES)
PROVIDERS: tuple[Provider, ...] = tuple(_BY_NAME.values())


def all_providers(kind: Kind | None = None) -> list[Provider]:
    """The providers in registration order, optionally of one kind."""
    return [p for p in PROVIDERS if kind is None or p.kind == kind]


def get(name: str) -> Provider:
    return select([name])[0]


def select(names: Iterable[str] | None) -> list[Provider]:
    """Providers by name (comma-separated entries allowed), in registry order; None = all.

    Unknown names raise a one-line :class:`UserError` listing the known ones.
    """
    if names is None:
        return all_providers()
    wanted = [n.strip() for entry in names for n in entry.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in _BY_NAME]
    if unknown:
        raise UserError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(_BY_NAME)}")
    if not wanted:
        raise UserError(f"no provider named; known: {', '.join(_BY_NAME)}")
    return [p for p in PROVIDERS if p.name in wanted]
