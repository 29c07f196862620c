"""What installing the catalog's files gains, measured, and how that compares with bf16.

Why a module of its own: the question a reader brings is "what do I install, and what do I
gain?", and the answer must come from the measurements, the same way on every page. The
subject is the provider the bundles install (the engines' Triton kernel with our tuned files,
found by its metadata, :func:`providers.tuned_fp8`); it is compared, at every (model, TP,
weight shape, M) point of the model sweep, with

* what each engine runs today: its shipped file for the shape where the release ships one
  (the ``shipped:<release>`` provider), else its default config (the row of the shipped
  provider is then "unsupported": no file);
* the kernel's default config (vLLM's; what any engine without a file runs);
* the layer in bf16.

Where the benchmark has no rows of the shipped providers (data measured before they existed),
the tuning records' baselines (``TuneRecord.baselines``: the same entries timed in the tuning
session) answer instead, and :attr:`Comparison.source` says so; where neither exists the page
says that the data predates the comparison and which search produced the files.

A default config never stands in for a shipped file: where a release ships a file for the
(device, shape) (:func:`ships`, the reference copies of its files) and that file's entry was
not measured, the point is "not measured" for that release, in the bench rows, in the tuning
baselines and in :meth:`Gains.today`'s stand-in (the H100's DeepSeek-V3 page once showed
vLLM's default config, 2.51x, where vLLM ships 12 of the 15 files).

Apart from that, :func:`others` compares the fastest correct kernel that no file of ours
installs (cuBLAS block-wise, our research kernels) with bf16 and with the installed one.

A point is *faster* or *slower* only beyond the measured noise: the widest of the two rows'
p20-p80 spreads and the point's A/A control (identical work timed twice in the run that
measured the rows, ``BenchRow.control``; for a tuning record its runoff's), and at least
:data:`NOISE_FLOOR` (the tuner's own margin); otherwise it is a tie. A tuning record's point
compares the runoff's medians where the runoff timed both configs (what decided the winner,
:mod:`generator.data.tune_times`), else both search times.
Every figure a page prints in a sentence comes from here, and tests recompute them from the raw
records.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from generator.configs.engine_files import FileFormat, file_name
from generator.data import tune_times
from generator.data.records import (
    SEARCH_V1,
    SEARCH_V2,
    SEARCH_V3,
    SEARCH_V4,
    SEARCH_V5,
    SEARCH_V6,
    SEARCH_V7,
    SEARCH_V8,
    SEARCH_V9,
    BenchRow,
    Measurement,
    Status,
    TuneFile,
    TuneRecord,
)
from generator.data.shipped import ShippedSet, shipped_sets
from generator.site import providers
from generator.site.providers import Role

# generator.tune.search.AA_TARGET, restated so that the site needs neither torch nor triton
# (a test checks they agree): the least relative difference that counts as faster.
NOISE_FLOOR = 0.01

ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang"}

SEARCH_TEXT = {
    SEARCH_V1: "the search used before 2026-11-29, not seeded with the engines' shipped configs",
    SEARCH_V2: (
        "the search seeded with the engines' shipped configs and defaults, its winner decided "
        "on configs timed one after the other"
    ),
    SEARCH_V3: (
        "the search seeded with the engines' shipped configs and defaults, its winner decided "
        "in an interleaved runoff against the entry that looked fastest"
    ),
    SEARCH_V4: (
        "the search seeded with the engines' shipped configs and defaults, which times its "
        "winner and every shipped or default entry against each other, interleaved, and keeps "
        "a shipped or default entry unless its own winner is faster beyond the noise"
    ),
    SEARCH_V5: (
        "the search seeded with the engines' shipped configs and defaults, whose interleaved "
        "runoff keeps a shipped or default entry unless its own winner is faster than identical "
        "work timed twice in that runoff differs (since 2026-12-02)"
    ),
    SEARCH_V6: (
        "the search of 2026-12-02 with a tie of at least 1 %: its runoff keeps a shipped or "
        "default entry unless its own winner is faster by more than that, and each pass's "
        "configs are timed together, interleaved (since 2026-12-03)"
    ),
    SEARCH_V7: (
        "the search of 2026-12-03 with shorter replays in its passes and configs far slower "
        "than a pass's fastest given no further rounds; the runoff that picks the winner is "
        "unchanged (since 2026-12-04)"
    ),
    SEARCH_V8: (
        "the search of 2026-12-04 whose runoff times each config after the activation's "
        "quantization, as the engine runs it, not on a pre-quantized activation (since "
        "2026-12-04)"
    ),
    SEARCH_V9: (
        "the search of 2026-12-04 whose runoff quantizes each input set's activation into "
        "memory of its own, as the bench does, not into one buffer per timing (since "
        "2026-12-04)"
    ),
}


def search_text(version: int) -> str:
    """What a search version did, for a reader (records.py has the details)."""
    return SEARCH_TEXT.get(version, f"search version {version} (generator.tune.search)")


@dataclass(frozen=True)
class Band:
    """A range of batch sizes M that behave alike (decode, mid, prefill)."""

    id: str
    lo: int
    hi: int | None  # None: no upper bound

    def holds(self, m: int) -> bool:
        return m >= self.lo and (self.hi is None or m <= self.hi)

    @property
    def bounds(self) -> str:
        if self.lo <= 1 and self.hi is not None:
            return f"M ≤ {self.hi}"
        if self.hi is None:
            return f"M ≥ {self.lo}"
        return f"{self.lo - 1} < M < {self.hi + 1}"

    @property
    def label(self) -> str:
        return f"{self.id} ({self.bounds})"


BANDS = (Band("decode", 1, 16), Band("mid", 17, 1023), Band("prefill", 1024, None))


def band_of(m: int) -> Band:
    return next(b for b in BANDS if b.holds(m))


Key = tuple[str | None, int | None, int, int]  # model, tp, N, K: one weight shape of a model


@dataclass(frozen=True)
class Point:
    key: Key
    M: int
    ratio: float  # reference latency / subject latency: above 1, the subject is faster
    verdict: int  # +1 faster beyond the noise, 0 within it, -1 slower


@dataclass(frozen=True)
class BandStat:
    band: Band
    n: int
    faster: int
    ties: int
    slower: int
    median: float | None
    lo: float | None
    hi: float | None


@dataclass
class Comparison:
    """The subject against one reference, at every point where both have a correct result."""

    id: str  # "vllm-0.33.0", "default", "bf16", ...
    label: str  # the reference, for a column heading
    points: list[Point]
    description: str = ""  # what the reference is, in a sentence
    # points from the benchmark sweep and from the tuning session's baselines
    from_bench: int = 0
    from_tuning: int = 0
    engine: str | None = None  # the engine whose shipped files this is ("vllm"); None: none
    # points where the engine ran its default config because its release ships no file for
    # the (GPU, shape): what it runs there; all of them: the row is its default config
    via_default: int = 0

    @property
    def all_default(self) -> bool:
        """Whether every point of an engine's row is its default config (no shipped file at
        any of its shapes): the row says so instead of "its shipped files"."""
        return bool(self.engine) and bool(self.points) and self.via_default == len(self.points)

    @property
    def source(self) -> str:
        """ "bench", "tuning", or "both"."""
        if self.from_bench and self.from_tuning:
            return "both"
        return "tuning" if self.from_tuning else "bench"

    def stat(self, band: Band) -> BandStat:
        pts = [p for p in self.points if band.holds(p.M)]
        ratios = [p.ratio for p in pts]
        return BandStat(
            band,
            len(pts),
            sum(1 for p in pts if p.verdict > 0),
            sum(1 for p in pts if p.verdict == 0),
            sum(1 for p in pts if p.verdict < 0),
            statistics.median(ratios) if ratios else None,
            min(ratios) if ratios else None,
            max(ratios) if ratios else None,
        )

    @property
    def stats(self) -> list[BandStat]:
        return [self.stat(b) for b in BANDS]

    def geomean(self, band: Band) -> float | None:
        """The geometric mean of the band's ratios: the statistic of the per-layer table, whose
        speedups over bf16 are geometric means too (one statistic per cell)."""
        ratios = [p.ratio for p in self.points if band.holds(p.M) and p.ratio > 0]
        if not ratios:
            return None
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios))

    def only(self, N: int, K: int) -> Comparison:
        """The same comparison restricted to one weight shape."""
        pts = [p for p in self.points if (p.key[2], p.key[3]) == (N, K)]
        return Comparison(self.id, self.label, pts, self.description, engine=self.engine)

    def without(self, shapes: set[tuple[int, int]], new_id: str) -> Comparison:
        """The same comparison without the points of ``shapes`` (N, K), under another id."""
        pts = [p for p in self.points if (p.key[2], p.key[3]) not in shapes]
        return Comparison(new_id, self.label, pts, self.description, engine=self.engine)

    @property
    def shapes(self) -> set[tuple[int, int]]:
        return {(p.key[2], p.key[3]) for p in self.points}


def spread(m: Measurement) -> float:
    """The p20-p80 spread of a measurement relative to its median (0 when not recorded)."""
    if m.p20_us is not None and m.p80_us is not None and m.latency_us:
        return max(0.0, (m.p80_us - m.p20_us) / m.latency_us)
    return 0.0


def control_spread(*rows: BenchRow | None) -> float:
    """The point's A/A control spread: how far apart identical work timed in the run that
    measured these rows (the widest, where they carry different ones; 0 where none has one, as
    rows of runs before 2026-12-02)."""
    return max((r.control.spread for r in rows if r is not None and r.control), default=0.0)


def judge(subject: Measurement, reference: Measurement, control: float = 0.0) -> tuple[float, int]:
    """(reference / subject latency, verdict): +1 when the subject is faster beyond the noise,
    the widest of the two p20-p80 spreads, the point's A/A ``control`` spread and
    :data:`NOISE_FLOOR`: a ratio within what identical work shows is not a difference."""
    ratio = (reference.latency_us or 0.0) / (subject.latency_us or 1.0)
    tol = max(spread(subject), spread(reference), control, NOISE_FLOOR)
    if ratio > 1 + tol:
        return ratio, 1
    if ratio < 1 / (1 + tol):
        return ratio, -1
    return ratio, 0


def ok(m: Measurement | None) -> bool:
    return m is not None and m.status == Status.OK and bool(m.latency_us)


Grid = dict[Key, dict[int, dict[str, BenchRow]]]


def grid(rows: Iterable[BenchRow]) -> Grid:
    """key -> M -> provider -> row (the first row wins if a point was measured twice)."""
    out: Grid = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        out[(r.model, r.tp, r.N, r.K)][r.M].setdefault(r.provider, r)
    return out


def _row(at: dict[str, BenchRow], name: str | None) -> BenchRow | None:
    return at.get(name) if name else None


def _meas(row: BenchRow | None) -> Measurement | None:
    return row.measurement if row else None


def judge_rows(subject: BenchRow, reference: BenchRow) -> tuple[float, int]:
    """:func:`judge` of two rows of one point, with the point's A/A control from either."""
    return judge(subject.measurement, reference.measurement, control_spread(subject, reference))


