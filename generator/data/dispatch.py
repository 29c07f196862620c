"""What a serving engine runs for a block-FP8 linear layer, as data: the engines' dispatch rules.

Why: the catalog's question is "what do I gain over what I run today?", and on Hopper and
Blackwell what an engine runs today is mostly not the Triton kernel our files tune. The rules
are read from the engines' published source (``reference/dispatch_rules.json``, every rule and
every forcing setting citing repository, version, file, function and lines) and kept as data,
so a page, a test or a person asks one function instead of re-deriving them:

* :func:`default_backend` -- which backend an engine version picks on a GPU architecture for a
  (N, K, M, output dtype) layer, with the rule that decided it;
* :func:`force` -- how to make the engine run a backend (and how far that reaches: forcing is
  global to the engine process, never per layer or per batch size);
* :func:`rule_arch` -- which of the rules' architectures a measured device is (from the
  architecture its run recorded, else from its name).

Rules are ordered; the first whose conditions all hold wins, as the engines' own kernel lists
do. Torch-free (the site and the CLI read it without a GPU stack).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from generator.errors import UserError

RULES_PATH = Path(__file__).resolve().parent / "reference" / "dispatch_rules.json"

_CONDITION_KEYS = {"arch", "out_dtype", "n_multiple", "k_multiple", "m_min", "m_max"}
_FORCING_KINDS = {"flag", "env", "config"}


@dataclass(frozen=True)
class LinearProblem:
    """One block-scaled linear layer at one batch size: (M, K) x (N, K)^T."""

    N: int
    K: int
    M: int
    out_dtype: str = "bfloat16"  # the model's dtype: "bfloat16" | "float16"
    input_type: str = "fp8"  # the quantized dtype of weights and activations
    block: tuple[int, int] = (128, 128)  # weight block (n, k); activations in 1 x k groups


@dataclass(frozen=True)
class Source:
    """Where in an engine's source a rule or a setting was read."""

    repo: str
    ref: str  # tag and commit, or the commit of the copy read
    file: str  # path inside the repository
    function: str
    lines: tuple[int, int]

    def cite(self) -> str:
        first, last = self.lines
        return f"{self.repo} {self.ref}: {self.file}, {self.function}, lines {first}-{last}"


@dataclass(frozen=True)
class Forcing:
    """One way to make an engine run (or stop running) a backend."""

    kind: str  # "flag" (a command-line option) | "env" (a variable) | "config" (a JSON option)
    setting: str  # exactly what to pass or set
    effect: str
    source: Source


@dataclass(frozen=True)
class Backend:
    """A GEMM implementation an engine can pick for a block-FP8 linear layer."""

    id: str
    label: str
    short: str  # the label in a table cell ("DeepGEMM")
    kernel: str  # the engine's class or function that runs it
    provider: str | None  # the bench provider that measures it, if any
    force: tuple[Forcing, ...]
    disable: tuple[Forcing, ...]
    stand_in: str | None = None  # the provider that stands in where this one is not measured
    stand_in_reason: str | None = None
    stand_in_short: str | None = None  # in a table cell: "DeepGEMM stands in"

    def measured_as(self, stand_in: str | None) -> str:
        """The backend in a table cell, saying so where a stand-in's row gave its time
        ("FlashInfer swap-AB (DeepGEMM stands in)")."""
        if not stand_in:
            return self.short
        return f"{self.short} ({self.stand_in_short or f'{stand_in} stands in'})"


@dataclass(frozen=True)
class Condition:
    """What a rule needs; a field left None holds for every problem."""

    arch: tuple[str, ...] | None = None
    out_dtype: tuple[str, ...] | None = None
    n_multiple: int | None = None
    k_multiple: int | None = None
    m_min: int | None = None
    m_max: int | None = None

    def holds(self, arch: str, p: LinearProblem) -> bool:
        return (
            (self.arch is None or arch in self.arch)
            and (self.out_dtype is None or p.out_dtype in self.out_dtype)
            and (self.n_multiple is None or p.N % self.n_multiple == 0)
            and (self.k_multiple is None or p.K % self.k_multiple == 0)
            and (self.m_min is None or p.M >= self.m_min)
            and (self.m_max is None or p.M <= self.m_max)
        )

    def describe(self) -> str:
        parts = []
        if self.arch:
            parts.append("/".join(self.arch))
        if self.out_dtype:
            parts.append(f"{'/'.join(self.out_dtype)} output")
        if self.n_multiple:
            parts.append(f"N % {self.n_multiple} == 0")
        if self.k_multiple:
            parts.append(f"K % {self.k_multiple} == 0")
        if self.m_min is not None and self.m_max is not None:
            parts.append(f"{self.m_min} <= M <= {self.m_max}")
        elif self.m_min is not None:
            parts.append(f"M >= {self.m_min}")
        elif self.m_max is not None:
            parts.append(f"M <= {self.m_max}")
        return ", ".join(parts) or "always"


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    backend: str
    why: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class EngineRules:
    """One engine version's backends and ordered rules."""

    engine: str
    version: str
    repo: str
    ref: str
    read_from: str
    selection: str  # when the engine decides (once per layer at load, per call, ...)
    forcing_scope: str  # how far a forcing setting reaches
    backends: dict[str, Backend]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class DeviceArchs:
    """How a measured device maps onto the rules' architectures (``device_archs`` in the file)."""

    recorded: dict[str, str]  # Provenance.arch ("sm_90") -> rule arch; any "gfx..." is "rocm"
    name_prefixes: dict[str, tuple[str, ...]]  # rule arch -> device-name prefixes (vLLM's)


