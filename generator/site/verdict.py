"""The verdict a model page opens with: what the engine runs here, and whether Triton with our
files beats it.

Why: the catalog's question is "if I install this, what do I gain over what I run today?". On
Hopper and Blackwell, what vLLM and SGLang run today for a block-FP8 layer is mostly not the
Triton kernel our files tune but DeepGEMM or FlashInfer (the dispatch rules,
:mod:`generator.data.dispatch`); our files change nothing there unless Triton is forced, and
forcing is global to the engine process: every layer and every batch size. So, per engine, at
every (layer, M) point of the model sweep this module asks the rules which backend the engine
runs by default, takes that backend's row (its bench provider, or the provider the rules name
as its stand-in where it was not measured), and compares it with what Triton would run there:

* where the default *is* the Triton kernel (AMD Instinct, fp16 output, shapes DeepGEMM refuses),
  the comparison is our file against the engine's own file or default config: installing our
  files is enough, nothing is forced;
* elsewhere, Triton as forcing would run it: with our file where we have one, else with the
  engine's own file or default (the forced engine keeps those for the other shapes).

Only rows of one run are compared (a ratio across runs would mix two sessions' clocks and
operands; the bench re-measures a whole point when a provider is added to it). Points are
judged like every comparison of the catalog (:func:`gains.judge_rows`: faster or
slower only beyond the widest of the rows' spreads, the point's A/A control and the noise
floor). Per layer and band of M a :class:`Cell` says whether Triton is faster at every point,
slower at every point, within the noise, or mixed; the page's decision per engine weighs the
cells where forcing would act, since one setting covers them all. Where the default backend
has no measurement, the cell says "not measured" and no decision is drawn from it.
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from generator.data import dispatch
from generator.data.records import BenchRow
from generator.errors import UserError
from generator.site import gains, providers
from generator.site.gains import BANDS, Band, Key

TRITON = "triton"  # the rules' id of the Triton backend, in every engine


class State(str, enum.Enum):
    """A cell: Triton with our files against the engine's default, over a band's points."""

    FASTER = "faster"  # faster beyond the noise at every measured point
    SLOWER = "slower"  # slower beyond the noise at every measured point
    TIE = "tie"  # within the noise at every point
    MIXED = "mixed"  # the points disagree: faster, tied or slower at some, not at others
    MISSING = "not measured"  # no point with both times


class Decision(str, enum.Enum):
    """What a page advises for one engine."""

    INSTALL = "install"  # the engine runs Triton here: our files act without forcing
    FORCE = "force"  # forcing Triton is faster or tied in every measured cell it acts on
    KEEP = "keep"  # forcing Triton is faster in no cell it acts on: keep the engine's default
    MIXED = "mixed"  # faster in some cells, slower or mixed in others: depends on the traffic
    UNMEASURED = "unmeasured"  # the default backend has no measurement here
    UNCOVERED = "uncovered"  # the rules do not cover this GPU (or output dtype)

    @property
    def short(self) -> str:
        """The decision in a table cell."""
        return _DECISION_SHORT[self]


_DECISION_SHORT = {
    Decision.INSTALL: "install our files (the engine runs Triton here)",
    Decision.FORCE: "force Triton, with our files",
    Decision.KEEP: "keep the default",
    Decision.MIXED: "keep the default unless your batches are where Triton gains",
    Decision.UNMEASURED: "no verdict yet: the default backend is not measured for this model's "
    "shapes",
    Decision.UNCOVERED: "not covered by the dispatch rules",
}


@dataclass(frozen=True)
class Point:
    """One (layer, M): the engine's default against Triton as it would run."""

    M: int
    backend: dispatch.Backend  # what the engine runs here by default
    rule: dispatch.Rule
    default_row: BenchRow | None  # the default's measurement (None: not measured)
    stand_in: str | None  # the provider measured in its place, when not its own
    triton_row: BenchRow | None  # Triton: our file where we have one, else the engine's own
    ours: bool  # triton_row runs our file
    ratio: float | None  # default / Triton latency: above 1, Triton is faster
    verdict: int | None  # +1 Triton faster beyond the noise, 0 tie, -1 slower
    apart: bool = False  # both measured, but in different runs: not compared

    @property
    def forced(self) -> bool:
        """Whether Triton runs here only when forced (the default is another backend)."""
        return self.backend.id != TRITON


