"""Which run measured each bench row that carries no provenance of its own? (issue 22)

    python lab/recover_row_provenance.py [--site-data site_data] [--dry-run]

The question. Bench rows written since 2026-12-02 carry the run that measured them
(``BenchRow.provenance``); older rows do not, and ``records.row_provenance`` falls back to the
file's provenance, which is the *last writer's*: a file merges rows of several runs (a rerun
replaces only the rows it measured), so the fallback mislabels every row of an older run.

The method. Git has every committed version of every bench file. For each committed file under
``site_data/devices/*/bench/``, its versions are read oldest to newest (``git log --follow``,
``git show <sha>:<path>``), and each row key (provider, model, layer, tp, B, M, N, K) is
followed through them by a fingerprint of the row (everything but its provenance). A row
without provenance gets the provenance of the version in which its *current* fingerprint first
appeared: that version's own row provenance where the row had one there, else that version's
file provenance (the run that wrote the version). Nothing is relabelled with a newer run: a
measurement keeps the run that produced it. A row is dropped, and listed, where that is not
decidable:

* its fingerprint first appeared in a version whose file provenance is that of the version
  before (no run wrote that version: an edit, a migration), and the row had no provenance there;
* it holds a timing, and its fingerprint was also in the key's history before an absence or
  another fingerprint (a timing never recurs: an old row was restored, by no run the history
  names);
* it is not in the newest committed version (an uncommitted row without provenance), or two rows
  of its key were in one version.

A row that holds no timing (unsupported, incorrect, error: never timed) recurs identically in
every run that meets it, so a later re-run leaves no trace in the file: such a row gets the
first run of the stretch of versions in which it has been as it is now (that run certainly
recorded it; a later one may have recorded the same), and the summary counts them apart.

``git log --follow`` also detects *copies*: the H100 files were added as near-copies of the H200
ones and --follow walks on into the H200 history. A version whose change status is a copy (C)
or an add (A) is the file's first, and a version measured on another device stops the walk.

Rows already carrying provenance are left as they are. The files are written back atomically in
``records.save``'s format (a load and save of an untouched file is byte-identical). A summary per
file says how many rows each run got, and which (model, TP) and providers, so the result can be
checked against what the commit messages say each run measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generator.data import layout, records  # noqa: E402
from generator.data.records import BenchFile, Provenance  # noqa: E402

KEY_FIELDS = ("provider", "model", "layer", "tp", "B", "M", "N", "K")
Key = tuple[Any, ...]


class RecoveryError(Exception):
    """Input this script cannot work on (no git checkout, no bench files): one line, exit 2."""


@dataclass(frozen=True)
class Version:
    """One committed version of a bench file."""

    index: int  # 0: the oldest
    commit: str
    committed: str  # the commit's date, ISO
    status: str  # git's change status for the file in this commit: A, M, C075, R100, ...
    path: str  # the file's path in this commit
    provenance: dict[str, Any]  # the file's provenance in this version (the run that wrote it)
    new_run: bool  # whether that provenance differs from the version before's (a run wrote it)


@dataclass
class Segment:
    """A stretch of versions in which one key held one fingerprint."""

    fingerprint: bytes
    first: int  # version index where this fingerprint first appeared
    last: int  # last version index seen with it
    row_provenance: dict[str, Any] | None  # the row's own provenance at ``first``, if any


@dataclass
class FileResult:
    path: Path
    versions: list[Version]
    recovered: Counter = field(default_factory=Counter)  # origin label -> rows
    detail: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    providers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    dropped_examples: dict[str, Key] = field(default_factory=dict)
    had_own: int = 0
    untimed: Counter = field(default_factory=Counter)  # origin label -> recovered, never timed


def _git(*args: str, text: bool = True) -> Any:
    out = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=text, check=False, timeout=300
    )
    if out.returncode != 0:
        err = out.stderr if text else out.stderr.decode(errors="replace")
        raise RecoveryError(f"git {' '.join(args)}: {err.strip() or 'failed'}")
    return out.stdout


def history(rel: str) -> list[tuple[str, str, str, str]]:
    """(commit, date, status, path at that commit) of every version of ``rel``, newest first,
    stopping at the version that added the file (an add, or a copy of another file)."""
    out = _git("log", "--follow", "--name-status", "--format=@%H %cI", "--", rel)
    entries: list[tuple[str, str, str, str]] = []
    commit = date = ""
    for line in out.splitlines():
        if line.startswith("@"):
            commit, date = line[1:].split(" ", 1)
        elif line.strip():
            parts = line.split("\t")
            entries.append((commit, date, parts[0], parts[-1]))
    kept = []
    for entry in entries:
        kept.append(entry)
        if entry[2].startswith(("A", "C")):
            break
    return kept


def raw_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """A version's rows with each one's provenance inline, whichever form the version has: rows
    of the newer form name their run by index into the file's ``runs`` (``records.BenchFile``).
    Read raw, not through the schema, since an old version need not match today's."""
    runs = raw.get("runs")
    rows = raw.get("rows", [])
    if not isinstance(runs, list):
        return rows
    out = []
    for row in rows:
        run = row.get("run")
        body = {k: v for k, v in row.items() if k != "run"}
        if type(run) is int and 0 <= run < len(runs):
            body["provenance"] = runs[run]
        out.append(body)
    return out


