"""What one (device, model, TP) page shows, computed before any template runs.

Why per TP: a deployment runs one model at one tensor-parallel size, and TP decides the weight
shapes, so the install answer ("these files, this gain") is per (GPU, model, TP). A model that
was benchmarked gets one page per TP size of its rows; a model that was only tuned gets one per
default TP size with at least one tuned shape.

The page leads with what to install: a bundle per engine holding exactly this model's files
under the engine's names (with a manifest saying which file serves which layer, whether the
engine release ships a file of the same name, and the tuning run that produced it), single-file
links, the measured gain by band of M (:mod:`generator.site.gains`), when the engine runs the
Triton kernel at all and how to confirm it in its log (:mod:`generator.site.engines`), and what
is not covered. Then one recommendation row per layer (:mod:`generator.site.recommend`), then a
section per weight shape with its chart and tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.configs.engine_files import file_name
from generator.data import models, tune_times
from generator.data.records import (
    SEARCH_V1,
    BenchRow,
    Measurement,
    Status,
    TuneFile,
    TuneRecord,
    record_provenance,
)
from generator.data.tune_times import published
from generator.errors import UserError
from generator.site import charts, engines, gains, providers, recommend, verdict
from generator.site.catalog import Catalog, Device, ModelOnDevice
from generator.site.model_bundles import BundleEntry, zip_bundle
from generator.site.runs import BenchRun, bench_runs


@dataclass
class ShapeAtTP:
    """One weight shape of the model at this TP, with the layers that use it."""

    N: int
    K: int
    layers: list[str]
    rows: list[BenchRow]
    tunes: list[TuneFile]
    # only unsplit layers have it (models.dp_attention_only): it runs only with data-parallel
    # attention, so the TP's medians and counts leave it out and the page shows it apart
    dp_only: bool = False

    @property
    def key(self) -> str:
        return f"N{self.N}-K{self.K}"


@dataclass
class ModelTP:
    model: ModelOnDevice
    tp: int | None
    shapes: list[ShapeAtTP]

    @property
    def slug(self) -> str:
        return self.model.slug if self.tp is None else f"{self.model.slug}-tp{self.tp}"

    @property
    def title(self) -> str:
        return self.model.id if self.tp is None else f"{self.model.id}, TP {self.tp}"

    @property
    def scope(self) -> str:
        """The key of this page's figures (``data-fact`` attributes, the summary CSV)."""
        return self.model.id if self.tp is None else f"{self.model.id}@tp{self.tp}"

    @property
    def rows(self) -> list[BenchRow]:
        return [r for s in self.shapes for r in s.rows]

    @property
    def keys(self) -> list[gains.Key]:
        return [(self.model.id, self.tp, s.N, s.K) for s in self.shapes]

    @property
    def tp_shapes(self) -> list[ShapeAtTP]:
        """The shapes a plain tensor-parallel deployment at this TP runs: what its medians,
        counts and verdict pool."""
        return [s for s in self.shapes if not s.dp_only]

    @property
    def dp_shapes(self) -> list[ShapeAtTP]:
        """The shapes that run only with data-parallel attention (shown apart)."""
        return [s for s in self.shapes if s.dp_only]


def _named(catalog: Catalog, model_id: str, tp: int | None, nk: tuple[int, int]) -> list[str]:
    """The layers of a measured shape, named from the model's config where the catalog has it
    (a run's recorded names may predate the current naming: "unattributed (vLLM list)" for
    DeepSeek-V3's q_a_proj)."""
    spec = catalog.specs.get(model_id)
    return models.layer_names(spec, tp, *nk) if spec is not None and tp else []


def _dp_only(catalog: Catalog, model_id: str, tp: int | None) -> set[tuple[int, int]]:
    spec = catalog.specs.get(model_id)
    if spec is None or not tp:
        return set()
    try:
        return models.dp_attention_only(models.weight_shapes(spec, tp))
    except UserError:
        return set()


def dp_only_keys(catalog: Catalog, rows: list[BenchRow]) -> set[gains.Key]:
    """The (model, TP, N, K) of ``rows`` that run only with data-parallel attention: what a
    device's summary leaves out of its TP medians, as the model pages do."""
    out: set[gains.Key] = set()
    for model_id, tp in {(r.model, r.tp) for r in rows if r.model}:
        out |= {(model_id, tp, n, k) for n, k in _dp_only(catalog, model_id, tp)}
    return out


