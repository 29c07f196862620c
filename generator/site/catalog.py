"""Load and validate all of ``site_data/`` into one in-memory catalog the pages are made from.

Why a separate stage: every file is validated here, before any page is rendered, so a corrupt or
hand-edited record fails the build with the file and the field (``records.load`` does that for
the schema; this module adds the checks the schema cannot express: config-file contents, safe
names, sweeps without rows). Rendering then never has to cope with a half-valid input.

Every part of a device folder is optional: a device that has only been tuned (no benchmark)
still gets a page, and an empty ``site_data/devices`` gives a catalog with no devices.

Everything the pages and downloads need from the disk is read here, once: the records, the
bytes of every file offered for download (records, config files) and what each device's
config bundle holds. Rendering (:mod:`generator.site.render`) reads nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from generator.configs.engine_files import FileFormat, batch_key
from generator.data import layout, models
from generator.data.records import (
    BenchFile,
    BenchRow,
    Ceilings,
    DeviceFile,
    ModelFile,
    Provenance,
    PruningCheck,
    SiteDataError,
    TuneFile,
    TuneTimeCheck,
    load,
)
from generator.errors import UserError
from generator.site import providers
from generator.site.bundles import ConfigFile, DeviceBundle, read_device_bundle
from generator.site.runs import PruningRow, Run, collect_runs, pruning_rows
from generator.site.stale import stale_rows

log = logging.getLogger("mkdocs.plugins.blockgemm")

_SAFE_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A URL- and file-safe form of a device or model name (no separators, no leading dot)."""
    out = _SAFE_SLUG.sub("-", name).strip("-.")
    return out or "unnamed"


@dataclass(frozen=True)
class Shape:
    """One weight shape of a model on one device page: the (N, K) GEMM and the layers using it."""

    N: int
    K: int
    layers: tuple[str, ...]  # "q_proj (tp=1)" ...

    @property
    def key(self) -> str:
        return f"N{self.N}-K{self.K}"


@dataclass
class ModelOnDevice:
    """What one device has measured for one model: bench rows and tuning grouped by shape."""

    id: str
    slug: str
    hf_name: str | None
    shapes: list[Shape]
    rows: dict[tuple[int, int], list[BenchRow]]  # (N, K) -> model-sweep rows
    tunes: dict[tuple[int, int], list[TuneFile]]  # (N, K) -> tuning files (B == 1)


@dataclass
class Device:
    name: str  # directory name: the device name as vLLM spells it
    slug: str
    root: Path
    provenance: Provenance
    ceilings: Ceilings | None
    tunes: list[TuneFile] = field(default_factory=list)
    bench: dict[str, list[BenchRow]] = field(default_factory=dict)  # sweep -> rows
    pruning: PruningCheck | None = None
    tune_times: list[TuneTimeCheck] = field(default_factory=list)
    configs: dict[str, list[ConfigFile]] = field(default_factory=dict)  # folder -> files
    # every JSON record, by path relative to the device folder: its bytes, for download
    raw_files: dict[str, bytes] = field(default_factory=dict)
    # what the device's zip holds; None without config files or without device.json
    bundle: DeviceBundle | None = None
    models: list[ModelOnDevice] = field(default_factory=list)
    # A GPU contributed by pull request: the contributor's handle (device.json); None for the
    # project's own machines. Pages show contributed devices as such, with their runs.
    contributed_by: str | None = None
    # Every run that measured something of this device, newest first, with what it measured
    # (per record: one tuning or bench file can hold several runs). See generator.site.runs.
    runs: list[Run] = field(default_factory=list)
    # The pruning check's points with a ratio that is None where a time is not positive.
    pruning_rows: list[PruningRow] = field(default_factory=list)
    # every record file's own provenance (its last writer's), by path relative to the device
    # folder: what the data-files table lists for a file; bench rows are cited by their own
    # provenance (generator.site.runs.bench_runs), never by their file's
    sources: dict[str, Provenance] = field(default_factory=dict)
    # the bench rows of each record file, by path: the data-files table lists their runs
    file_rows: dict[str, list[BenchRow]] = field(default_factory=dict)
    # the output dtype of each sweep's 8-bit GEMMs (BenchFile.out_dtype; files from before it
    # was recorded were bf16): which of the engines' dispatch rules apply to its rows
    out_dtypes: dict[str, str] = field(default_factory=dict)
    # sweep -> the ceilings its file's last run measured at its start, and that run: each run
    # measures its own and computes its rows' % of roofline from them, so the page shows each
    # file's, not one set for the device
    sweep_ceilings: dict[str, tuple[Ceilings, Provenance]] = field(default_factory=dict)
    # sweep -> rows of our tuned files that timed an earlier file than the one installed now,
    # left out of every page (generator.site.stale); the pages say how many
    stale: dict[str, list[BenchRow]] = field(default_factory=dict)

    # What headings, page titles and the navigation call the device: the GPU's name as its run
    # recorded it ("NVIDIA H200"), the folder name ("NVIDIA_H200") only where that name is not
    # plain text or another device has the same one (set by load_catalog, which sees them all).
    # URLs, file names and commands keep the folder name.
    title: str = ""

    def config_file(self, folder: str, name: str) -> ConfigFile | None:
        """One config file of ``configs/<folder>/`` by its name, if this device has it."""
        return next((f for f in self.configs.get(folder, []) if f.name == name), None)

    @property
    def mla_rows(self) -> list[BenchRow]:
        return self.bench.get("mla", [])

    @property
    def batched_tunes(self) -> list[TuneFile]:
        return [t for t in self.tunes if t.B > 1]

    @property
    def has_configs(self) -> bool:
        return any(self.configs.values())

    @property
    def contributed(self) -> bool:
        return self.contributed_by is not None