@dataclass
class Cell:
    band: Band
    points: list[Point]

    @property
    def measured(self) -> list[Point]:
        return [p for p in self.points if p.ratio is not None]

    @property
    def state(self) -> State:
        votes = {p.verdict for p in self.measured}
        if not votes:
            return State.MISSING
        if votes == {1}:
            return State.FASTER
        if votes == {-1}:
            return State.SLOWER
        if votes == {0}:
            return State.TIE
        return State.MIXED

    @property
    def median(self) -> float | None:
        ratios = [p.ratio for p in self.measured if p.ratio is not None]
        return statistics.median(ratios) if ratios else None

    @property
    def lo(self) -> float | None:
        return min((p.ratio for p in self.measured if p.ratio is not None), default=None)

    @property
    def hi(self) -> float | None:
        return max((p.ratio for p in self.measured if p.ratio is not None), default=None)

    @property
    def forced(self) -> bool:
        """Whether Triton runs in this cell only when forced (at any of its points)."""
        return any(p.forced for p in self.points)

    @property
    def backends(self) -> list[str]:
        """The default backends of the cell, in order of M, each once ("FlashInfer
        swap-AB (M = 24)", "DeepGEMM (M 32–512)" in vLLM's mid band on Hopper)."""
        seen: dict[str, list[int]] = {}
        for p in sorted(self.points, key=lambda p: p.M):
            seen.setdefault(p.backend.measured_as(p.stand_in), []).append(p.M)
        if len(seen) == 1:
            return list(seen)
        return [
            f"{name} (M = {ms[0]})" if len(ms) == 1 else f"{name} (M {ms[0]}–{ms[-1]})"
            for name, ms in seen.items()
        ]

    @property
    def stand_ins(self) -> list[str]:
        return sorted({p.stand_in for p in self.points if p.stand_in})

    @property
    def apart(self) -> int:
        """Points where both were measured, but in different runs (not compared)."""
        return sum(1 for p in self.points if p.apart)

    @property
    def without_our_file(self) -> int:
        """Measured points where Triton had no file of ours (it ran the engine's own)."""
        return sum(1 for p in self.measured if not p.ours)


@dataclass
class Layer:
    key: Key
    layers: list[str]
    cells: list[Cell]  # one per band

    @property
    def N(self) -> int:
        return self.key[2]

    @property
    def K(self) -> int:
        return self.key[3]


@dataclass(frozen=True)
class BandSummary:
    band: Band
    cells: Counter  # State value ("faster", ...) -> cells
    worst: tuple[float, Layer] | None  # the lowest cell median (Triton slowest) and its layer
    best: tuple[float, Layer] | None