def model_tps(catalog: Catalog, d: Device, m: ModelOnDevice) -> list[ModelTP]:
    """The pages of one model on one device, one per TP size."""
    if m.rows:
        by_tp: dict[int | None, dict[tuple[int, int], ShapeAtTP]] = defaultdict(dict)
        tps = {r.tp for rows in m.rows.values() for r in rows}
        dp = {tp: _dp_only(catalog, m.id, tp) for tp in tps}
        from_config: set[tuple[int | None, tuple[int, int]]] = set()
        for nk, rows in m.rows.items():
            for r in rows:
                shape = by_tp[r.tp].get(nk)
                if shape is None:
                    named = _named(catalog, m.id, r.tp, nk)
                    if named:
                        from_config.add((r.tp, nk))
                    shape = ShapeAtTP(*nk, named, [], m.tunes.get(nk, []), nk in dp[r.tp])
                    by_tp[r.tp][nk] = shape
                if (r.tp, nk) not in from_config and r.layer and r.layer not in shape.layers:
                    shape.layers.append(r.layer)  # no config of the model: the run's names
                shape.rows.append(r)
        return [
            ModelTP(m, tp, list(shapes.values()))
            for tp, shapes in sorted(by_tp.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ]
    spec = catalog.specs.get(m.id)
    if spec is None:
        return []
    out = []
    for tp in models.default_tp_sizes(spec):
        try:
            shapes = models.weight_shapes(spec, tp)
        except UserError:
            continue
        at: dict[tuple[int, int], ShapeAtTP] = {}
        dp = models.dp_attention_only(shapes)
        for ws in shapes:
            nk = (ws.N, ws.K)
            if nk in m.tunes:
                at.setdefault(
                    nk, ShapeAtTP(ws.N, ws.K, [], [], m.tunes[nk], nk in dp)
                ).layers.append(ws.layer)
        if at:
            out.append(ModelTP(m, tp, list(at.values())))
    return out


@dataclass
class FileRow:
    """One weight shape's config file for one engine."""

    shape: ShapeAtTP
    name: str  # the engine's file name
    present: bool  # we publish it
    src: str | None  # its download path on the site
    ships: bool  # the engine release ships a file of this name for this device
    tune: TuneFile | None  # the tuning run whose winners it holds


@dataclass
class EngineInstall:
    engine: engines.Engine
    files: list[FileRow]
    bundle_src: str | None
    today: gains.Comparison | None  # the gain over what this engine runs today
    # where that was not measured: the default-config comparison standing in, and why
    stand_in: gains.Today | None = None
    # shapes where the release ships a file here and that file was not measured (no figure)
    unmeasured: tuple[tuple[int, int], ...] = ()

    @property
    def present(self) -> int:
        return sum(1 for f in self.files if f.present)

    @property
    def shipped_replaced(self) -> int:
        return sum(1 for f in self.files if f.present and f.ships)


@dataclass
class ModelPage:
    mt: ModelTP
    gains: gains.Gains
    installs: list[EngineInstall]
    advice: list[dict[str, Any]]  # per shape: its BandAdvice and gains per band
    sections: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    bench_runs: list[BenchRun]  # the runs behind the page's rows (their own provenance)
    tune_runs: list[dict[str, Any]]
    downloads: dict[str, bytes] = field(default_factory=dict)
    # per engine: what it runs here by default and Triton with our files against it
    verdicts: list[verdict.EngineVerdict] = field(default_factory=list)
    # the shapes that run only with data-parallel attention, judged apart (None: no such shape)
    dp: DataParallelOnly | None = None
    # rows of our tuned files left out: they timed an earlier file than the one installed now
    # (generator.site.stale)
    stale: int = 0

    @property
    def refs(self) -> dict[str, verdict.Reference]:
        """Per engine, how this page names its Triton kernel with its shipped files (by what
        the dispatch rules say it runs here: "today" only where that is Triton)."""
        return {v.engine: v.reference for v in self.verdicts}


@dataclass
class DataParallelOnly:
    """The shapes of a TP page that run only with data-parallel attention ("(unsplit)"
    layers), with their own gains and verdict: never pooled into the TP's."""

    part: ModelTP
    gains: gains.Gains
    verdicts: list[verdict.EngineVerdict]

    @property
    def refs(self) -> dict[str, verdict.Reference]:
        """Per engine, how these shapes name its Triton kernel with its shipped files."""
        return {v.engine: v.reference for v in self.verdicts}


def publishes(d: Device, shapes: list[tuple[int, int]]) -> Callable[[str], bool]:
    """Whether the device publishes, for one of ``shapes`` (N, K), an engine config file that
    installs a provider (its scheme's dtype, under an engine it is installable for): a page
    calls a provider "installed by our files" only where such a file is."""
    names = {eng: {f.name for f in files} for eng, files in d.configs.items()}

    def has_file(provider: str) -> bool:
        dtype = providers.file_dtype(provider)
        if dtype is None:
            return False
        return any(
            file_name(engine, n, k, d.name, dtype, (128, 128)) in names.get(engine, set())
            for engine in providers.style(provider).installable
            for n, k in shapes
        )

    return has_file


def downloads_dir(d: Device) -> str:
    return f"devices/{d.slug}/downloads"


def config_src(d: Device, engine_id: str, name: str) -> str:
    return f"devices/{d.slug}/configs/{engine_id}/{name}"


def bundle_src(d: Device, mt: ModelTP, engine_id: str) -> str:
    return f"{downloads_dir(d)}/{mt.slug}-{engine_id}-configs.zip"


def tune_runs(tunes: list[TuneFile]) -> list[dict[str, Any]]:
    """The tuning runs behind a set of files, from each record's own provenance (a file may
    hold records of several runs): how many files and records each run wrote, which search."""
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for t in tunes:
        for rec in t.records:
            p = record_provenance(t, rec)
            run = runs.setdefault(
                (p.git_sha, p.date.date().isoformat()),
                {"provenance": p, "files": set(), "records": 0, "searches": set()},
            )
            run["files"].add(id(t))
            run["records"] += 1
            run["searches"].add(rec.search)
    out = sorted(runs.values(), key=lambda r: r["provenance"].date)
    for r in out:
        r["files"] = len(r["files"])
        r["searches"] = sorted(r["searches"])
    return out


def error_table(rows: list[BenchRow]) -> list[dict[str, Any]]:
    """Per provider, over the page: the worst relative error among correct rows, and how many
    rows had each status."""
    out = []
    for name in providers.ordered({r.provider for r in rows}):
        mine = [r for r in rows if r.provider == name]
        ok_errs = [
            r.measurement.rel_error
            for r in mine
            if r.measurement.status == Status.OK and r.measurement.rel_error is not None
        ]
        counts: dict[str, int] = {}
        for r in mine:
            counts[r.measurement.status.value] = counts.get(r.measurement.status.value, 0) + 1
        out.append(
            {
                "provider": name,
                "max_ok": max(ok_errs) if ok_errs else None,
                "ok": counts.pop(Status.OK.value, 0),
                "bad": counts,
            }
        )
    return out


def tune_table(t: TuneFile) -> dict[str, Any]:
    """A tuning file as a table: per M the winner's config and time, each baseline's time
    (the engines' shipped entries and defaults, timed in the same session), the gain. Times
    are the runoff's medians where it timed the config (:mod:`generator.data.tune_times`),
    and every ratio is of two times of the same timing."""
    releases = {s.id: s for s in engines.shipped_sets()}
    keys: list[str] = []
    for rec in t.records:
        for k in rec.baselines:
            if k not in keys:
                keys.append(k)

    def label(k: str) -> str:
        if k in releases:
            s = releases[k]
            return f"{gains.ENGINE_NAMES.get(s.engine, s.engine)} {s.version} file µs"
        engine = k.removesuffix("-default")
        return f"{gains.ENGINE_NAMES.get(engine, engine)} default µs"

    def us(rec: TuneRecord, m: Measurement | None) -> float | None:
        shown = published(rec, m)
        return shown.latency_us if shown is not None and gains.ok(shown) else None

    def ratio(rec: TuneRecord, w: Measurement | None, refs: list[Measurement]) -> float | None:
        """The fastest of ``refs`` over the winner, each pair timed the same way."""
        if w is None or not gains.ok(w):
            return None
        pairs = [tune_times.comparable(rec, w, m) for m in refs if gains.ok(m)]
        best = [r.latency_us / mine.latency_us for mine, r in pairs if r.latency_us]
        return min(best) if best else None

    def from_search(rec: TuneRecord, m: Measurement | None) -> bool:
        return m is not None and tune_times.runoff_us(rec, m) is None

    rows = []
    for rec in t.records:
        w, dflt = rec.winner, rec.default
        rows.append(
            {
                "M": rec.M,
                # cells the runoff did not time show the search's GEMM-only time, marked
                "tuned_search": from_search(rec, w),
                "default_search": from_search(rec, dflt),
                "baselines_search": [from_search(rec, rec.baselines.get(k)) for k in keys],
                "config": (w.config or {}) if w else {},
                "status": w.status.value if w else "no correct config",
                "tuned_us": us(rec, w),
                "default_us": us(rec, dflt),
                "default_status": dflt.status.value,
                "baselines": [us(rec, rec.baselines.get(k)) for k in keys],
                "vs_default": ratio(rec, w, [dflt]),
                "vs_best": ratio(rec, w, [dflt, *rec.baselines.values()])
                if rec.baselines
                else None,
                "source": rec.winner_source,
                "search": rec.search,
                "timed": rec.configs_timed,
                "space": rec.configs_in_space,
            }
        )
    return {
        "file": t,
        "runs": tune_runs([t]),
        "baseline_labels": [label(k) for k in keys],
        "has_baselines": bool(keys),
        "rows": rows,
        # how the runoff timed, if any record's did: as served (search 8 on) or GEMM alone
        "served": any(r.runoff_us and tune_times.runoff_served(r) for r in t.records),
        "gemm_alone": any(r.runoff_us and not tune_times.runoff_served(r) for r in t.records),
        "any_search_times": any(
            r["tuned_search"] or r["default_search"] or any(r["baselines_search"]) for r in rows
        ),
    }


def build(
    catalog: Catalog,
    d: Device,
    mt: ModelTP,
    installed: dict[tuple[int, int], TuneFile],
    readme: Any,
) -> ModelPage:
    """Everything the page template needs, and the page's bundles (``readme``: renders a
    bundle's README from its context)."""
    pooled = ModelTP(mt.model, mt.tp, mt.tp_shapes)  # what a plain TP deployment runs
    g = gains.gains(pooled.rows, installed, pooled.keys, d.name)

    def verdicts_of(part: ModelTP) -> list[verdict.EngineVerdict]:
        return verdict.verdicts(
            d.name,
            verdict.recorded_arch(d.provenance, *(r.provenance for r in mt.rows)),
            part.rows,
            part.keys,
            {key: s.layers for key, s in zip(part.keys, part.shapes, strict=True)},
            d.out_dtypes.get("model", "bfloat16"),
        )

    verdicts = verdicts_of(pooled)
    refs = {v.engine: v.reference for v in verdicts}
    installs = []
    dl: dict[str, bytes] = {}
    for eng in engines.engines():
        published = {f.name for f in d.configs.get(eng.id, [])}
        files = []
        for s in mt.shapes:
            name = eng.file_name(s.N, s.K, d.name)
            present = name in published
            files.append(
                FileRow(
                    s,
                    name,
                    present,
                    config_src(d, eng.id, name) if present else None,
                    engines.ships(eng.release, d.name, s.N, s.K),
                    installed.get((s.N, s.K)),
                )
            )
        now = g.today(eng.id)
        today = None if now.stand_in else now.comparison
        stand_in = now if now.stand_in else None
        src = None
        if any(f.present for f in files):
            src = bundle_src(d, mt, eng.id)
            dl[src] = _bundle(d, mt, eng, files, g, today, readme, stand_in, refs.get(eng.id))
        installs.append(EngineInstall(eng, files, src, today, stand_in, now.unmeasured))
    dp_part = ModelTP(mt.model, mt.tp, mt.dp_shapes)
    dp = None
    if dp_part.shapes:
        dp_gains = gains.gains(dp_part.rows, installed, dp_part.keys, d.name)
        dp = DataParallelOnly(dp_part, dp_gains, verdicts_of(dp_part) if dp_part.rows else [])
    # this page's rows of ours left out as stale (generator.site.stale)
    stale = [r for r in d.stale.get("model", []) if (r.model, r.tp) == (mt.model.id, mt.tp)]
    advice = []
    for s in mt.shapes:
        if not s.rows:
            continue
        of, names = (dp.gains, dp.refs) if s.dp_only and dp is not None else (g, refs)
        bands = []
        of_shape = [r for r in stale if (r.N, r.K) == (s.N, s.K)]
        for a in recommend.advice(s.rows, of_shape):
            today = []
            skip = ("default", "bf16", "default-tuning", "bf16-tuning")
            for c in (c for c in of.versus if c.id not in skip and not c.id.endswith("-tuning")):
                # one source per figure: the benchmark's points of the shape, else (where it
                # compared none in the band) the tuner's, never the two pooled
                gm = c.only(s.N, s.K).geomean(a.band)
                twin = of.get(f"{c.id}-tuning")
                if gm is None and twin is not None:
                    gm = twin.only(s.N, s.K).geomean(a.band)
                ref = names.get(c.engine or "")
                if gm is not None:
                    today.append((ref.short if ref else c.label, gm))
            bands.append({"a": a, "today": today})
        advice.append({"shape": s, "bands": bands})
    sections = []
    for s, key in zip(mt.shapes, mt.keys, strict=True):
        names, vs = (dp.refs, dp.verdicts) if s.dp_only and dp is not None else (refs, verdicts)
        defaults = [t for t in (verdict.default_times(v, key) for v in vs) if t is not None]
        sections.append(
            {
                "shape": s,
                "chart": charts.model_chart(s.rows, publishes(d, [(s.N, s.K)]), names, defaults),
                "ranges": recommend.ranges(s.rows),
                "tunes": [tune_table(t) for t in s.tunes],
            }
        )
    used = [installed[(s.N, s.K)] for s in mt.shapes if (s.N, s.K) in installed]
    return ModelPage(
        mt,
        g,
        installs,
        advice,
        sections,
        error_table(mt.rows),
        bench_runs(mt.rows),
        tune_runs(used),
        dl,
        verdicts,
        dp,
        len(stale),
    )


def _band_medians(c: gains.Comparison | None) -> dict[str, float | None]:
    if c is None:
        return {}
    return {s.band.id: (round(s.median, 4) if s.median else None) for s in c.stats}


def _bundle(
    d: Device,
    mt: ModelTP,
    eng: engines.Engine,
    files: list[FileRow],
    g: gains.Gains,
    today: gains.Comparison | None,
    readme: Any,
    stand_in: gains.Today | None = None,
    ref: verdict.Reference | None = None,
) -> bytes:
    entries = []
    for f in files:
        published = d.config_file(eng.id, f.name) if f.present else None
        if published is None:
            continue
        about: dict[str, Any] = {
            "layers": f.shape.layers,
            "N": f.shape.N,
            "K": f.shape.K,
            "replaces_shipped_file": f.ships,
        }
        if eng.release:
            about["compared_with"] = eng.release.id
        if today is not None:
            # the engine's Triton kernel with its own files: what runs where it runs Triton,
            # which is not its default where its rules pick another backend (Hopper: DeepGEMM,
            # FlashInfer); the README's warning and the page's verdict say where
            about["median_speedup_over_engine_triton"] = _band_medians(
                today.only(f.shape.N, f.shape.K)
            )
        elif stand_in is not None and stand_in.comparison is not None:
            about["median_speedup_over_stand_in"] = _band_medians(
                stand_in.comparison.only(f.shape.N, f.shape.K)
            )
            about["stand_in"] = stand_in.stand_in
        if f.tune is not None:
            about["tuned"] = [
                {
                    "git_sha": run["provenance"].git_sha,
                    "date": run["provenance"].date.isoformat(),
                    "gpu_name": run["provenance"].gpu_name,
                    "torch": run["provenance"].torch,
                    "triton": run["provenance"].triton,
                    "batch_sizes": run["records"],
                    "search": run["searches"],
                }
                for run in tune_runs([f.tune])
            ]
        entries.append(BundleEntry(eng.id, f.name, published.data, about))
    missing = [
        {"layers": f.shape.layers, "N": f.shape.N, "K": f.shape.K, "file": f.name}
        for f in files
        if not f.present
    ]
    manifest = {
        "device": d.name,
        "model": mt.model.id,
        "tp": mt.tp,
        "engine": eng.id,
        "missing": missing,
        "not_covered": "fused-MoE expert configs (a different file family)",
        "speedups": "per file and band of M: median of the reference's time / ours with this "
        "file, where both ran the Triton kernel (median_speedup_over_engine_triton: the "
        "engine's Triton kernel with its shipped file or default config); not a gain over the "
        "engine's default backend where that is not Triton",
    }
    text = readme(
        d=d,
        mt=mt,
        eng=eng,
        files=files,
        today=today,
        stand_in=stand_in,
        ref=ref,
        gains=g,
        bands=gains.BANDS,
        search_text=gains.search_text,
        SEARCH_V1=SEARCH_V1,
        hopper=engines.is_hopper(d.name),
    )
    return zip_bundle(entries, text, manifest)