@dataclass
class Catalog:
    root: Path
    devices: list[Device]
    models: dict[str, ModelFile]  # bundled model files by id
    # each bundled model's shapes (models.load_model of its id), read with the model files
    specs: dict[str, models.ModelSpec] = field(default_factory=dict)

    @property
    def model_ids(self) -> list[str]:
        """Every model with a page on at least one device, in a stable order."""
        return sorted({m.id for d in self.devices for m in d.models})


def _json_files(folder: Path) -> list[Path]:
    """Regular ``*.json`` files of a folder, sorted; symlinks are refused, not followed, so a
    link cannot smuggle a file from outside ``site_data`` into the site or a bundle."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix != ".json":
            continue
        if path.is_symlink() or not path.is_file():
            raise SiteDataError(f"{path}: not a regular file (symlinks are not published)")
        out.append(path)
    return out


def validate_config_file(path: Path, framework: str, data: bytes) -> None:
    """A drop-in config (``data``, read from ``path``) must be what the framework's loader
    expects: ``{"<M>": {NAME: int}}``. The a16w8 format is our own and only has to be a JSON
    object."""
    try:
        raw = json.loads(data.decode())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SiteDataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SiteDataError(f"{path}: field '<root>': expected an object keyed by M")
    if FileFormat(framework) is FileFormat.A16W8:
        return
    for key, cfg in raw.items():
        try:
            batch_key(key)
        except ValueError:
            raise SiteDataError(
                f"{path}: field '{key}': keys must be batch sizes (positive integers)"
            ) from None
        if not isinstance(cfg, dict) or not cfg:
            raise SiteDataError(f"{path}: field '{key}': expected a non-empty config object")
        for name, value in cfg.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise SiteDataError(f"{path}: field '{key}.{name}': expected an integer")


def _read_config_file(path: Path, folder: str) -> ConfigFile:
    data = path.read_bytes()
    validate_config_file(path, folder, data)
    return ConfigFile(folder, path.name, path, data)


def _scoped(device: str, bench_files: list[BenchFile]) -> list[BenchFile]:
    """The device's bench files with the rows of every provider the registry does not know
    under its device-scoped name (:func:`providers.learn`), so its recorded metadata applies
    to this device's rows only."""
    renames: dict[str, str] = {}
    for bf in bench_files:
        renames.update(providers.learn(bf.providers.values(), device))
        providers.seen(r.provider for r in bf.rows)
    if not renames:
        return bench_files
    return [
        bf.model_copy(update={"rows": [_renamed(r, renames) for r in bf.rows]})
        for bf in bench_files
    ]


def _renamed(row: BenchRow, renames: dict[str, str]) -> BenchRow:
    update: dict[str, object] = {}
    if row.provider in renames:
        update["provider"] = renames[row.provider]
    if row.same_work_as in renames:
        update["same_work_as"] = renames[row.same_work_as]
    if row.control is not None and row.control.provider in renames:
        control = row.control.model_copy(update={"provider": renames[row.control.provider]})
        update["control"] = control
    return row.model_copy(update=update) if update else row


