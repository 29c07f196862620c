"""``python -m generator.bench.snapshot``: write the registry's provider metadata, torch-free.

Why: the registry (:mod:`generator.bench.registry`) is built from the providers' modules, which
import torch and Triton; ``validate`` (:mod:`generator.data`, below the bench) and the site
(no GPU stack) must know every registered provider's metadata all the same, to read it from
the code rather than from whichever bench file was loaded last. They read this snapshot
(:mod:`generator.data.provider_registry`); a test keeps it equal to the registry, so a
provider added or changed here fails CI until the snapshot is rewritten with this command.
"""

from __future__ import annotations

import json
import sys

from generator.bench.registry import PROVIDERS
from generator.data.provider_registry import SNAPSHOT
from generator.data.records import atomic_write_text


def snapshot_text() -> str:
    """The registry's metadata, in registry order, as the snapshot file holds it."""
    infos = [p.info.model_dump(mode="json", exclude_defaults=True) for p in PROVIDERS]
    return json.dumps(infos, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    atomic_write_text(SNAPSHOT, snapshot_text())
    print(f"wrote {len(PROVIDERS)} providers to {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