@dataclass
class EngineVerdict:
    engine: str  # "vllm"
    name: str  # "vLLM 0.33.0"
    arch: str | None  # the rules' architecture of the device; None: not covered
    out_dtype: str
    layers: list[Layer] = field(default_factory=list)
    decision: Decision = Decision.UNCOVERED
    rules: dispatch.EngineRules | None = None
    reason: str = ""  # why there is no decision (uncovered, not measured)

    @property
    def force(self) -> tuple[dispatch.Forcing, ...]:
        return self.rules.backends[TRITON].force if self.rules else ()

    @property
    def stand_ins(self) -> list[tuple[str, str]]:
        """(provider, why) of every stand-in a cell used."""
        out: dict[str, str] = {}
        for layer in self.layers:
            for c in layer.cells:
                for p in c.points:
                    if p.stand_in and p.stand_in not in out:
                        out[p.stand_in] = p.backend.stand_in_reason or ""
        return list(out.items())

    @property
    def default_backends(self) -> list[dispatch.Backend]:
        """Every backend the engine runs by default on this page, in the rules' order."""
        ids = {p.backend.id for layer in self.layers for c in layer.cells for p in c.points}
        return [b for bid, b in (self.rules.backends.items() if self.rules else []) if bid in ids]

    @property
    def default_labels(self) -> list[str]:
        """Every backend the engine runs by default on this page, each as its measured time
        was had: "FlashInfer swap-AB (DeepGEMM stands in)" where a stand-in's row gave it."""
        labels: dict[str, None] = {}
        for b in self.default_backends:
            for layer in self.layers:
                for c in layer.cells:
                    for p in c.points:
                        if p.backend.id == b.id and p.default_row is not None:
                            labels[b.measured_as(p.stand_in)] = None
            if not any(lab.startswith(b.short) for lab in labels):
                labels[b.short] = None
        return list(labels)

    @property
    def decided_by(self) -> list[dispatch.Rule]:
        ids: dict[str, dispatch.Rule] = {}
        for layer in self.layers:
            for c in layer.cells:
                for p in c.points:
                    ids.setdefault(p.rule.id, p.rule)
        order = [r.id for r in self.rules.rules] if self.rules else []
        return sorted(ids.values(), key=lambda r: order.index(r.id) if r.id in order else 0)

    def summary(self, band: Band, forced: bool = True) -> BandSummary:
        """The band's cells where forcing acts (``forced``), or where Triton already runs."""
        cells = [(layer, c) for layer, c in self._cells(forced) if c.band == band]
        measured = [(c.median, layer) for layer, c in cells if c.median is not None]
        return BandSummary(
            band,
            Counter(c.state.value for _, c in cells),
            min(measured, key=lambda t: t[0]) if measured else None,
            max(measured, key=lambda t: t[0]) if measured else None,
        )

    @property
    def summaries(self) -> list[BandSummary]:
        return [self.summary(b) for b in BANDS]

    @property
    def install_summaries(self) -> list[BandSummary]:
        return [self.summary(b, forced=False) for b in BANDS]

    def _cells(self, forced: bool | None) -> list[tuple[Layer, Cell]]:
        return [
            (layer, c)
            for layer in self.layers
            for c in layer.cells
            if c.points and (forced is None or c.forced == forced)
        ]

    def cells(self, forced: bool | None = None) -> list[Cell]:
        """The cells with points: where forcing acts (``forced``), where Triton already runs
        (``not forced``), or all (None). A band with no measured M has no cell."""
        return [c for _, c in self._cells(forced)]

    def count(self, state: State | str, forced: bool | None = True) -> int:
        """Cells in ``state`` (where forcing acts, by default)."""
        want = State(state)
        return sum(1 for c in self.cells(forced) if c.state is want)

    def band_backends(self, band: Band) -> list[str]:
        """What the engine runs by default in ``band`` where forcing acts, over every layer,
        each once ("FlashInfer swap-AB (M = 24)", "DeepGEMM (M 32–512)"): a column heading
        of the per-layer table, so that a cell names its backends only where they differ."""
        names: list[str] = []
        for layer in self.layers:
            for c in layer.cells:
                if c.band == band and c.forced:
                    names += [b for b in c.backends if b not in names]
        return names

    def band_cells(self, band: Band) -> int:
        """The band's cells where forcing acts (one per layer with a point in the band)."""
        return sum(1 for c in self.cells(True) if c.band == band)

    @property
    def measured_cells(self) -> int:
        """Cells where forcing acts that have a measurement (0: the band table would be all
        zeros and "not measured": the page says so in one line instead)."""
        return sum(1 for c in self.cells(True) if c.state is not State.MISSING)

    @property
    def triton_default(self) -> TritonDefault:
        """Where the rules give these pages' points to the Triton kernel by default."""
        pts = [p for layer in self.layers for c in layer.cells for p in c.points]
        if self.arch is None or not pts:
            return TritonDefault.UNKNOWN
        forced = {p.forced for p in pts}
        if forced == {False}:
            return TritonDefault.ALL
        return TritonDefault.NONE if forced == {True} else TritonDefault.SOME

    @property
    def triton_here(self) -> str | None:
        """Where the engine's rules give the Triton kernel a layer by default on this GPU, in
        words ("for every layer", "for a layer with an output other than bfloat16 or N not a
        multiple of 64 or ..."), read from the rules in their order; None: nowhere, it runs
        only when forced (vLLM on Hopper: CUTLASS takes what DeepGEMM and FlashInfer do not,
        fp16 output included)."""
        if self.rules is None or self.arch is None:
            return None
        before: list[dispatch.Condition] = []
        for r in self.rules.rules:
            if r.when.arch is not None and self.arch not in r.when.arch:
                continue
            if r.backend != TRITON:
                before.append(r.when)
                continue
            own = dataclasses.replace(r.when, arch=None).describe()
            if own != "always":
                return f"where {own}"
            if not before:
                return "for every layer"
            outs = []
            dtypes = sorted({d for c in before for d in (c.out_dtype or ())})
            if dtypes:
                outs.append(f"an output other than {'/'.join(dtypes)}")
            for axis, field_name in (("N", "n_multiple"), ("K", "k_multiple")):
                ms = sorted({getattr(c, field_name) for c in before if getattr(c, field_name)})
                if ms:
                    outs.append(f"{axis} not a multiple of {'/'.join(map(str, ms))}")
            return (
                "for a layer with " + " or ".join(outs)
                if outs
                else "for any layer its other rules here do not take"
            )
        return None

    @property
    def reference(self) -> Reference:
        """How this page names the engine's Triton kernel with its own files."""
        others = tuple(b.short for b in self.default_backends if b.id != TRITON)
        return Reference(self.engine, self.name, self.triton_default, others)