def _load_device(site_data: Path, name: str, specs: list[models.ModelSpec]) -> Device | None:
    root = layout.device_dir(site_data, name)
    device_path = layout.device_file(site_data, name)
    device_file = load(device_path, DeviceFile) if device_path.exists() else None
    tune_paths = _json_files(layout.tuning_dir(site_data, name))
    tunes = [load(p, TuneFile) for p in tune_paths]
    bench_paths = _json_files(layout.bench_dir(site_data, name))
    bench_files = _scoped(name, [load(p, BenchFile) for p in bench_paths])
    pruning_path = layout.pruning_check_file(site_data, name)
    pruning = load(pruning_path, PruningCheck) if pruning_path.exists() else None
    # the tuner writes one tune-time record per (models, TP sizes, kernels, GPU count) run
    tune_time_paths = layout.tune_time_files(site_data, name)
    tune_times = [load(p, TuneTimeCheck) for p in tune_time_paths]
    config_paths = {
        fw: _json_files(layout.framework_dir(site_data, name, fw)) for fw in layout.CONFIG_FOLDERS
    }
    configs = {fw: [_read_config_file(p, fw) for p in paths] for fw, paths in config_paths.items()}

    provenances = [f.provenance for f in (device_file, *bench_files, *tunes) if f is not None]
    if not provenances:
        if any(configs.values()):
            raise SiteDataError(f"{device_path}: file not found (needed for provenance)")
        log.warning("blockgemm: %s holds no records; skipped", root)
        return None
    ceilings = device_file.ceilings if device_file else None
    if ceilings is None and bench_files:
        ceilings = bench_files[0].ceilings

    bench: dict[str, list[BenchRow]] = defaultdict(list)
    stale: dict[str, list[BenchRow]] = {}
    for path, bf in zip(bench_paths, bench_files, strict=True):
        for i, row in enumerate(bf.rows):
            if row.sweep != bf.sweep:
                raise SiteDataError(
                    f"{path}: field 'rows.{i}.sweep': '{row.sweep}' in a '{bf.sweep}' file"
                )
        dropped = stale_rows(bf.rows, tunes, bf.out_dtype or "bfloat16")
        if dropped:
            stale[bf.sweep] = dropped
        gone = {id(r) for r in dropped}
        bench[bf.sweep].extend(r for r in bf.rows if id(r) not in gone)

    raw = [device_path] if device_file else []
    raw += tune_paths + bench_paths + tune_time_paths
    raw += [pruning_path] if pruning is not None else []
    recorded = [device_file, *tunes, *bench_files, *tune_times, pruning]
    sources = {
        p.relative_to(root).as_posix(): r.provenance
        for p, r in zip(raw, [r for r in recorded if r is not None], strict=True)
    }
    file_rows = {
        path.relative_to(root).as_posix(): bf.rows
        for path, bf in zip(bench_paths, bench_files, strict=True)
    }
    device = Device(
        name=root.name,
        slug=slug(root.name),
        root=root,
        provenance=device_file.provenance if device_file else provenances[0],
        ceilings=ceilings,
        tunes=tunes,
        bench=dict(bench),
        pruning=pruning,
        tune_times=tune_times,
        configs=configs,
        raw_files={p.relative_to(root).as_posix(): p.read_bytes() for p in raw},
        sources=sources,
        file_rows=file_rows,
        out_dtypes={bf.sweep: bf.out_dtype or "bfloat16" for bf in bench_files},
        stale=stale,
        sweep_ceilings={bf.sweep: (bf.ceilings, bf.provenance) for bf in bench_files},
    )
    device.models = _models_on_device(device, specs)
    device.contributed_by = device_file.contributed_by if device_file else None
    checks = [(p, c) for p, c in ((pruning_path, pruning),) if c is not None]
    checks += list(zip(tune_time_paths, tune_times, strict=True))
    device.runs = collect_runs(
        root,
        zip(tune_paths, tunes, strict=True),
        zip(bench_paths, bench_files, strict=True),
        checks,
    )
    device.pruning_rows = pruning_rows(pruning)
    if device.has_configs and device_file is not None:
        loaded = {device_path: device_file, **dict(zip(tune_paths, tunes, strict=True))}
        device.bundle = read_device_bundle(site_data, name, loaded)
    return device


