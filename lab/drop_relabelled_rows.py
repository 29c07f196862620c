"""Drop bench rows a later run superseded under another layer name (issue 22).

    python lab/drop_relabelled_rows.py [--site-data site_data]   # rewrites the files, prints counts

Why: until 2026-12-03 a rerun replaced rows by (provider, model, layer, tp, B, M, N, K), so
when a model's layers were named anew (DeepSeek-V3's 1536x7168: "unattributed (vLLM list)",
later "q_a_proj (unfused)"), the rows under the old name stayed beside the new run's: on the
H200, 180 rows of run 539cacb beside the 180 of 3396f59 at the same providers and points, so
the page showed one point twice, and the site test that takes one row per provider and point
found the old rows where the page counted the new. Since then a rerun replaces a provider's
rows at every point it measures, whatever their layer name (``generator.bench.store.merge``).
This applies that rule to the rows already committed: per (provider, model, tp, B, M, N, K),
only the rows of its newest run are kept (rows of one run under several names, layers that
share a shape, all stay). Nothing is relabelled; every kept row keeps its provenance.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generator.bench.store import point_of, row_key  # noqa: E402
from generator.data import records  # noqa: E402
from generator.data.records import BenchFile  # noqa: E402


def superseded(bf: BenchFile) -> list[int]:
    """Indexes of the rows a newer run measured again, at the same provider and point, under
    another layer name."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(bf.rows):
        groups[point_of(row_key(r))].append(i)  # the merge's own grouping
    drop = []
    for members in groups.values():
        if len({bf.rows[i].layer for i in members}) < 2:
            continue
        newest = max(bf.rows[i].provenance.date for i in members if bf.rows[i].provenance)
        drop += [
            i
            for i in members
            if bf.rows[i].provenance is None or bf.rows[i].provenance.date < newest
        ]
    return sorted(drop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-data", type=Path, default=REPO / "site_data")
    args = parser.parse_args()
    for path in sorted(args.site_data.glob("devices/*/bench/*.json")):
        bf = records.load(path, BenchFile)
        drop = set(superseded(bf))
        if not drop:
            continue
        names = sorted({(bf.rows[i].model, bf.rows[i].layer) for i in drop}, key=str)
        kept = [r for i, r in enumerate(bf.rows) if i not in drop]
        records.save(path, bf.model_copy(update={"rows": kept}))
        print(f"{path.relative_to(args.site_data)}: dropped {len(drop)} rows of {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