def engine_today(
    at: dict[str, BenchRow], shipped_name: str, default_name: str | None
) -> BenchRow | None:
    """The engine's shipped entry, or its default where the release ships no file (the shipped
    provider's row is then "unsupported"); its row, or None."""
    row = at.get(shipped_name)
    if row is None:
        return None
    if row.measurement.status == Status.UNSUPPORTED:
        return _row(at, default_name)
    return row


def winners(t: TuneFile) -> dict[str, dict[str, int] | None]:
    """A tuning file's winners as the config file that publishes them holds them."""
    return {str(r.M): r.winner.config for r in t.records if r.winner}


def read_config(data: bytes) -> object:
    """A config file's table, or None when its bytes are not JSON."""
    try:
        return json.loads(data.decode())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def holds(t: TuneFile, data: bytes) -> bool:
    """Whether a config file (its bytes) holds exactly the winners of tuning file ``t``."""
    table = winners(t)
    return bool(table) and read_config(data) == table


def installed_tunes(
    device_name: str, tunes: Iterable[TuneFile], vllm_files: Mapping[str, bytes]
) -> dict[tuple[int, int], TuneFile]:
    """{(N, K): tuning file} of the files the bundles install: the tuning file whose winners are
    exactly the content of the vLLM file of its shape (so the record describes what a user
    copies, whichever kernel's table it is). ``vllm_files``: the device's vLLM config files,
    name -> bytes, as the catalog read them."""
    out: dict[tuple[int, int], TuneFile] = {}
    for t in tunes:
        if t.B != 1 or t.input_type != "fp8":
            continue
        block = (t.block_n, t.block_k)
        data = vllm_files.get(file_name(FileFormat.VLLM, t.N, t.K, device_name, "fp8", block))
        if data is not None and holds(t, data):
            out[(t.N, t.K)] = t
    return out