@dataclass(frozen=True)
class RuleTable:
    input_types: tuple[str, ...]
    blocks: tuple[tuple[int, int], ...]
    out_dtypes: tuple[str, ...]
    archs: dict[str, str]  # name -> what GPUs it is
    engines: tuple[EngineRules, ...]
    device_archs: DeviceArchs


@dataclass(frozen=True)
class Decision:
    """What an engine runs for one layer at one batch size, and why."""

    engine: str
    version: str
    arch: str
    problem: LinearProblem
    backend: Backend
    rule: Rule


def default_backend(engine: str, version: str, arch: str, problem: LinearProblem) -> Decision:
    """What ``engine`` ``version`` runs, with its default settings, for ``problem`` on ``arch``.

    Bad input (unknown engine, version or architecture, a scheme the rules do not cover) raises
    a one-line :class:`UserError`.
    """
    table = rule_table()
    rules = engine_rules(engine, version)
    if arch not in table.archs:
        raise UserError(f"unknown GPU architecture '{arch}'; known: {', '.join(table.archs)}")
    _check_problem(table, problem)
    for rule in rules.rules:
        if rule.when.holds(arch, problem):
            return Decision(engine, version, arch, problem, rules.backends[rule.backend], rule)
    raise UserError(f"{engine} {version}: no rule covers {problem} on {arch}")


def force(engine: str, backend: str, version: str | None = None) -> tuple[Forcing, ...]:
    """The settings that make ``engine`` run ``backend`` (the newest version in the table
    unless ``version`` is given); empty when the engine has no setting for it. Every one is
    global to the engine process: see :attr:`EngineRules.forcing_scope`."""
    rules = engine_rules(engine, version)
    if backend not in rules.backends:
        raise UserError(
            f"{engine} {rules.version} has no backend '{backend}'; known: "
            f"{', '.join(rules.backends)}"
        )
    return rules.backends[backend].force


def rule_arch(device_name: str, recorded_arch: str | None = None) -> str | None:
    """The rules' architecture of a measured device, or None when the rules do not cover it.

    ``recorded_arch`` (``Provenance.arch``, what the run read from the GPU) decides where a run
    recorded one: every ``gfx`` architecture is ``rocm``, and ``sm_xy`` maps through the table
    (``sm_120``, consumer Blackwell, is not covered). Records made before runs recorded it fall
    back to the device name's prefix, as vLLM spells the name."""
    table = rule_table()
    if recorded_arch:
        if recorded_arch.startswith("gfx"):
            return "rocm"
        return table.device_archs.recorded.get(recorded_arch)
    for arch, prefixes in table.device_archs.name_prefixes.items():
        if device_name.startswith(prefixes):
            return arch
    return None


def engine_rules(engine: str, version: str | None = None) -> EngineRules:
    """One engine version's rules (the newest in the table when ``version`` is None)."""
    table = rule_table()
    versions = [e for e in table.engines if e.engine == engine]
    if not versions:
        known = sorted({e.engine for e in table.engines})
        raise UserError(f"unknown engine '{engine}'; known: {', '.join(known)}")
    if version is None:
        return max(versions, key=lambda e: _version_key(e.version))
    for e in versions:
        if e.version == version:
            return e
    raise UserError(
        f"no dispatch rules for {engine} {version}; known: {', '.join(e.version for e in versions)}"
    )