class TritonDefault(str, enum.Enum):
    """Where an engine runs the Triton kernel by default, over a page's (or a device's) points,
    by its dispatch rules."""

    ALL = "all"  # at every point: what it runs today without our files is this kernel
    SOME = "some"  # at some points (shapes another backend refuses, say), another elsewhere
    NONE = "none"  # nowhere: this kernel runs only when forced
    UNKNOWN = "unknown"  # the rules do not cover the GPU, or there is no point


@dataclass(frozen=True)
class Reference:
    """How a page names "the engine's Triton kernel with the files it ships (else its default
    config)", the reference of every gain of our files, by what the dispatch rules say the
    engine runs on that GPU: "today" only where the rules give Triton every point (AMD
    Instinct, fp16 output where Triton takes it); elsewhere it is what runs only if Triton
    runs, and the page says so, never "what you run"."""

    engine: str  # "vllm"
    name: str  # "vLLM 0.33.0"
    default: TritonDefault
    others: tuple[str, ...] = ()  # the other backends it runs by default here ("DeepGEMM")

    @property
    def today(self) -> bool:
        return self.default is TritonDefault.ALL

    @property
    def label(self) -> str:
        """A row heading: the reference with its release."""
        if self.today:
            return f"{self.name} today (its Triton kernel, its shipped files)"
        return f"{self.name}'s Triton kernel, its shipped files"

    @property
    def short(self) -> str:
        """In a table cell after a ratio: "1.20× vLLM 0.33.0 Triton"."""
        return f"{self.name} today" if self.today else f"{self.name}'s Triton"

    @property
    def when(self) -> str:
        """A sentence: what this reference is on this GPU, and when it is what runs."""
        others = ", ".join(self.others) or "another backend"
        what = (
            f"{self.name}'s Triton kernel with the config files it ships (for a shape it ships "
            "no file for, its default config)"
        )
        if self.default is TritonDefault.ALL:
            return (
                f"{what}: by its dispatch rules it runs this kernel here for every layer, so "
                "this is what it runs today without our files"
            )
        if self.default is TritonDefault.NONE:
            return (
                f"{what}: by its dispatch rules it runs {others} here by default, so this is "
                "what runs only if Triton runs (when forced; the verdict on this model's page says "
                "whether forcing gains), not what it runs today"
            )
        if self.default is TritonDefault.SOME:
            return (
                f"{what}: by its dispatch rules it runs this kernel here by default for some "
                f"layers or batch sizes and {others} for the others, where this is what runs "
                "only if Triton is forced (the verdict on this model's page says which)"
            )
        return (
            f"{what}: its dispatch rules do not say what it runs on this GPU, so this is what "
            "runs if it runs the Triton kernel"
        )