def _release(s: ShippedSet) -> str:
    return f"{ENGINE_NAMES.get(s.engine, s.engine)} {s.version}"


def ships(s: ShippedSet, device: str | None, N: int, K: int) -> bool:
    """Whether release ``s`` ships a block-FP8 config file for this device and shape (the
    name its loader opens, in the reference copy of its files). Unknown device: False."""
    return bool(device) and s.table(device, N, K, "fp8", (128, 128)) is not None


@dataclass(frozen=True)
class Today:
    """What one engine runs without our files, as a page can compare it: its own comparison
    (its shipped files, else its default), or, where neither was measured on the GPU, the
    default-config comparison standing in for it, with why (``stand_in``), which every page
    that prints the number says next to it."""

    engine: str  # "sglang"
    name: str  # "SGLang 0.5.23"
    comparison: Comparison | None  # None: nothing to compare with on these points
    stand_in: str | None = None  # why another reference is shown; None: the engine's own
    # shapes (N, K) where the release ships a file for the device and that file was not
    # measured: "not measured" there, left out of ``comparison`` (never the default's figure)
    unmeasured: tuple[tuple[int, int], ...] = ()


@dataclass
class Gains:
    """What the installed files gain on one set of points (a device, or one model at one TP)."""

    subject: str | None  # the installed provider; None: no rows of it
    versus: list[Comparison] = field(default_factory=list)  # engines today, default, bf16
    searches: list[int] = field(default_factory=list)  # which searches produced the files
    files: int = 0  # installed files behind these points
    # release id -> the shapes (N, K) of these points it ships a file for on the device
    shipped_shapes: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    @property
    def has_shipped(self) -> bool:
        """Whether any comparison with an engine's shipped files exists (a row that is its
        default config at every point, no file shipped there, is not one)."""
        ids = {s.id for s in shipped_sets()}
        ids |= {f"{i}-tuning" for i in ids}
        return any(c.id in ids and not c.all_default for c in self.versus)

    @property
    def default_runs_nowhere(self) -> bool:
        """Whether every engine release ships a file for every weight shape of the
        default-config comparison on this GPU: no engine runs the default config here, so its
        row is a reference only (the DeepSeek-V3 pages, where vLLM ships all 15 files)."""
        dflt = self.get("default")
        if dflt is None or not dflt.points or not self.shipped_shapes:
            return False
        return all(dflt.shapes <= shapes for shapes in self.shipped_shapes.values())

    def shipped_uncompared(self, c: Comparison) -> int:
        """For an engine row that is its default config at every point compared
        (``all_default``): how many of these points' weight shapes the release does ship a file
        for on this GPU, none of whose points was compared. 0: the row is what the engine runs
        at every shape here; more: "it ships no file for these shapes" would be false."""
        release = c.id.removesuffix("-tuning")
        return len(self.shipped_shapes.get(release, set()) - c.shapes)

    def repeats(self, c: Comparison) -> Comparison | None:
        """The engine row that ``c``, a default-config row, repeats point for point: vLLM's
        own row where it is its default config at every point (it ships no file for these
        shapes), from the same source. A table shows the two once, under the engine's name."""
        if c.id.removesuffix("-tuning") != "default":
            return None
        return next(
            (
                e
                for e in self.versus
                if e.engine == "vllm"
                and e.all_default
                and e.id.endswith("-tuning") == c.id.endswith("-tuning")
                and e.points == c.points
            ),
            None,
        )

    def get(self, comparison_id: str) -> Comparison | None:
        return next((c for c in self.versus if c.id == comparison_id), None)

    def band_points(self, band: Band) -> int:
        """The band's points where our files were compared with any reference: the one
        denominator of every row of a gain table, so that a reference timed at fewer points
        says where it was not compared instead of counting out of a total of its own."""
        return _band_points(self.versus, band)

    def today(self, engine: str) -> Today:
        """What ``engine`` runs without our files on these points (see :class:`Today`). Where
        its release's comparison has no point (no rows of its shipped files or its default, no
        tuning baselines: the H100's data), vLLM's default config stands in, and only at the
        shapes the release ships no file for: for vLLM it is what vLLM runs there; for SGLang
        it stands in for SGLang's own default (another num_stages), said as such. At a shape
        the release ships a file for, its figure is "not measured" (``Today.unmeasured``)."""
        release = next((s for s in shipped_sets() if s.engine == engine), None)
        name = _release(release) if release else ENGINE_NAMES.get(engine, engine)
        own = self.get(release.id) if release else None
        if own is not None and own.points:
            shipped = self.shipped_shapes.get(release.id, set()) if release else set()
            seen = {nk for c in self.versus for nk in c.shapes}
            return Today(engine, name, own, None, tuple(sorted((shipped & seen) - own.shapes)))
        dflt = self.get("default")
        if dflt is None or not dflt.points:
            return Today(engine, name, None, None)
        shipped = self.shipped_shapes.get(release.id, set()) if release else set()
        unmeasured = tuple(sorted(shipped & dflt.shapes))
        stand = dflt.without(shipped, f"{release.id if release else engine}-stand-in")
        stand.engine = engine
        if not stand.points:
            return Today(engine, name, None, None, unmeasured)
        vllm = next((s for s in shipped_sets() if s.engine == "vllm"), None)
        stages = f" ({vllm.default_num_stages} stages)" if vllm else ""
        where = (
            f" at the {len(stand.shapes)} of {len(dflt.shapes)} weight shapes it ships no file "
            f"for here; at the other {len(unmeasured)}, where it ships a file, not measured"
            if unmeasured
            else ""
        )
        if engine == "vllm":
            why = (
                f"{name}'s shipped files were not measured on this GPU; its default config"
                f"{stages} stands in{where or ' (it ships no file for these shapes here)'}"
            )
        else:
            own_stages = f" ({release.default_num_stages} stages)" if release else ""
            why = (
                f"neither {name}'s shipped files nor its own default config{own_stages} were "
                f"measured on this GPU; vLLM's default config{stages} stands in{where}"
            )
        return Today(engine, name, stand, why, unmeasured)

    @property
    def stand_ins(self) -> list[Today]:
        """The engines whose comparison on these points is the default-config stand-in."""
        out = [self.today(s.engine) for s in shipped_sets()]
        return [t for t in out if t.stand_in]

    @property
    def missing_today(self) -> list[Today]:
        """The engines with no comparison of their own on these points that a page still has
        something to say about: a stand-in (at the shapes they ship no file for), or shapes
        they ship a file for that were not measured."""
        out = [self.today(s.engine) for s in shipped_sets()]
        own = {c.engine for c in self.versus if c.engine}  # a row of their own says the rest
        return [t for t in out if t.stand_in or (t.unmeasured and t.engine not in own)]


