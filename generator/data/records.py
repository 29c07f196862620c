"""Record schema for everything under ``site_data/``.

Why a schema: the tuner, the benchmark sweeps and the site renderer run at different times on
different machines, and the only thing they share is JSON on disk. Every file is validated
against these pydantic models when it is written *and* when it is read, so a corrupt or
hand-edited file fails loudly with the file name and the field, instead of rendering wrong
numbers.

Where each record lives under ``site_data/``: :mod:`generator.data.layout`.
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from generator.data.safe_json import UnsafeJSON, read_json
from generator.errors import UserError

SCHEMA_VERSION = 1

# The patterns of the names and styles that reach a page (HTML text and attributes, a CSS
# custom property, chart JSON, a file or page name): held here, where every file is read and
# written, so no value outside them reaches the site's templates, whoever wrote the file.
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"  # providers, sweeps
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # model ids (page names and headings)
COLOR_PATTERN = r"^#(?:[0-9a-fA-F]{3}){1,2}$"  # the only form a style="--bg-c: ..." may take
SYMBOL_PATTERN = r"^[a-z]+(?:-[a-z]+){0,3}$"  # a Plotly marker symbol name
TEXT_PATTERN = r"^[^<>\x00-\x1f\x7f]*$"  # escaped where shown; no markup, no control characters
Name = Annotated[str, Field(pattern=NAME_PATTERN)]  # a key the pages show (baselines, phases)
Dash = Literal["solid", "dot", "dash", "longdash", "dashdot", "longdashdot"]  # Plotly's dashes


class Status(str, enum.Enum):
    """Outcome of one measured (kernel or provider, config, shape) point.

    Only ``ok`` rows are ever published as fast; every other status is shown as such.
    """

    OK = "ok"
    INCORRECT = "incorrect"  # ran, but the relative error exceeds the bound for its dtype
    UNSUPPORTED = "unsupported"  # the library refused the shape / dtype (e.g. cuBLAS at M=1)
    OUT_OF_RESOURCES = "out_of_resources"  # shared memory / registers exceeded at launch
    COMPILE_ERROR = "compile_error"
    ERROR = "error"  # anything else; the message says what


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Provenance(_Record):
    """Where and with what a measurement was taken. Stored with every file of real data."""

    gpu_name: str  # torch.cuda.get_device_name(), e.g. "NVIDIA H100 80GB HBM3"
    device_name: str  # vLLM's spelling, e.g. "NVIDIA_H100_80GB_HBM3"
    sm_count: int
    gpu_count: int = 1  # GPUs that took part in the run
    memory_gib: float
    driver: str
    cuda: str
    torch: str
    triton: str
    git_sha: str
    # With its time zone (the tools write UTC): a date without one cannot be ordered against
    # the others, and the catalog orders every run by date.
    date: AwareDatetime
    # How the run timed (``generator.measure.timing.TIMING_METHOD``); None in records of runs
    # before 2026-12-02, whose method the catalog's history states (docs/methodology.md).
    method: str | None = None
    # The GPU architecture the run read: "sm_90" (torch.cuda.get_device_capability) on CUDA, the
    # gcnArchName ("gfx942") on ROCm, whose capability numbers are not NVIDIA's; None in records
    # of runs before 2026-12-02 (the catalog then goes by the device name). It decides which of
    # the engines' dispatch rules apply to the device (generator.data.dispatch.rule_arch).
    arch: str | None = Field(default=None, pattern=r"^(sm_[0-9]{2,3}[a-z]?|gfx[0-9a-f]{3,5})$")


class Ceilings(_Record):
    """Device ceilings measured at the start of a run; rooflines are computed from these."""

    copy_gbps: float = Field(gt=0)  # device-to-device copy, bytes read + written per second / 1e9
    bf16_tflops: float = Field(gt=0)  # best of a large cuBLAS bf16 matmul
    fp8_tflops: float = Field(gt=0)  # best of a large cuBLAS fp8 (tensor-wise) matmul
    int8_tops: float | None = None


class Measurement(_Record):
    """One timed point. Latencies are medians (and 20th / 80th percentiles) of graph replays."""

    config: dict[str, int] | None = None  # kernel config (None for library providers)
    status: Status
    latency_us: float | None = None  # median
    p20_us: float | None = None
    p80_us: float | None = None
    tflops: float | None = None
    rel_error: float | None = None  # ||out - ref||_F / ||ref||_F against the fp32 reference
    message: str | None = None


# Which search produced a tuning record. 1: coarse-to-fine from the smallest GROUP_SIZE_M, with
# vLLM's "8 warps on a small tile" rule, no shipped seeds (records from before 2026-11-29).
# 2: coarse and refine passes at GROUP_SIZE_M 16 (L2 reuse), no 8-warp rule, seeded with the
# entries the engines ship and their defaults, the winner decided on configs timed one after the
# other (drift-prone: only the H200 run of 2026-11-29 wrote these). 3: as 2, the winner decided
# by an interleaved runoff of the search's winner against the baseline fastest in sequential
# timing (the H200 data of 2026-11-29, sha 0e1cc7f). 4: the runoff times the search's winner
# and every distinct baseline against each other, so the choice among baselines is not drift
# either (generator.tune.search). 5: the runoff's fastest median wins, with an A/A control whose
# spread is the tie threshold (a shipped entry, then a default, kept within it) and more rounds
# where it is wide; operands shared, interleaving in seeded random order. 6: as 5, but the tie
# is never below 1 % (AA_TARGET): a search config that wins the GEMM-only runoff by less lost
# to the shipped entry in the bench's quant+GEMM timing at 3 of 35 H200 points, up to 3.6 %
# (lab/tune_vs_bench.py); and each pass's configs are timed together, interleaved
# (measure.timing.time_pass), not one after the other. 7: as 6, each pass's replays hold
# 250 us of work, not 1 ms, and a pass's configs sized over 1.5x its fastest get no rounds
# (TuneOptions says why). 8: as 7, the runoff (and the pruning check's paired re-timing) times
# each config as the engine serves it, after the activation's per-token-group quantization
# (Tunable.served): GEMM-only, a config that won by 1.8 % was 4.9 % slower so (H200 sweep of
# a2ac973). 9: as 8, the runoff's quantization and output write buffers of each rotated set,
# rotated beyond L2 over up to 16 sets (search._Session._served_sets), instead of memory
# allocated inside the captured graph, where every call of a graph wrote to one address: where
# such a buffer lands moves identical work by up to 21 % (lab/aa_alloc.py), and the H200 tuner
# and bench of 2026-12-04 put the same two configs up to 29 % apart (whether this is why:
# lab/placement.py). It changes only the W8A8 runoff; A16W8 and decode records are re-tuned
# with it all the same. A rerun re-tunes records of an older search.
SEARCH_V1 = 1
SEARCH_V2 = 2
SEARCH_V3 = 3
SEARCH_V4 = 4
SEARCH_V5 = 5
SEARCH_V6 = 6
SEARCH_V7 = 7
SEARCH_V8 = 8
SEARCH_V9 = 9
SEARCH_CURRENT = SEARCH_V9
# The last version that changed the exhaustive search, so an exhaustive record from it or later
# is current (the resume keeps it). Searches 8 and 9 changed the runoff, which the exhaustive
# search does not have; 8 also quantizes the timed activation from a bf16 copy instead of fp32 (the
# operands' values, not their sizes or layout: no kernel's time depends on them).
EXHAUSTIVE_SEARCH_SINCE = SEARCH_V7


def search_is_current(search: int, exhaustive: bool) -> bool:
    """Does a record of ``search`` measure what this code's search would measure now?"""
    return search >= (EXHAUSTIVE_SEARCH_SINCE if exhaustive else SEARCH_CURRENT)