def combine(refs: Iterable[Reference]) -> dict[str, Reference]:
    """Per engine, one :class:`Reference` for several pages (a device, the home page): "today"
    only if every page with a known default runs Triton everywhere, "none" if none does."""
    by: dict[str, list[Reference]] = {}
    for r in refs:
        by.setdefault(r.engine, []).append(r)
    out = {}
    for engine, rs in by.items():
        known = {r.default for r in rs} - {TritonDefault.UNKNOWN}
        if not known:
            default = TritonDefault.UNKNOWN
        elif len(known) == 1:
            default = known.pop()
        else:
            default = TritonDefault.SOME
        others = tuple(dict.fromkeys(o for r in rs for o in r.others))
        out[engine] = Reference(engine, rs[0].name, default, others)
    return out


@dataclass(frozen=True)
class DefaultTimes:
    """What one engine runs by default at each M of one layer, and its measured time: a chart's
    "x <engine>'s default" view (the time of the default / a provider's)."""

    engine: str
    name: str  # "vLLM 0.33.0"
    rows: dict[int, BenchRow]  # by M, where the default (or its stand-in) was measured
    backends: list[tuple[str, int, int]]  # (backend short, first M, last M), in M order
    stand_ins: list[tuple[str, str]]  # (backend short, provider measured in its place)


def default_times(v: EngineVerdict, key: Key) -> DefaultTimes | None:
    """``v``'s default at every M of the layer ``key``, where the default is not Triton at
    some M (where it is Triton everywhere, the chart's view of the engine's Triton kernel with
    its own files already is the default); None when nothing of it was measured."""
    layer = next((lay for lay in v.layers if lay.key == key), None)
    if layer is None:
        return None
    points = sorted((p for c in layer.cells for p in c.points), key=lambda p: p.M)
    if not points or all(not p.forced for p in points):
        return None
    rows = {p.M: p.default_row for p in points if p.default_row is not None}
    if not rows:
        return None
    runs: list[tuple[str, int, int]] = []
    for p in points:
        if runs and runs[-1][0] == p.backend.short:
            runs[-1] = (runs[-1][0], runs[-1][1], p.M)
        else:
            runs.append((p.backend.short, p.M, p.M))
    stand = sorted({(p.backend.short, p.stand_in) for p in points if p.stand_in})
    return DefaultTimes(v.engine, v.name, rows, runs, stand)


def same_run(a: BenchRow, b: BenchRow) -> bool:
    """Whether two rows were measured by one run (same code version and start time)."""
    pa, pb = a.provenance, b.provenance
    if pa is None or pb is None:
        return pa is pb
    return (pa.git_sha, pa.date) == (pb.git_sha, pb.date)


def _default_row(
    at: dict[str, BenchRow], backend: dispatch.Backend, engine_triton: BenchRow | None
) -> tuple[BenchRow | None, str | None]:
    """The measurement of ``backend`` at one point and the stand-in that gave it, if any."""
    if backend.id == TRITON:
        return engine_triton, None
    row = at.get(backend.provider) if backend.provider else None
    if row is not None and gains.ok(row.measurement):
        return row, None
    stand = at.get(backend.stand_in) if backend.stand_in else None
    if stand is not None and gains.ok(stand.measurement):
        return stand, stand.provider
    return None, None