def gains(
    rows: list[BenchRow],
    installed: Mapping[tuple[int, int], TuneFile] | None = None,
    keys: Iterable[Key] | None = None,
    device: str | None = None,
) -> Gains:
    """Compare the installed provider's rows with each reference (see the module docstring).

    At each (weight shape, M) the benchmark answers where it has a row of the installed
    provider and of the reference; elsewhere the tuning record of the installed file at that M
    does (its baselines, or its default), so a shape whose rows predate its current file is
    still compared. ``installed``: the tuning files of the installed configs by (N, K).
    ``keys``: the weight shapes to cover (default: those with rows). ``device``: the GPU
    (vLLM's spelling), for which shapes each release ships a file for (:func:`ships`); None:
    none known, and no default stands in for a shipped file anywhere."""
    installed = installed or {}
    g = grid(rows)
    names = {r.provider for r in rows}
    subject = providers.tuned_fp8(names)
    keys = list(g) if keys is None else list(keys)
    nks = {(k[2], k[3]) for k in keys}
    used = [t for nk, t in installed.items() if nk in nks]
    out = Gains(
        subject,
        searches=sorted({r.search for t in used for r in t.records}),
        files=len(used),
        shipped_shapes={
            s.id: {nk for nk in nks if device is None or ships(s, device, *nk)}
            for s in shipped_sets()
        },
    )
    shipped_names = providers.shipped(names)
    vllm_default = providers.engine_default(names, "vllm")

    def collect(
        bench_ref: Callable[[dict[str, BenchRow], Key], BenchRow | None] | None,
        has_ref: Callable[[dict[str, BenchRow], Key], bool],
        tuning_ref: Callable[[TuneRecord, Key], Measurement | None] | None,
    ) -> tuple[list[Point], list[Point]]:
        """(bench points, tuning points): the benchmark's where it compared the pair, the
        tuning records' at the other points; never pooled into one figure."""
        bench_pts: list[Point] = []
        tuning_pts: list[Point] = []
        for key in keys:
            by_m = g.get(key, {})
            t = installed.get((key[2], key[3]))
            records = {r.M: r for r in t.records} if t else {}
            for m in sorted(set(by_m) | set(records)):
                at = by_m.get(m, {})
                if bench_ref and subject in at and has_ref(at, key):
                    mine, ref = _row(at, subject), bench_ref(at, key)
                    if ok(_meas(mine)) and ok(_meas(ref)):
                        assert mine is not None and ref is not None
                        bench_pts.append(Point(key, m, *judge_rows(mine, ref)))
                elif tuning_ref and m in records:
                    rec = records[m]
                    ref_m = tuning_ref(rec, key)
                    if ok(rec.winner) and ok(ref_m):
                        assert rec.winner is not None and ref_m is not None
                        aa = rec.runoff_aa_spread or 0.0  # the tuning session's A/A control
                        # the runoff's medians where it timed both (what decided the winner)
                        mine_m, ref_m = tune_times.comparable(rec, rec.winner, ref_m)
                        tuning_pts.append(Point(key, m, *judge(mine_m, ref_m, aa)))
        return bench_pts, tuning_pts

    def add(
        cid: str,
        label: str,
        description: str,
        found: tuple[list[Point], list[Point]],
        engine: str | None = None,
        via_default: Callable[[Point, bool], bool] | None = None,
    ) -> None:
        """One comparison per source: the benchmark's rows where it has any (quant + GEMM,
        graph replay); the tuner's runoff (GEMM only) apart, as ``<id>-tuning``, at the points
        the benchmark did not compare. Where the benchmark compared nothing, the tuning points
        are the comparison (its source says so)."""
        bench_pts, tuning_pts = found
        before = len(out.versus)
        if bench_pts:
            out.versus.append(
                Comparison(cid, label, bench_pts, description, len(bench_pts), 0, engine)
            )
            if tuning_pts:
                out.versus.append(
                    Comparison(
                        f"{cid}-tuning",
                        label,
                        tuning_pts,
                        f"{description}; timed while tuning (GEMM only), at the points the "
                        "benchmark did not compare",
                        0,
                        len(tuning_pts),
                        engine,
                    )
                )
        elif tuning_pts:
            out.versus.append(
                Comparison(cid, label, tuning_pts, description, 0, len(tuning_pts), engine)
            )
        if via_default is not None:
            for c in out.versus[before:]:
                c.via_default = sum(1 for p in c.points if via_default(p, c.source == "tuning"))

    for s in shipped_sets():
        ship = shipped_names.get(s.id)
        default_name = providers.engine_default(names, s.engine)
        dk = f"{s.engine}-default"

        def bench_ref(
            at: dict[str, BenchRow],
            key: Key,
            ship: str | None = ship,
            dn: str | None = default_name,
            ships_here: set[tuple[int, int]] = out.shipped_shapes[s.id],
        ) -> BenchRow | None:
            """What the release runs at this point: its shipped file's row where it was
            timed; where the release ships no file for the (GPU, shape) (the reference copies
            of its files), its default config's row, whether or not its shipped provider was
            run here (what runs there, not a stand-in; the same policy on every GPU); where
            it ships a file that was not timed, nothing (never the default)."""
            row = at.get(ship) if ship else None
            if row is not None and row.measurement.status != Status.UNSUPPORTED:
                return row
            if device is None:
                return engine_today(at, ship, dn) if ship else None
            return _row(at, dn) if no_file(key, ships_here) else None

        def has_ref(
            at: dict[str, BenchRow],
            key: Key,
            ship: str | None = ship,
            dn: str | None = default_name,
            ships_here: set[tuple[int, int]] = out.shipped_shapes[s.id],
        ) -> bool:
            if ship is not None and ship in at:
                return True
            return device is not None and no_file(key, ships_here) and dn is not None and dn in at

        def no_file(key: Key, ships_here: set[tuple[int, int]], release: str = s.id) -> bool:
            """The release ships no file for the (GPU, shape): none in its reference copies,
            and none timed for it while tuning (a session that timed its entry found one)."""
            nk = (key[2], key[3])
            t = installed.get(nk)
            timed = t is not None and any(r.baselines.get(release) for r in t.records)
            return nk not in ships_here and not timed

        def tuning_ref(
            rec: TuneRecord,
            key: Key,
            s: ShippedSet = s,
            dk: str = dk,
            ships_here: set[tuple[int, int]] = out.shipped_shapes[s.id],
        ) -> Measurement | None:
            """The release's shipped entry as the session timed it; its default only where
            it ships no file for the shape (never standing in for a file)."""
            if rec.baselines.get(s.id) is not None:
                return rec.baselines[s.id]
            return None if (key[2], key[3]) in ships_here else rec.baselines.get(dk)

        add(
            s.id,
            _release(s),
            f"what {_release(s)} runs without our files: its shipped config file for "
            "the shape where it ships one, else its default config",
            collect(bench_ref, has_ref, tuning_ref),
            s.engine,
            lambda p, tuning, s=s, ship=ship: _ran_default(g, installed, p, tuning, s.id, ship),
        )
    add(
        "default",
        "vLLM's default config",
        "the kernel's default config as vLLM sets it: what vLLM runs for a shape it has "
        "no file for",
        collect(
            (lambda at, key: _row(at, vllm_default)) if vllm_default else None,
            lambda at, key: vllm_default in at,
            lambda rec, key: rec.default,
        ),
    )
    base = next((n for n in providers.ordered(names) if providers.style(n).is_baseline), None)
    if base:
        add(
            "bf16",
            "bf16",
            "the same layer in bf16 (cuBLAS)",
            collect(lambda at, key: _row(at, base), lambda at, key: base in at, None),
        )
    return out