class TuneRecord(_Record):
    """The tuning result for one (kernel, dtypes, shape, M)."""

    M: int = Field(ge=1)
    winner: Measurement | None = None  # None if no config was both correct and launchable
    runners_up: list[Measurement] = []  # next best correct configs, fastest first
    default: Measurement  # the kernel's default config (vLLM's), for speedup-over-default
    # What users run today without our file, timed in the same run the same way: the entry each
    # engine would pick from its shipped file ("vllm-0.33.0", ...) and each engine's default
    # ("vllm-default", "sglang-default"). Empty for kernels no engine runs.
    baselines: dict[Name, Measurement] = {}
    winner_source: str = Field(default="search", pattern=NAME_PATTERN)  # or the baseline's
    # The interleaved runoff that decided it: median us of the search's winner ("search") and
    # of each baseline, timed against each other (search 4), and its A/A control's spread
    # (search 5): the tie threshold it was judged by.
    runoff_us: dict[Name, float] = {}
    runoff_aa_spread: float | None = None
    # Why the winner is not simply the runoff's choice, where it is not: the A/A control was
    # still wider than the tuner's target after the last runoff, so the search's config was
    # not published over what users run (generator.tune.search). None: the runoff decided.
    runoff_note: str | None = None
    search: int = SEARCH_V1
    status_counts: dict[Status, int] = {}
    configs_in_space: int
    configs_pruned: int
    configs_timed: int
    wall_s: float
    # Where the wall time went (generator.tune.search: operands, compile, timing, verify,
    # runoff); None in records from before 2026-12-02.
    phase_s: dict[Name, float] | None = None
    # Where this record was measured. The file's provenance is its last writer's, and a file
    # collects records of many runs (resume, other GPUs of a kind, re-tunes), so each record
    # carries its own; None only in records written before 2026-11-29 (the file's then holds).
    provenance: Provenance | None = None


