"""Check a ``site_data`` tree semantically, not only against its schema; list every problem.

Why: the schema (:mod:`generator.data.records`) says a latency is a float; it cannot say the
float is finite and positive, that a tuning file filed under one GPU was measured on that GPU,
that a config's BLOCK_SIZE_M is one its kernel can run, or that a drop-in file still holds the
winners of its tuning records. Data now also arrives by pull request (contributed GPUs), so
this is the gate: ``python -m generator validate``, the site build and CI all run it, and it
reports every problem at once (file, field, rule) rather than stopping at the first.

What it checks, per file kind (``layout`` has the tree):

* everywhere: a known ``schema_version``; no symlinks or special files (nothing may point
  outside the tree); no duplicate JSON keys; every record measured on the device whose folder
  it is in (each record's own provenance, where it has one);
* measurements: latencies, percentiles and rates finite and positive; the status agrees with
  the numbers and with the error bound of the output dtype (ok: timed and within the bound;
  incorrect: beyond it or not finite; a bench row that is not ok was never timed);
* tuning files: named after what they hold; no two records of one M; winners verified and
  their configs in range for their kernel (:mod:`generator.configs.ranges`), or an entry an
  engine ships for that device and shape (a seed the tuner timed, which can win);
* drop-in config files: the exact names the engines load, for this device; configs in range;
  and equal to the winners of the tuning records they are derived from;
* bench files: one sweep per file, no two rows with one key, every row naming the run that
  measured it (an index into the file's ``runs``, not the file's provenance), every listed run
  cited by a row, each row judged by the bound of its provider's output dtype; the metadata of
  a provider of the code's registry means what the registry says
  (:mod:`generator.data.provider_registry`), and one it does not know takes no role reserved
  for it; pruning and tune-time checks: positive times.

And it never raises: files are read within bounds (:mod:`generator.data.safe_json`: regular
files of a bounded size, nesting and integers), names, dates and sizes are held to what the
pages can show (the site renders whatever this accepts; a seeded fuzz test holds it to that).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from generator.configs.engine_files import (
    FileFormat,
    batch_key,
    config_table_json,
    file_name,
    parse_file_name,
)
from generator.configs.kernel_table import PUBLISHER, SPACES, formats_of
from generator.configs.limits import MAX_OPERAND_ELEMENTS
from generator.configs.ranges import config_problems
from generator.data import layout, provider_registry
from generator.data.records import (
    SEARCH_CURRENT,
    BenchFile,
    BenchRow,
    DeviceFile,
    Measurement,
    ModelFile,
    Provenance,
    PruningCheck,
    Status,
    TuneFile,
    TuneTimeCheck,
    error_location,
    schema_problem,
)
from generator.data.safe_json import UnsafeJSON, loads_bounded, read_bounded

# kernels.reference.tolerance per output dtype, restated torch-free (a test keeps them equal):
# the unit roundoff of the dtype plus 1e-3 for accumulation.
ERROR_BOUNDS = {
    "bfloat16": 2.0**-8 + 1e-3,
    "float16": 2.0**-11 + 1e-3,
    "float32": 2.0**-24 + 1e-3,
}
DEFAULT_BENCH_OUT_DTYPE = "bfloat16"  # bench files from before BenchFile.out_dtype
INPUT_TYPES = ("fp8", "int8", "bf16")
MIN_BLOCK = 16
MAX_COUNT = 1_000_000  # SMs or GPUs of one run: far beyond any machine, far below overflow
_SAFE_DEVICE = re.compile(r"^[A-Za-z0-9._-]+$")
# Every name in the tree: what the engines' config file names and the tune-time checks use;
# nothing that means something in a URL, a shell or markup.
_SAFE_ENTRY = re.compile(r"^[A-Za-z0-9=,\[\]+._ -]{1,255}$")

M_ = TypeVar("M_", bound=BaseModel)


@dataclass(frozen=True)
class Finding:
    """One thing wrong: the file, the field (dotted, as pydantic names it) and the rule."""

    path: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: field '{self.field}': {self.message}"


class _Report:
    """Collects the findings for one tree."""

    def __init__(self) -> None:
        self.problems: list[Finding] = []
        self.files = 0

    def add(self, path: Path, field: str, message: str) -> None:
        self.problems.append(Finding(path, field or "<root>", message))


# --- reading -------------------------------------------------------------------------------------


def _no_duplicates(path: Path, report: _Report):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(k for k, _ in pairs)
        for key, n in counts.items():
            if n > 1:
                report.add(path, key, f"duplicate key ({n} times; a reader keeps only the last)")
        return dict(pairs)

    return hook


def _read_json(path: Path, report: _Report) -> Any | None:
    """The parsed file, read within bounds (:mod:`generator.data.safe_json`: a regular file,
    its size, nesting depth and integers), or None after reporting why not."""
    report.files += 1
    try:
        text = read_bounded(path).decode("utf-8")
        return loads_bounded(text, object_pairs_hook=_no_duplicates(path, report))
    except UnsafeJSON as exc:
        report.add(path, "<root>", str(exc))
        return None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        report.add(path, "<root>", f"not readable JSON ({exc})")
        return None


def _load(path: Path, model: type[M_], report: _Report) -> M_ | None:
    """The record in ``path``, or None after reporting every schema error in it."""
    return _parse(path, model, report)[1]


def _parse(path: Path, model: type[M_], report: _Report) -> tuple[Any, M_ | None]:
    """The parsed JSON of ``path`` (None if unreadable) and its record (None after reporting
    every schema error in it): for the checks of what the model does not keep (a bench file's
    ``runs`` table)."""
    raw = _read_json(path, report)
    if raw is None:
        return None, None
    problem = schema_problem(raw)
    if problem:
        report.add(path, "schema_version", problem)
        return raw, None
    try:
        return raw, model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            report.add(path, *error_location(err))
        return raw, None


# --- numbers -------------------------------------------------------------------------------------


def _positive(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value > 0)


def _check_measurement(
    m: Measurement, bound: float, path: Path, where: str, report: _Report, bench: bool
) -> None:
    """Numbers finite and positive; the status agrees with them and with ``bound``."""
    for name in ("latency_us", "p20_us", "p80_us", "tflops"):
        value = getattr(m, name)
        if not _positive(value):
            report.add(path, f"{where}.{name}", f"{value!r} is not a finite positive number")
    err = m.rel_error
    if err is not None and not (math.isfinite(err) and err >= 0):
        report.add(path, f"{where}.rel_error", f"{err!r} is not a finite non-negative number")
        return
    if m.p20_us is not None and m.p80_us is not None and m.p20_us > m.p80_us:
        report.add(path, f"{where}.p20_us", f"p20 {m.p20_us} above p80 {m.p80_us}")
    if m.status == Status.OK:
        if m.latency_us is None:
            report.add(path, f"{where}.latency_us", "status ok, but no latency")
        if err is None:
            report.add(path, f"{where}.rel_error", "status ok, but never checked for accuracy")
        elif err > bound:
            report.add(
                path,
                f"{where}.rel_error",
                f"status ok, but {err:.3g} exceeds the bound {bound:.3g}",
            )
        return
    if m.status == Status.INCORRECT and err is not None and err <= bound:
        report.add(
            path, f"{where}.status", f"incorrect, but rel_error {err:.3g} is within {bound:.3g}"
        )
    if bench and m.latency_us is not None:
        report.add(path, f"{where}.latency_us", f"status {m.status.value}, yet timed")


def _check_provenance(
    prov: Provenance | None, device: str, path: Path, where: str, report: _Report
) -> None:
    if prov is not None and prov.device_name != device:
        report.add(
            path,
            f"{where}.device_name",
            f"measured on {prov.device_name}, filed under {device}",
        )
    if prov is not None:
        _check_provenance_numbers(prov, path, where, report)


def _check_provenance_numbers(prov: Provenance, path: Path, where: str, report: _Report) -> None:
    """Counts and sizes of a machine are finite and in range: pages print and sum them (the
    CPU interpreter's runs, tests only, record 0 GPUs, 0 SMs and 0 GiB)."""
    for name in ("sm_count", "gpu_count"):
        value = getattr(prov, name)
        if not 0 <= value <= MAX_COUNT:
            report.add(path, f"{where}.{name}", f"{value} is not a count of 0..{MAX_COUNT}")
    if not (math.isfinite(prov.memory_gib) and prov.memory_gib >= 0):
        report.add(path, f"{where}.memory_gib", f"{prov.memory_gib!r} is not a finite size")


def _check_dims(path: Path, where: str, dims: dict[str, int | None], report: _Report) -> None:
    """Shape dimensions (and TP) are positive and no larger than an operand the kernels can
    hold (their offsets are 32-bit): a 2**70 in a record is no measurement, and the pages
    size tables and axes with it."""
    for name, value in dims.items():
        if value is not None and not 1 <= value <= MAX_OPERAND_ELEMENTS:
            report.add(path, f"{where}{name}", f"{value} is not in 1..2**31 - 1")


def _check_search(path: Path, where: str, search: int, report: _Report) -> None:
    if not 1 <= search <= SEARCH_CURRENT:
        report.add(path, where, f"{search} is not a search of this code (1..{SEARCH_CURRENT})")


# --- file kinds ----------------------------------------------------------------------------------


def _check_tune_file(path: Path, device: str, report: _Report) -> TuneFile | None:
    tf = _load(path, TuneFile, report)
    if tf is None:
        return None
    _check_provenance(tf.provenance, device, path, "provenance", report)
    if tf.kernel not in SPACES:
        report.add(path, "kernel", f"unknown kernel '{tf.kernel}'")
        return None
    if tf.input_type not in INPUT_TYPES:
        report.add(path, "input_type", f"'{tf.input_type}' is not one of {INPUT_TYPES}")
    bound = ERROR_BOUNDS.get(tf.out_dtype)
    if bound is None:
        report.add(path, "out_dtype", f"'{tf.out_dtype}' is not one of {tuple(ERROR_BOUNDS)}")
        return None
    for name in ("block_n", "block_k"):
        if getattr(tf, name) < MIN_BLOCK:
            report.add(path, name, f"{getattr(tf, name)} is below {MIN_BLOCK}")
    for name in ("N", "K", "B"):
        if getattr(tf, name) < 1:
            report.add(path, name, f"{getattr(tf, name)} is not positive")
    _check_tune_sizes(path, tf, report)
    key = layout.tune_file_key(
        tf.kernel, tf.input_type, tf.out_dtype, tf.N, tf.K, tf.B, tf.block_n, tf.block_k
    )
    expected = layout.tune_file_name(key, tf.exhaustive)
    if path.name != expected:
        report.add(path, "<name>", f"holds {expected} (the tuner and the lookup read that name)")
    for m, n in Counter(r.M for r in tf.records).items():
        if n > 1:
            report.add(path, "records", f"M={m} appears {n} times")
    for i, rec in enumerate(tf.records):
        where = f"records.{i}"
        _check_provenance(rec.provenance, device, path, f"{where}.provenance", report)
        published = [("winner", rec.winner)] if rec.winner else []
        published += [(f"runners_up.{j}", m) for j, m in enumerate(rec.runners_up)]
        shipped = _shipped_configs(device, tf.N, tf.K, tf.input_type, (tf.block_n, tf.block_k))
        for name, m in published:
            if m.status != Status.OK:
                report.add(path, f"{where}.{name}.status", f"{m.status.value}, not ok")
            if m.config in shipped:
                continue  # what the engine ships for this device and shape runs by definition
            for problem in config_problems(m.config, tf.kernel, tf.block_k):
                report.add(path, f"{where}.{name}.config", problem)
        measured = [*published, ("default", rec.default)]
        measured += [(f"baselines.{k}", m) for k, m in rec.baselines.items()]
        for name, m in measured:
            _check_measurement(m, bound, path, f"{where}.{name}", report, bench=False)
        for name, us in rec.runoff_us.items():
            if not _positive(us):
                report.add(
                    path, f"{where}.runoff_us.{name}", f"{us!r} is not a finite positive time"
                )
        if rec.winner_source != "search" and rec.winner_source not in rec.baselines:
            report.add(
                path, f"{where}.winner_source", f"'{rec.winner_source}' is not among the baselines"
            )
        if not (math.isfinite(rec.wall_s) and rec.wall_s >= 0):
            report.add(path, f"{where}.wall_s", f"{rec.wall_s!r} is not a finite time")
    return tf


def _check_tune_sizes(path: Path, tf: TuneFile, report: _Report) -> None:
    # (a size below 1 is reported by the caller already)
    _check_dims(
        path, "", {n: v for n, v in (("N", tf.N), ("K", tf.K), ("B", tf.B)) if v > 0}, report
    )
    for i, rec in enumerate(tf.records):
        _check_dims(path, f"records.{i}.", {"M": rec.M}, report)
        _check_search(path, f"records.{i}.search", rec.search, report)
        for name, seconds in (rec.phase_s or {}).items():
            if not (math.isfinite(seconds) and seconds >= 0):
                report.add(path, f"records.{i}.phase_s.{name}", f"{seconds!r} is not a time")
        spread = rec.runoff_aa_spread
        if spread is not None and not (math.isfinite(spread) and spread >= 0):
            report.add(path, f"records.{i}.runoff_aa_spread", f"{spread!r} is not a spread")


def _check_config_file(
    path: Path, fmt: FileFormat, device: str, derived: dict[str, str], report: _Report
) -> None:
    raw = _read_json(path, report)
    parsed = parse_file_name(fmt, path.name)
    block_k = None
    if parsed is None:
        report.add(path, "<name>", f"not a name {fmt.value} loads")
    else:
        block_k = parsed.block[1]
        if parsed.device_name != device:
            report.add(
                path, "<name>", f"a file for device {parsed.device_name}, in {device}'s folder"
            )
    if raw is None:
        return
    if not isinstance(raw, dict) or not raw:
        report.add(path, "<root>", "expected a non-empty object keyed by batch size M")
        return
    kernel = PUBLISHER[fmt]
    shipped = (
        _shipped_configs(device, parsed.N, parsed.K, parsed.input_type, parsed.block)
        if parsed
        else []
    )
    for key, cfg in raw.items():
        try:
            batch_key(key)
        except ValueError:
            report.add(path, key, "keys must be batch sizes (positive integers)")
        if cfg in shipped:
            continue  # an engine's own entry for this device and shape (tuned seeds can win)
        for problem in config_problems(cfg, kernel, block_k):
            name, _, rule = problem.partition(": ")
            field = f"{key}.{name}" if rule else key
            report.add(path, field, rule or problem)
    expected = derived.get(path.name)
    if expected is None:
        report.add(path, "<root>", "no tuning record in tuning/ produces this file")
    elif json.loads(expected) != raw:
        want = json.loads(expected)
        diff = sorted({m for m in (*want, *raw) if want.get(m) != raw.get(m)}, key=_sort_key)
        report.add(
            path,
            "<root>",
            f"differs from the winners of its tuning records at M = {', '.join(diff)}",
        )


def _shipped_configs(
    device: str, N: int, K: int, input_type: str, block: tuple[int, int]
) -> list[dict[str, int]]:
    """Every entry an engine release ships for this device and shape, as it launches them
    (``generator.data.shipped``). The tuner times them as seeds and publishes one that wins, so
    they are valid configs even where they lie outside the kernel's space (vLLM's MI300X files
    use BLOCK_SIZE_N 16 and ``kpack``)."""
    from generator.data.shipped import shipped_sets
    from generator.errors import UserError

    out: list[dict[str, int]] = []
    for release in shipped_sets():
        try:
            table = release.table(device, N, K, input_type, block)
        except (UserError, ValueError):  # no engine file for this input type, or unreadable
            continue
        out += list((table or {}).values())
    return out


def _derived_tables(tunes: Iterable[TuneFile], device: str) -> dict[FileFormat, dict[str, str]]:
    """The drop-in files the tuning records produce: format -> file name -> JSON text."""
    out: dict[FileFormat, dict[str, str]] = {f: {} for f in FileFormat}
    for tf in tunes:
        if tf.exhaustive:
            continue
        table = {r.M: r.winner.config for r in tf.records if r.winner and r.winner.config}
        if not table:
            continue
        for fmt in formats_of(tf.kernel):
            try:
                name = file_name(
                    fmt, tf.N, tf.K, device, tf.input_type, (tf.block_n, tf.block_k), tf.B
                )
            except ValueError:  # no engine file for this input type
                continue
            out[fmt][name] = config_table_json(table)
    return out


def _check_bench_file(path: Path, device: str, report: _Report) -> None:
    raw, bf = _parse(path, BenchFile, report)
    if bf is None:
        return
    _check_provenance(bf.provenance, device, path, "provenance", report)
    if path.stem != bf.sweep:
        report.add(path, "sweep", f"'{bf.sweep}' in a file named {path.name}")
    out_dtype = bf.out_dtype or DEFAULT_BENCH_OUT_DTYPE
    bound = ERROR_BOUNDS.get(out_dtype)
    if bound is None:
        report.add(path, "out_dtype", f"'{out_dtype}' is not one of {tuple(ERROR_BOUNDS)}")
        return
    _check_rows_have_provenance(bf, path, report)
    _check_runs(raw, bf, device, path, report)
    _check_providers(path, bf, report)
    keys: Counter = Counter()
    for i, row in enumerate(bf.rows):
        where = f"rows.{i}"
        dims = {d: getattr(row, d) for d in ("M", "N", "K", "B") if getattr(row, d) > 0}
        _check_dims(path, f"{where}.", {**dims, "tp": row.tp}, report)  # < 1: reported below
        if row.sweep != bf.sweep:
            report.add(path, f"{where}.sweep", f"'{row.sweep}' in a '{bf.sweep}' file")
        key = (row.provider, row.model, row.layer, row.tp, row.B, row.M, row.N, row.K)
        keys[key] += 1
        if keys[key] == 2:
            report.add(path, where, f"a second row for {row.provider} at M={row.M} N={row.N}")
        if min(row.M, row.N, row.K, row.B) < 1:
            report.add(path, where, "a shape dimension is not positive")
        row_bound = _row_bound(bf, row, bound)
        _check_measurement(row.measurement, row_bound, path, f"{where}.measurement", report, True)
        for name in ("gbps", "roofline_pct", "reference_tflops"):
            if not _positive(getattr(row, name)):
                report.add(path, f"{where}.{name}", "not a finite positive number")


def _check_rows_have_provenance(bf: BenchFile, path: Path, report: _Report) -> None:
    """Every row names the run that measured it. A file merges rows of several runs and its own
    provenance is only its last writer's, so a row without one would be cited with a run that
    never measured it. One finding per file (a file of an old run lacks it on every row)."""
    missing = [i for i, row in enumerate(bf.rows) if row.provenance is None]
    if not missing:
        return
    row = bf.rows[missing[0]]
    example = (
        f"rows.{missing[0]}: {row.provider}, model {row.model}, layer {row.layer}, tp {row.tp}, "
        f"B={row.B} M={row.M} N={row.N} K={row.K}"
    )
    report.add(
        path,
        "rows.run",
        f"{len(missing)} of {len(bf.rows)} rows name no run (first: {example}); each row must "
        "name the run that measured it: re-measure or drop them",
    )


def _check_runs(raw: Any, bf: BenchFile, device: str, path: Path, report: _Report) -> None:
    """Each run the rows cite was measured on this device, with counts a page can show; and the
    file's ``runs`` table holds only runs a row cites (a save writes no other, so one more was
    put there by hand). Each run is checked once, named as the file names it: ``runs.<i>``, or
    in a file of the older form the first row that carries it."""
    raw_rows = raw.get("rows") if isinstance(raw, dict) else None
    table = raw.get("runs") if isinstance(raw, dict) else None
    first: dict[str, int] = {}
    for i, row in enumerate(bf.rows):
        if row.provenance is not None:
            first.setdefault(row.provenance.model_dump_json(), i)
    for i in first.values():
        prov = bf.rows[i].provenance
        where = f"rows.{i}.provenance"
        if isinstance(table, list) and isinstance(raw_rows, list):
            where = f"runs.{raw_rows[i]['run']}"  # the model took it from there
        _check_provenance(prov, device, path, where, report)
    if not isinstance(table, list) or not isinstance(raw_rows, list):
        return
    cited = {row.get("run") for row in raw_rows if isinstance(row, dict)}
    unused = [j for j in range(len(table)) if j not in cited]
    if unused:
        report.add(
            path,
            "runs",
            f"{len(unused)} of {len(table)} runs are cited by no row (first: runs.{unused[0]}); "
            "the file's runs are those of its rows (a load and save of the file drops the rest)",
        )


def _row_bound(bf: BenchFile, row: BenchRow, bound: float) -> float:
    """The error bound a bench row was judged by: that of its provider's own output dtype
    where it has one (the bf16 providers return bf16 whatever ``--out-dtype`` says, and the
    bench judges every output by its dtype), else ``bound``, the file's."""
    info = provider_registry.registered().get(row.provider) or bf.providers.get(row.provider)
    if info is None or info.output_dtype is None:
        return bound
    return ERROR_BOUNDS[info.output_dtype]


def _check_providers(path: Path, bf: BenchFile, report: _Report) -> None:
    """The metadata a bench file records: under its own name; a registered provider's meaning
    exactly the registry's; no role a provider the registry does not know may take
    (:mod:`generator.data.provider_registry`)."""
    for key, info in bf.providers.items():
        where = f"providers.{key}"
        if info.name != key:
            report.add(path, f"{where}.name", f"'{info.name}' recorded under '{key}'")
        rules = provider_registry.disagreements(info)
        rules += provider_registry.unregistered_problems(info)
        for field, rule in rules:
            report.add(path, f"{where}.{field}", rule)


def _check_pruning(path: Path, device: str, report: _Report) -> None:
    check = _load(path, PruningCheck, report)
    if check is None:
        return
    _check_provenance(check.provenance, device, path, "provenance", report)
    for name in ("geomean_ratio", "worst_ratio"):
        if not _positive(getattr(check, name)):
            report.add(path, name, f"{getattr(check, name)!r} is not a finite positive ratio")
    _check_search(path, "search", check.search, report)
    seen: Counter = Counter()
    for i, p in enumerate(check.points):
        where = f"points.{i}"
        _check_dims(path, f"{where}.", {"N": p.N, "K": p.K, "M": p.M, "B": p.B}, report)
        seen[(p.kernel, p.N, p.K, p.M, p.B)] += 1
        if seen[(p.kernel, p.N, p.K, p.M, p.B)] == 2:
            report.add(path, where, f"a second point for N={p.N} K={p.K} M={p.M}")
        for name in ("pruned_us", "exhaustive_us", "paired_pruned_us", "paired_exhaustive_us"):
            value = getattr(p, name)
            if not _positive(value):
                report.add(path, f"{where}.{name}", f"{value!r} is not a finite positive time")
        if p.kernel not in SPACES:
            report.add(path, f"{where}.kernel", f"unknown kernel '{p.kernel}'")
            continue
        for name in ("pruned_config", "exhaustive_config"):
            for problem in config_problems(getattr(p, name), p.kernel):
                report.add(path, f"{where}.{name}", problem)


def _check_tune_time(path: Path, device: str, report: _Report) -> None:
    check = _load(path, TuneTimeCheck, report)
    if check is None:
        return
    _check_provenance(check.provenance, device, path, "provenance", report)
    if check.tasks < 1:
        report.add(path, "tasks", f"{check.tasks} is not positive")
    for name in ("wall_s", "compile_s"):
        if not _positive(getattr(check, name)):
            report.add(path, name, f"{getattr(check, name)!r} is not a finite positive time")


def _json_entries(folder: Path, report: _Report) -> list[Path]:
    """The record files of a folder (hidden files, e.g. a write in progress, skipped)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix != ".json" or not path.is_file():
            report.add(path, "<name>", "not a .json record file")
            continue
        out.append(path)
    return out


def _check_device(site_data: Path, device: str, report: _Report) -> None:
    root = layout.device_dir(site_data, device)
    if not _SAFE_DEVICE.match(device):
        report.add(root, "<name>", "device folders use only letters, digits, '.', '_' and '-'")
    for entry in sorted(root.iterdir()):
        if entry.name not in layout.DEVICE_ENTRIES and not entry.name.startswith("."):
            report.add(entry, "<name>", "not part of a device folder (the catalog ignores it)")
    device_file = layout.device_file(site_data, device)
    if device_file.exists():
        dev_file = _load(device_file, DeviceFile, report)
        if dev_file is not None:
            _check_provenance(dev_file.provenance, device, device_file, "provenance", report)
    tunes = []
    for path in _json_entries(layout.tuning_dir(site_data, device), report):
        tf = _check_tune_file(path, device, report)
        if tf is not None:
            tunes.append(tf)
    derived = _derived_tables(tunes, device)
    configs = layout.configs_dir(site_data, device)
    if configs.is_dir():
        for folder in sorted(configs.iterdir()):
            try:
                fmt = FileFormat(folder.name)
            except ValueError:
                report.add(folder, "<name>", f"not a config folder ({list(layout.CONFIG_FOLDERS)})")
                continue
            _check_hidden_configs(folder, report)
            for path in _json_entries(folder, report):
                _check_config_file(path, fmt, device, derived[fmt], report)
    for path in _json_entries(layout.bench_dir(site_data, device), report):
        _check_bench_file(path, device, report)
    pruning = layout.pruning_check_file(site_data, device)
    for path in _json_entries(layout.checks_dir(site_data, device), report):
        if path == pruning:
            _check_pruning(path, device, report)
        elif layout.is_tune_time_check(path):
            _check_tune_time(path, device, report)
        else:
            known = f"{layout.PRUNING_FILE}, {layout.TUNE_TIME_GLOB}"
            report.add(path, "<name>", f"not a known check ({known})")


def _check_hidden_configs(folder: Path, report: _Report) -> None:
    """A hidden file in a config folder is no config (no engine loads it) and the bundles
    refuse it; only a write in progress (``.<name>.<random>.tmp``) may lie there."""
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") and path.suffix != ".tmp":
            report.add(path, "<name>", "a hidden file in a config folder (bundles refuse it)")


def _check_links(site_data: Path, report: _Report) -> None:
    """No symlink and nothing but folders and regular files, anywhere in the tree."""
    for dirpath, dirnames, filenames in os.walk(site_data, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not _SAFE_ENTRY.match(name):
                report.add(path, "<name>", "names use only letters, digits, space and =,[]+._-")
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                report.add(path, "<name>", f"a symlink (to {os.readlink(path)}); use a copy")
            elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                report.add(path, "<name>", "not a regular file or folder")


def _check_models(site_data: Path, report: _Report) -> None:
    from generator.data.models import spec_of
    from generator.errors import UserError

    for path in _json_entries(layout.models_dir(site_data), report):
        mf = _load(path, ModelFile, report)
        if mf is None:
            continue
        if mf.id != path.stem:
            report.add(path, "id", f"'{mf.id}' differs from the file name")
        try:
            spec_of(mf, path)
        except UserError as exc:
            report.add(path, "config", str(exc).removeprefix(f"{path}: "))


@dataclass
class Validation:
    """What :func:`validate_tree` found: every finding, and how many files it read."""

    problems: list[Finding]
    files: int

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_device(site_data: Path, device: str) -> Validation:
    """Every problem of one device folder (what ``install-configs`` installs from): the checks
    :func:`validate_tree` makes of it."""
    report = _Report()
    root = layout.device_dir(Path(site_data), device)
    if not root.is_dir() or root.is_symlink():
        report.add(root, "<root>", "not a device folder")
        return Validation(report.problems, 0)
    _check_links(root, report)
    _check_device(Path(site_data), device, report)
    return Validation(report.problems, report.files)


def validate_tree(site_data: Path) -> Validation:
    """Every problem of a ``site_data`` tree (none: valid)."""
    site_data = Path(site_data)
    report = _Report()
    result = Validation(report.problems, 0)
    if not site_data.is_dir():
        report.add(site_data, "<root>", "site_data folder not found")
        return result
    _check_links(site_data, report)
    _check_models(site_data, report)
    devices = layout.devices_dir(site_data)
    if devices.is_dir():
        for root in sorted(devices.iterdir()):
            if root.name.startswith(".") or root.is_symlink():
                continue  # symlinks are reported by _check_links
            if not root.is_dir():
                report.add(root, "<name>", "not a device folder")
                continue
            _check_device(site_data, root.name, report)
    result.files = report.files
    return result


def _sort_key(key: str) -> tuple[int, str]:
    """Batch-size keys in numeric order, keys that are not batch sizes last."""
    try:
        return (batch_key(key), key)
    except ValueError:
        return (2**62, key)