def engine_verdict(
    engine: str,
    device_name: str,
    recorded_arch: str | None,
    rows: list[BenchRow],
    keys: list[Key],
    layer_names: dict[Key, list[str]],
    out_dtype: str = "bfloat16",
) -> EngineVerdict:
    """The verdict for ``engine`` (its newest rules) on one model page's rows."""
    rules = dispatch.engine_rules(engine)
    name = f"{gains.ENGINE_NAMES.get(engine, engine)} {rules.version}"
    arch = dispatch.rule_arch(device_name, recorded_arch)
    out = EngineVerdict(engine, name, arch, out_dtype, rules=rules)
    if arch is None:
        out.reason = (
            f"the dispatch rules of {name} cover {', '.join(dispatch.rule_table().archs)}; "
            "this GPU is none of them"
        )
        return out
    names = {r.provider for r in rows}
    subject = providers.tuned_fp8(names)
    shipped = providers.shipped(names).get(f"{engine}-{rules.version}")
    engine_default = providers.engine_default(names, engine)
    g = gains.grid(rows)
    for key in keys:
        by_m = g.get(key, {})
        cells = []
        for band in BANDS:
            pts = []
            for m in sorted(mm for mm in by_m if band.holds(mm)):
                at = by_m[m]
                try:
                    decision = dispatch.default_backend(
                        engine,
                        rules.version,
                        arch,
                        dispatch.LinearProblem(key[2], key[3], m, out_dtype),
                    )
                except UserError as exc:
                    out.reason = str(exc)
                    return out
                engine_triton = (
                    gains.engine_today(at, shipped, engine_default)
                    if shipped
                    else (at.get(engine_default) if engine_default else None)
                )
                if engine_triton is not None and not gains.ok(engine_triton.measurement):
                    engine_triton = None
                default_row, stand_in = _default_row(at, decision.backend, engine_triton)
                mine = at.get(subject) if subject else None
                ours = mine is not None and gains.ok(mine.measurement)
                triton_row = mine if ours else engine_triton
                if decision.backend.id == TRITON and not ours:
                    triton_row = None  # nothing of ours to install at this point
                ratio = verdict = None
                apart = False
                if default_row is not None and triton_row is not None:
                    if same_run(default_row, triton_row):
                        ratio, verdict = gains.judge_rows(triton_row, default_row)
                    else:
                        apart = True
                pts.append(
                    Point(
                        m,
                        decision.backend,
                        decision.rule,
                        default_row,
                        stand_in,
                        triton_row,
                        ours,
                        ratio,
                        verdict,
                        apart,
                    )
                )
            cells.append(Cell(band, pts))
        out.layers.append(Layer(key, layer_names.get(key, []), cells))
    out.decision = _decide(out)
    if out.decision == Decision.UNMEASURED:
        missing = sorted({b.short for b in out.default_backends if b.id != TRITON})
        out.reason = (
            f"what {name} runs here by default ({', '.join(missing)}) has not been measured for "
            "this model's shapes on this GPU"
        )
    return out


def _decide(v: EngineVerdict) -> Decision:
    """The page's advice for one engine, from the measured cells where forcing Triton acts.

    Forcing is global (every layer, every batch size), so a cell counts for it only where
    Triton is faster at *every* point of it: with no such cell the advice is to keep the
    default, plainly, even where some cells are mixed (faster at a few batch sizes of one
    layer, slower or tied at the others: no setting picks those out). The hedged advice
    ("unless your batches are where Triton gains") is kept for pages where some cell is
    faster and others are not."""
    forced = [c for c in v.cells(forced=True) if c.state != State.MISSING]
    if not v.cells(forced=True):
        return Decision.INSTALL if v.cells(forced=False) else Decision.UNMEASURED
    if not forced:
        return Decision.UNMEASURED
    states = {c.state for c in forced}
    if State.FASTER not in states:
        return Decision.KEEP
    if states <= {State.FASTER, State.TIE}:
        return Decision.FORCE
    return Decision.MIXED


def verdicts(
    device_name: str,
    recorded_arch: str | None,
    rows: list[BenchRow],
    keys: list[Key],
    layer_names: dict[Key, list[str]],
    out_dtype: str = "bfloat16",
) -> list[EngineVerdict]:
    """One verdict per engine the rules cover, in the rules' order."""
    engines = dict.fromkeys(e.engine for e in dispatch.rule_table().engines)
    return [
        engine_verdict(e, device_name, recorded_arch, rows, keys, layer_names, out_dtype)
        for e in engines
    ]


def recorded_arch(*provenances: object) -> str | None:
    """The first architecture a run recorded among ``provenances`` (None: none did)."""
    for p in provenances:
        arch = getattr(p, "arch", None)
        if arch:
            return arch
    return None


def tally(
    page_verdicts: Iterable[list[EngineVerdict]],
) -> list[tuple[str, list[tuple[Decision, int]]]]:
    """Per engine (by name), how many pages come to each decision, in the order of
    :class:`Decision`: the home page's summary of a device."""
    counts: dict[str, Counter] = {}
    for vs in page_verdicts:
        for v in vs:
            counts.setdefault(v.name, Counter())[v.decision] += 1
    return [(name, [(d, c[d]) for d in Decision if c[d]]) for name, c in counts.items()]