def fingerprint(row: dict[str, Any]) -> bytes:
    body = {k: v for k, v in row.items() if k not in ("provenance", "run")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def timed(row: dict[str, Any]) -> bool:
    """Whether a row holds a timing (ok rows): a timing never recurs exactly in another run,
    an outcome without one (unsupported, incorrect, error) recurs in every run that meets it."""
    return row.get("measurement", {}).get("latency_us") is not None


def row_key(row: dict[str, Any]) -> Key:
    return tuple(row.get(k, 1 if k == "B" else None) for k in KEY_FIELDS)


def _short(p: dict[str, Any]) -> str:
    return f"{str(p.get('git_sha', '?'))[:7]} {str(p.get('date', '?'))[:10]}"


def recover_file(path: Path, device: str, dry_run: bool) -> FileResult:
    """Recover the rows of one bench file (see the module docstring); write it unless
    ``dry_run``."""
    rel = path.relative_to(REPO).as_posix()
    entries = list(reversed(history(rel)))
    if not entries:
        raise RecoveryError(f"{rel}: not in git history (commit it first)")
    versions: list[Version] = []
    segments: dict[Key, list[Segment]] = defaultdict(list)
    previous: dict[str, Any] | None = None
    doubled: set[Key] = set()  # keys with two rows in some version
    skipped = 0
    for commit, date, status, old_path in entries:
        raw = json.loads(_git("show", f"{commit}:{old_path}"))
        prov = raw.get("provenance") or {}
        if prov.get("device_name") != device:
            if versions:
                raise RecoveryError(
                    f"{rel}: version {commit[:7]} was measured on {prov.get('device_name')}"
                )
            skipped += 1  # what --follow found before the file began is another device's
            continue
        i = len(versions)
        versions.append(Version(i, commit, date, status, old_path, prov, prov != previous))
        previous = prov
        seen: Counter = Counter()
        for row in raw_rows(raw):
            key = row_key(row)
            seen[key] += 1
            if seen[key] > 1:
                doubled.add(key)
            fp = fingerprint(row)
            segs = segments[key]
            if segs and segs[-1].fingerprint == fp and segs[-1].last == i - 1:
                segs[-1].last = i
            else:  # new, changed, or back after an absence: a new stretch
                segs.append(Segment(fp, i, i, row.get("provenance")))
    if skipped:
        print(f"  ({skipped} older version(s) found by --follow belong to another device)")
    if not versions:
        raise RecoveryError(f"{rel}: no committed version measured on {device}")

    result = FileResult(path, versions)
    current = json.loads(path.read_text(encoding="utf-8"))
    newest = len(versions) - 1
    # key -> (provenance, the commit it first appeared in), or why it is dropped
    verdicts: dict[Key, tuple[dict[str, Any], str] | str] = {}
    for row in raw_rows(current):
        key = row_key(row)
        if row.get("provenance") is not None:
            result.had_own += 1
            continue
        segs = segments.get(key, [])
        fp = fingerprint(row)
        seg = segs[-1] if segs else None
        if key in doubled:
            verdicts[key] = "two rows of its key in some version"
        elif seg is None or seg.fingerprint != fp or seg.last != newest:
            verdicts[key] = "not in the newest committed version as it is now"
        elif timed(row) and any(s.fingerprint == fp for s in segs[:-1]):
            # a timing cannot recur: an older version's row was restored, by no run we know
            verdicts[key] = "a timed row back after an absence or another measurement"
        elif seg.row_provenance is not None:
            verdicts[key] = (seg.row_provenance, versions[seg.first].commit)
        elif seg.first == 0 or versions[seg.first].new_run:
            verdicts[key] = (versions[seg.first].provenance, versions[seg.first].commit)
        else:
            verdicts[key] = "first appeared in a version that no run wrote (same provenance)"

    bf = records.load(path, BenchFile)
    kept = []
    for row in bf.rows:
        key = (row.provider, row.model, row.layer, row.tp, row.B, row.M, row.N, row.K)
        verdict = verdicts.get(key)
        if row.provenance is not None:
            kept.append(row)
        elif isinstance(verdict, tuple):
            prov, commit = verdict
            row.provenance = Provenance.model_validate(prov)
            label = f"{prov.get('git_sha', '?')[:7]} {prov.get('date', '?')} (commit {commit[:7]})"
            result.recovered[label] += 1
            result.detail[label][f"{row.model} tp{row.tp}" if row.model else row.sweep] += 1
            result.providers[label].add(row.provider)
            if row.measurement.latency_us is None:
                result.untimed[label] += 1
            kept.append(row)
        else:
            reason = verdict or "no history"
            result.dropped[reason] += 1
            result.dropped_examples.setdefault(reason, key)
    changed = result.recovered or result.dropped
    if changed and not dry_run:
        bf.rows = kept
        records.save(path, bf)
    return result


def _report(res: FileResult, dry_run: bool) -> None:
    rel = res.path.relative_to(REPO).as_posix()
    print(f"{rel}: {len(res.versions)} versions")
    for v in res.versions:
        run = "" if v.new_run else " (no new run)"
        print(
            f"  {v.commit[:7]} {v.committed[:10]} {v.status:5s} file provenance "
            f"{_short(v.provenance)}{run}"
        )
    total = sum(res.recovered.values())
    verb = "would recover" if dry_run else "recovered"
    print(f"  {res.had_own} rows had their own provenance; {verb} {total}:")
    for label, n in sorted(res.recovered.items(), key=lambda kv: kv[0].split()[1]):  # by date
        where = ", ".join(f"{k}: {c}" for k, c in sorted(res.detail[label].items()))
        print(
            f"    {n} rows ({res.untimed[label]} never timed) from the run {label}, "
            f"{len(res.providers[label])} providers; {where}"
        )
    for reason, n in res.dropped.items():
        print(f"  dropped {n} rows: {reason} (e.g. {res.dropped_examples[reason]})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-data", type=Path, default=layout.DEFAULT_SITE_DATA)
    parser.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    args = parser.parse_args(argv)
    try:
        site_data = args.site_data.resolve()
        if not site_data.is_relative_to(REPO):
            raise RecoveryError(f"{site_data}: not inside this checkout ({REPO})")
        tracked = set(_git("ls-files", "--", str(site_data)).splitlines())
        paths = sorted(
            p
            for p in layout.devices_dir(site_data).glob(f"*/{layout.BENCH}/*.json")
            if p.relative_to(REPO).as_posix() in tracked
        )
        if not paths:
            raise RecoveryError(f"{site_data}: no committed bench files")
        for path in paths:
            device = path.parent.parent.name
            _report(recover_file(path, device, args.dry_run), args.dry_run)
    except (RecoveryError, records.SiteDataError) as exc:
        print(f"recover_row_provenance: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