class TuneFile(_Record):
    """All tuned batch sizes for one kernel x dtype x weight shape on one device."""

    schema_version: int = SCHEMA_VERSION
    kernel: str  # e.g. "w8a8_block", "a16w8_batched"
    input_type: str  # "fp8" | "int8" | "bf16"
    out_dtype: str  # "bfloat16" | "float16" | "float32"
    block_n: int
    block_k: int
    N: int
    K: int
    B: int = 1  # batch of the batched kernel; 1 otherwise
    exhaustive: bool = False
    provenance: Provenance  # the last writer's; see record_provenance
    records: list[TuneRecord]  # sorted by M


def record_provenance(tf: TuneFile, record: TuneRecord) -> Provenance:
    """Where ``record`` was measured: its own provenance, else (older records) its file's."""
    return record.provenance or tf.provenance


class Scheme(str, enum.Enum):
    """What a provider computes: the number format of its operands and their scales. Only
    providers of the checkpoint's scheme can replace each other."""

    BF16 = "bf16"  # bf16 weights and activations (the baseline)
    FP8_BLOCK = "fp8-block"  # 128x128 weight blocks, 1x128 activation groups (the checkpoints)
    INT8_BLOCK = "int8-block"
    FP8_TENSOR = "fp8-tensor"  # one scale per tensor
    FP8_CHANNEL = "fp8-channel"  # per-channel weights x per-token activations
    INT8_CHANNEL = "int8-channel"
    INT8_AZP = "int8-azp"  # asymmetric per-token activations (zero points)
    A16W8_BLOCK = "a16w8-block"  # bf16 activations x fp8 128x128 block weights (MLA, batched)


class Origin(str, enum.Enum):
    """Whose code runs."""

    LIBRARY = "library"  # cuBLAS / cuBLASLt through torch
    ENGINE = "engine"  # the Triton kernel vLLM and SGLang run, with some config table
    OURS = "ours"  # a kernel of this project that no engine runs