@cache
def rule_table(path: Path = RULES_PATH) -> RuleTable:
    """The rule table in ``path``, checked for consistency (every rule's backend declared,
    unique ids, known architectures and condition keys); a bad file raises naming the entry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the dispatch rules ({exc})") from exc
    return parse_rule_table(raw, str(path))


def parse_rule_table(raw: dict[str, Any], where: str) -> RuleTable:
    """The :class:`RuleTable` of a decoded ``dispatch_rules.json`` (see :func:`rule_table`)."""
    try:
        scope = raw["scope"]
        archs = dict(raw["archs"])
        engines = tuple(_engine(e, archs, where) for e in raw["engines"])
        device_archs = raw["device_archs"]
        table = RuleTable(
            input_types=tuple(scope["input_type"]),
            blocks=tuple((int(b[0]), int(b[1])) for b in scope["block"]),
            out_dtypes=tuple(scope["out_dtype"]),
            archs=archs,
            engines=engines,
            device_archs=DeviceArchs(
                recorded=dict(device_archs["recorded"]),
                name_prefixes={a: tuple(p) for a, p in device_archs["name_prefixes"].items()},
            ),
        )
    except UserError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: malformed dispatch rules ({exc!r})") from exc
    mapped = set(table.device_archs.recorded.values()) | set(table.device_archs.name_prefixes)
    if mapped - set(archs):
        raise UserError(
            f"{where}: device_archs names unknown architecture(s) {sorted(mapped - set(archs))}"
        )
    seen = [(e.engine, e.version) for e in engines]
    if len(seen) != len(set(seen)):
        raise UserError(f"{where}: an engine version is listed twice")
    return table


def _engine(raw: dict[str, Any], archs: dict[str, str], where: str) -> EngineRules:
    name = f"{raw['engine']} {raw['version']}"
    repo, ref = raw["repo"], raw["ref"]
    backends = {
        bid: Backend(
            id=bid,
            label=b["label"],
            short=b["short"],
            kernel=b["kernel"],
            provider=b["provider"],
            force=tuple(_forcing(f, repo, ref, f"{where}: {name} {bid}") for f in b["force"]),
            disable=tuple(_forcing(f, repo, ref, f"{where}: {name} {bid}") for f in b["disable"]),
            stand_in=b.get("stand_in"),
            stand_in_reason=b.get("stand_in_reason"),
            stand_in_short=b.get("stand_in_short"),
        )
        for bid, b in raw["backends"].items()
    }
    rules = tuple(_rule(r, repo, ref, archs, f"{where}: {name}") for r in raw["rules"])
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise UserError(f"{where}: {name} has two rules with the same id")
    for r in rules:
        if r.backend not in backends:
            raise UserError(f"{where}: {name} rule {r.id} names undeclared backend '{r.backend}'")
    return EngineRules(
        engine=raw["engine"],
        version=raw["version"],
        repo=repo,
        ref=ref,
        read_from=raw["read_from"],
        selection=raw["selection"],
        forcing_scope=raw["forcing_scope"],
        backends=backends,
        rules=rules,
    )


def _rule(raw: dict[str, Any], repo: str, ref: str, archs: dict[str, str], where: str) -> Rule:
    when = raw["when"]
    unknown = set(when) - _CONDITION_KEYS
    if unknown:
        raise UserError(f"{where} rule {raw['id']}: unknown condition(s) {sorted(unknown)}")
    bad_arch = [a for a in when.get("arch", []) if a not in archs]
    if bad_arch:
        raise UserError(f"{where} rule {raw['id']}: unknown architecture(s) {bad_arch}")
    sources = tuple(_source(s, repo, ref) for s in raw["sources"])
    if not sources:
        raise UserError(f"{where} rule {raw['id']}: no source cited")
    return Rule(
        id=raw["id"],
        when=Condition(
            arch=_tuple(when.get("arch")),
            out_dtype=_tuple(when.get("out_dtype")),
            n_multiple=when.get("n_multiple"),
            k_multiple=when.get("k_multiple"),
            m_min=when.get("m_min"),
            m_max=when.get("m_max"),
        ),
        backend=raw["backend"],
        why=raw["why"],
        sources=sources,
    )


def _forcing(raw: dict[str, Any], repo: str, ref: str, where: str) -> Forcing:
    if raw["kind"] not in _FORCING_KINDS:
        raise UserError(f"{where}: forcing kind '{raw['kind']}' is not one of {_FORCING_KINDS}")
    return Forcing(raw["kind"], raw["setting"], raw["effect"], _source(raw["source"], repo, ref))


def _source(raw: dict[str, Any], repo: str, ref: str) -> Source:
    first, last = raw["lines"]
    if not 0 < first <= last:
        raise ValueError(f"bad line range {raw['lines']} in {raw['file']}")
    return Source(
        raw.get("repo", repo), raw.get("ref", ref), raw["file"], raw["function"], (first, last)
    )


def _tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def _check_problem(table: RuleTable, p: LinearProblem) -> None:
    if p.input_type not in table.input_types:
        raise UserError(
            f"the dispatch rules cover input type {', '.join(table.input_types)}, not "
            f"'{p.input_type}'"
        )
    if tuple(p.block) not in table.blocks:
        covered = ", ".join(str(list(b)) for b in table.blocks)
        raise UserError(f"the dispatch rules cover block {covered}, not {list(p.block)}")
    if p.out_dtype not in table.out_dtypes:
        raise UserError(f"output dtype '{p.out_dtype}' is not one of {', '.join(table.out_dtypes)}")
    for name in ("N", "K", "M"):
        if getattr(p, name) < 1:
            raise UserError(f"{name} must be >= 1, got {getattr(p, name)}")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