def _models_on_device(device: Device, specs: list[models.ModelSpec]) -> list[ModelOnDevice]:
    """Models with measurements on this device: every model named in the "model" sweep, plus
    every bundled model whose weight shapes (at its default TP sizes) were tuned here."""
    by_model: dict[str, list[BenchRow]] = defaultdict(list)
    for row in device.bench.get("model", []):
        by_model[row.model or "unnamed"].append(row)
    tuned = defaultdict(list)
    for t in device.tunes:
        if t.B == 1:
            tuned[(t.N, t.K)].append(t)
    layers: dict[str, dict[tuple[int, int], list[str]]] = defaultdict(lambda: defaultdict(list))
    hf_names: dict[str, str] = {}
    for spec in specs:
        hf_names[spec.id] = spec.hf_name
        if spec.id in by_model:  # measured: the bench rows name the layers and TP sizes
            continue
        for tp in models.default_tp_sizes(spec):
            try:
                shapes = models.weight_shapes(spec, tp)
            except UserError:  # this TP size does not divide the model; nothing to show
                continue
            for ws in shapes:
                if (ws.N, ws.K) in tuned:
                    layers[spec.id][(ws.N, ws.K)].append(f"{ws.layer} (tp={tp})")
    for model_id, rows in by_model.items():
        for row in rows:
            label = f"{row.layer} (tp={row.tp})" if row.tp else (row.layer or "")
            names = layers[model_id][(row.N, row.K)]
            if label and label not in names:
                names.append(label)
    out = []
    for model_id in sorted(set(by_model) | {m for m, s in layers.items() if s}):
        rows_by_nk: dict[tuple[int, int], list[BenchRow]] = defaultdict(list)
        for row in by_model.get(model_id, []):
            rows_by_nk[(row.N, row.K)].append(row)
        nks = list(rows_by_nk) if model_id in by_model else list(layers[model_id])
        shapes = [
            Shape(n, k, tuple(dict.fromkeys(layers[model_id].get((n, k), [])))) for n, k in nks
        ]
        out.append(
            ModelOnDevice(
                id=model_id,
                slug=slug(model_id),
                hf_name=hf_names.get(model_id),
                shapes=shapes,
                rows=dict(rows_by_nk),
                tunes={nk: tuned[nk] for nk in nks if nk in tuned},
            )
        )
    slugs = [m.slug for m in out]
    if len(set(slugs)) != len(slugs):
        raise SiteDataError(f"{device.root}: two model names map to the same page name: {slugs}")
    return out


def load_catalog(site_data: Path) -> Catalog:
    """Read and validate everything; raise :class:`SiteDataError` naming the file and field."""
    site_data = Path(site_data)
    if not site_data.is_dir():
        raise SiteDataError(f"{site_data}: site_data folder not found")
    model_files = {p.stem: load(p, ModelFile) for p in _json_files(layout.models_dir(site_data))}
    for stem, mf in model_files.items():
        if mf.id != stem:
            raise SiteDataError(
                f"{layout.model_file(site_data, stem)}: field 'id': differs from name"
            )
    specs = {m: models.load_model(m, site_data) for m in model_files}
    providers.forget()
    devices = []
    dev_root = layout.devices_dir(site_data)
    if dev_root.is_dir():
        for root in sorted(
            p for p in dev_root.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            if root.is_symlink():
                raise SiteDataError(f"{root}: device folders must not be symlinks")
            if slug(root.name) != root.name:
                raise SiteDataError(
                    f"{root}: device folder names may use only letters, digits, '.', '_' and '-'"
                )
            device = _load_device(site_data, root.name, list(specs.values()))
            if device is not None:
                devices.append(device)
    _set_titles(devices)
    return Catalog(root=site_data, devices=devices, models=model_files, specs=specs)


# what a heading may hold (MkDocs writes titles unescaped; render._title checks the same)
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()/:+-]*$")


def _set_titles(devices: list[Device]) -> None:
    """Each device's title: its recorded GPU name where that is plain text and no other device
    has it, else its folder name (unique by construction)."""
    names = Counter(d.provenance.gpu_name.strip() for d in devices)
    for d in devices:
        gpu = d.provenance.gpu_name.strip()
        d.title = gpu if _PLAIN_NAME.match(gpu) and names[gpu] == 1 else d.name