class ProviderInfo(_Record):
    """What a benchmark provider is, declared by the provider and stored in every bench file
    that has its rows, so the catalog never guesses from a name. For a provider of the code's
    registry the catalog reads the registry's (:mod:`generator.data.provider_registry`), and
    ``validate`` refuses a file that records another meaning for it."""

    name: str = Field(pattern=NAME_PATTERN)
    label: str = Field(min_length=1, max_length=100, pattern=TEXT_PATTERN)  # legends, tables
    description: str = Field(max_length=1000, pattern=TEXT_PATTERN)
    kind: Literal["gemm", "batched"]
    scheme: Scheme
    origin: Origin
    # Engines whose users get exactly this by installing the catalog's files (drop-in configs).
    installable: list[Literal["vllm", "sglang"]] = []
    # "default" | "default:<engine>" | "tuned" | "shipped:<engine>-<version>" | "own"
    config_source: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9:._-]{0,63}$")
    # The build of the library a provider calls, where it matters which one ran (DeepGEMM: the
    # package and version, and where it came from); None: torch's cuBLAS or our kernels. It
    # says where a run found the library, so it is the run's, not the registry's.
    library: str | None = Field(default=None, pattern=r"^[A-Za-z0-9 ._:()+,-]{1,120}$")
    quant_timed: bool = False  # the activation quantization is inside the timed region
    baseline: bool = False  # the reference its kind's speedups are measured against
    dash: Dash = "solid"
    symbol: str = Field(default="circle", pattern=SYMBOL_PATTERN)
    # The dtype of its output whatever ``bench --out-dtype`` says (the bf16 providers compute
    # and return bf16), which sets the error bound its rows are judged by; None: the run's.
    output_dtype: Literal["bfloat16", "float16", "float32"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_color(cls, data: Any) -> Any:
        """A file written before 2026-12-03 records a ``color`` per provider: read and
        dropped. No code read it (a provider's colour on the pages is the site's one palette's,
        ``generator.site.providers.PALETTE``, so that no two providers of a chart look alike),
        and a second, unread colour could only contradict it. The input is not changed."""
        if isinstance(data, dict) and "color" in data:
            data = {k: v for k, v in data.items() if k != "color"}
        return data


class AAControl(_Record):
    """The bench's own noise at one point: one provider timed as if it were two (two graphs of
    the same calls on the same operands, in the same interleaved run). Identical work must time
    identically; the spread is the tie threshold the pages and the tuner use at this point."""

    provider: str = Field(pattern=NAME_PATTERN)
    a_us: float = Field(gt=0)
    b_us: float = Field(gt=0)

    @property
    def spread(self) -> float:
        """|a - b| / min(a, b): how far apart identical work timed here."""
        return abs(self.a_us - self.b_us) / min(self.a_us, self.b_us)


class BenchRow(_Record):
    """One provider at one shape in a benchmark sweep."""

    provider: str = Field(pattern=NAME_PATTERN)
    sweep: str = Field(pattern=NAME_PATTERN)  # "model" | "square" | "range" | "mla" | ...
    model: str | None = Field(default=None, pattern=ID_PATTERN)
    layer: str | None = None
    tp: int | None = None
    M: int
    N: int
    K: int
    B: int = 1
    measurement: Measurement
    gbps: float | None = None
    roofline_pct: float | None = None  # percent of min(compute ceiling, bandwidth ceiling) time
    reference_tflops: float | None = None  # external reference figure (e.g. MI350X), if any
    reference_label: str | None = None
    # The provider whose timing this row shares: both ran the identical kernel and config on
    # the same operands at this point, so it was timed once and recorded for both.
    same_work_as: str | None = Field(default=None, pattern=NAME_PATTERN)
    # The A/A control of the point in the run that measured this row (rows of one point and
    # run carry the same one); None in rows of runs before 2026-12-02.
    control: AAControl | None = None
    # The run that measured this row. Every row carries its own (validate refuses a row
    # without one): a file collects rows of several runs, and a row of a superseded run is
    # re-measured or dropped, never relabelled with a newer run's provenance. On disk the row
    # names it by its index in the file's ``runs`` (see BenchFile); in memory it is the run.
    provenance: Provenance | None = None


RUN_TABLE_ERROR = "run_table"  # the pydantic error type of a bad ``runs`` table or ``run``


def _run_table_error(where: str, problem: str) -> PydanticCustomError:
    """A one-line error at ``where`` (a path in the file, e.g. ``rows.3.run``), which
    :func:`error_location` reports as the field (a model validator's errors have no location)."""
    return PydanticCustomError(RUN_TABLE_ERROR, "{problem}", {"where": where, "problem": problem})


def error_location(err: Any) -> tuple[str, str]:
    """The field (dotted path in the file) and the message of one pydantic error."""
    ctx = err.get("ctx") or {}
    if err.get("type") == RUN_TABLE_ERROR and "where" in ctx:
        return str(ctx["where"]), str(ctx["problem"])
    return ".".join(str(p) for p in err["loc"]), err["msg"]


def _short(value: Any) -> str:
    """A raw value of a file, for a one-line error: cut, since the file may be anything."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _row_label(row: dict[str, Any]) -> str:
    """Which row a raw row is, for an error: its provider and shape as the file has them."""
    shape = " ".join(f"{d}={_short(row[d])}" for d in ("M", "N", "K") if d in row)
    return f"{_short(row.get('provider', '?'))} {shape}".strip()


def run_table(rows: list[BenchRow]) -> tuple[list[Provenance], list[int | None]]:
    """The distinct runs of ``rows`` in order of first use, and each row's index into them
    (None: a row without provenance). Runs are told apart by their exact JSON, so a file
    written with this table reads back to equal rows."""
    runs: list[Provenance] = []
    index: dict[str, int] = {}
    cites: list[int | None] = []
    for row in rows:
        if row.provenance is None:
            cites.append(None)
            continue
        key = row.provenance.model_dump_json()
        if key not in index:
            index[key] = len(runs)
            runs.append(row.provenance)
        cites.append(index[key])
    return runs, cites


class BenchFile(_Record):
    """One sweep's rows on one device.

    On disk the rows' provenances are stored once: a top-level ``runs`` list (the distinct runs
    in order of first use) and in each row ``"run": <index>``. A file holds thousands of rows of
    a handful of runs, and the provenance inline was half of every row's bytes. In memory each
    row holds its :class:`Provenance` as before; files of the older form (a provenance inline
    in every row) still load, and are written in this form by the next save. The form needed
    no new ``schema_version``: code from before it refuses such a file (``runs`` and ``run``
    are fields it does not know), so nothing misreads it or writes it back short."""

    schema_version: int = SCHEMA_VERSION
    sweep: str = Field(pattern=NAME_PATTERN)
    # The last writer's: the file merges rows of several runs, so rows are cited by their own
    # (BenchRow.provenance), never by this.
    provenance: Provenance
    ceilings: Ceilings
    rows: list[BenchRow]
    # Metadata of every provider with rows here (what the site reads instead of names).
    providers: dict[str, ProviderInfo] = {}
    # Output dtype of the 8-bit GEMMs (``bench --out-dtype``), which sets the error bound a row
    # is judged by; None in files from before 2026-11-29, which were all bfloat16.
    out_dtype: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _resolve_runs(cls, data: Any) -> Any:
        """The file's form on disk to the model's: each row's ``run`` index replaced by the
        run it names. The input is not changed."""
        if not isinstance(data, dict):
            return data
        rows = data.get("rows")
        if "runs" not in data:
            for i, row in enumerate(rows if isinstance(rows, list) else []):
                if isinstance(row, dict) and "run" in row:
                    raise _run_table_error(
                        f"rows.{i}.run",
                        f"row {_row_label(row)} names a run, but the file has no runs table",
                    )
            return data
        data = dict(data)
        raw_runs = data.pop("runs")
        if not isinstance(raw_runs, list):
            raise _run_table_error("runs", "not a list of runs")
        runs: list[Provenance] = []
        for j, raw in enumerate(raw_runs):
            try:
                runs.append(Provenance.model_validate(raw))
            except ValidationError as exc:
                where, msg = error_location(exc.errors()[0])
                raise _run_table_error(f"runs.{j}.{where}".rstrip("."), msg) from None
        if not isinstance(rows, list):
            return data  # the schema reports it
        resolved: list[Any] = []
        for i, row in enumerate(rows):
            if isinstance(row, dict) and "provenance" in row:  # the two forms mixed
                raise _run_table_error(
                    f"rows.{i}.provenance",
                    f"row {_row_label(row)} carries a provenance of its own in a file with a "
                    'runs table (a row names its run by index: "run": <i>)',
                )
            if not isinstance(row, dict) or "run" not in row:
                resolved.append(row)  # no run: validate reports it, the schema the rest
                continue
            run = row["run"]
            if type(run) is not int or not 0 <= run < len(runs):
                span = f"0 to {len(runs) - 1}" if runs else "none"
                raise _run_table_error(
                    f"rows.{i}.run",
                    f"row {_row_label(row)} names run {_short(repr(run))}, not one of the "
                    f"file's runs ({span})",
                )
            body = {k: v for k, v in row.items() if k != "run"}
            body["provenance"] = runs[run].model_copy()  # each row its own, as loaded before
            resolved.append(body)
        data["rows"] = resolved
        return data

    @model_serializer(mode="wrap")
    def _cite_runs(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """The model's form to the file's: the rows' runs listed once in ``runs`` (just before
        ``rows``), each row naming its own by index. Only cited runs are written."""
        data = handler(self)
        rows = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(self.rows):
            return data  # rows left out of this dump (include / exclude)
        runs: list[Any] = []
        index: dict[str, int] = {}
        out_rows = []
        for model_row, row in zip(self.rows, rows, strict=True):
            if isinstance(row, dict) and "provenance" in row:
                row = dict(row)
                prov = row.pop("provenance")
                if model_row.provenance is not None and prov is not None:
                    key = model_row.provenance.model_dump_json()  # as run_table tells runs apart
                    if key not in index:
                        index[key] = len(runs)
                        runs.append(prov)
                    row["run"] = index[key]
            out_rows.append(row)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == "rows":
                out["runs"] = runs
                value = out_rows
            out[key] = value
        return out


class DeviceFile(_Record):
    schema_version: int = SCHEMA_VERSION
    provenance: Provenance
    ceilings: Ceilings | None = None
    # Who measured a device contributed by pull request (a GitHub handle, from
    # $BLOCKGEMM_CONTRIBUTOR when the folder was first written); None: the project's machines.
    contributed_by: str | None = None


class PruningPoint(_Record):
    """One point of the pruning check: the pruned and the exhaustive search's winners, and both
    configs re-timed alternately in one session (``paired_*``: the ratio judged)."""

    kernel: str
    N: int
    K: int
    M: int
    B: int = 1
    pruned_us: float  # as measured by each search
    exhaustive_us: float
    pruned_config: dict[str, int]
    exhaustive_config: dict[str, int]
    pruned_timed: int
    exhaustive_timed: int
    paired_pruned_us: float | None = None
    paired_exhaustive_us: float | None = None

    @property
    def ratio(self) -> float:
        """pruned / exhaustive winner time, paired re-timing where there is one."""
        if self.paired_pruned_us and self.paired_exhaustive_us:
            num, den = self.paired_pruned_us, self.paired_exhaustive_us
        else:
            num, den = self.pruned_us, self.exhaustive_us
        return num / den if den > 0 else float("nan")  # validate reports a time that is not


class PruningCheck(_Record):
    schema_version: int = SCHEMA_VERSION
    provenance: Provenance
    points: list[PruningPoint]
    geomean_ratio: float  # geometric mean of pruned / exhaustive time (1.0 = same speed)
    worst_ratio: float | None = None  # the largest pruned / exhaustive time of any point
    points_planned: int | None = None  # the check's size; fewer points: still in progress
    search: int = SEARCH_V1  # the pruned search judged
    description: str | None = None


class TuneTimeCheck(_Record):
    schema_version: int = SCHEMA_VERSION
    provenance: Provenance
    description: str
    tasks: int
    wall_s: float
    compile_s: float | None = None  # only where the run measured it separately


class ModelFile(_Record):
    """A bundled model definition: the config.json fields that decide GEMM shapes."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(pattern=ID_PATTERN)
    hf_name: str
    source: str  # where the numbers come from
    config: dict[str, Any]