def _ran_default(
    g: Grid,
    installed: Mapping[tuple[int, int], TuneFile],
    p: Point,
    tuning: bool,
    release: str,
    ship: str | None,
) -> bool:
    """Whether an engine row's point was its default config rather than a shipped file: the
    shipped provider had no correct row there (bench), or the session timed no shipped entry
    (tuning)."""
    if tuning:
        t = installed.get((p.key[2], p.key[3]))
        rec = next((r for r in t.records if r.M == p.M), None) if t else None
        return rec is None or rec.baselines.get(release) is None
    row = g.get(p.key, {}).get(p.M, {}).get(ship) if ship else None
    return row is None or row.measurement.status == Status.UNSUPPORTED


def _band_points(comparisons: Iterable[Comparison | None], band: Band) -> int:
    """Distinct (weight shape, M) points of ``band`` among the comparisons."""
    return len({(p.key, p.M) for c in comparisons if c for p in c.points if band.holds(p.M)})


@dataclass
class Others:
    """The fastest correct kernel that our files do not install, per point, against bf16 and
    against the installed kernel."""

    vs_bf16: Comparison
    vs_installed: Comparison | None
    fastest: dict[str, Counter]  # band id -> provider -> points where it was the fastest

    def band_points(self, band: Band) -> int:
        """The band's points where one of these kernels was compared (the table's one
        denominator, as :meth:`Gains.band_points`)."""
        return _band_points((self.vs_bf16, self.vs_installed), band)


def others(rows: list[BenchRow]) -> Others | None:
    g = grid(rows)
    names = {r.provider for r in rows}
    candidates = [
        n
        for n in providers.ordered(names)
        if providers.style(n).drop_in_block and providers.style(n).role in (Role.LIBRARY, Role.OURS)
    ]
    base = next((n for n in providers.ordered(names) if providers.style(n).is_baseline), None)
    if not candidates or base is None:
        return None
    subject = providers.tuned_fp8(names)
    fastest: dict[str, Counter] = {b.id: Counter() for b in BANDS}
    vs_bf16: list[Point] = []
    vs_installed: list[Point] = []
    for key, by_m in g.items():
        for m in sorted(by_m):
            at = by_m[m]
            good = [at[n] for n in candidates if n in at and ok(at[n].measurement)]
            if not good:
                continue
            best = min(good, key=lambda r: r.measurement.latency_us or 0.0)
            b = _row(at, base)
            if b is not None and ok(b.measurement):
                vs_bf16.append(Point(key, m, *judge_rows(best, b)))
                fastest[band_of(m).id][best.provider] += 1
            mine = _row(at, subject)
            if mine is not None and ok(mine.measurement):
                vs_installed.append(Point(key, m, *judge_rows(best, mine)))
    return Others(
        Comparison(
            "others-bf16",
            "bf16",
            vs_bf16,
            "the fastest correct kernel our files do not install, against the layer in bf16",
            len(vs_bf16),
        ),
        Comparison(
            "others-installed",
            providers.style(subject).label,
            vs_installed,
            "the fastest correct kernel our files do not install, against the installed one",
            len(vs_installed),
        )
        if subject
        else None,
        fastest,
    )