class SiteDataError(UserError):
    """A site_data file is missing, not JSON, or does not match its schema."""


M_ = TypeVar("M_", bound=BaseModel)


def schema_problem(raw: Any) -> str | None:
    """Why a parsed record's ``schema_version`` cannot be read by this code, or None.

    A newer version is refused, never read as this one: a tool that read it would write the
    file back as version 1, dropping or misreading what the newer fields say."""
    if not isinstance(raw, dict) or "schema_version" not in raw:
        return None
    version = raw["schema_version"]
    if type(version) is int and version == SCHEMA_VERSION:
        return None
    if type(version) is int and version > SCHEMA_VERSION:
        return (
            f"schema version {version} is newer than this code's ({SCHEMA_VERSION}): update "
            "blockgemm-catalog to read or write it (the file is left as it is)"
        )
    return f"{version!r} is not a version this code knows ({SCHEMA_VERSION})"


def load(path: str | os.PathLike[str], model: type[M_]) -> M_:
    """Read and validate one JSON file; errors name the file and the offending field.

    The read is bounded (:mod:`generator.data.safe_json`: a regular file, its size, nesting
    and integers), and a file of another schema version is refused (:func:`schema_problem`)."""
    path = Path(path)
    try:
        raw = read_json(path)
    except FileNotFoundError:
        raise SiteDataError(f"{path}: file not found") from None
    except UnsafeJSON as exc:
        raise SiteDataError(f"{path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SiteDataError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise SiteDataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    problem = schema_problem(raw)
    if problem:
        raise SiteDataError(f"{path}: field 'schema_version': {problem}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where, msg = error_location(exc.errors()[0])
        raise SiteDataError(f"{path}: field '{where or '<root>'}': {msg}") from None


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (``os.umask`` can only
    set and restore it, a race with other threads creating files)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write to a temp file in the same directory, then rename: never a half-written file.

    The file gets the mode an ordinary write would give it (0666 less the umask, so 0644
    usually): ``mkstemp`` creates 0600, and configs installed for a serving user other than the
    one who tuned were unreadable, so the engine silently fell back to its default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: str | os.PathLike[str], record: BaseModel) -> None:
    """Validate (pydantic already did on construction) and write atomically as indented JSON."""
    atomic_write_text(path, record.model_dump_json(indent=1, exclude_none=True) + "\n")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=4) + "\n")
