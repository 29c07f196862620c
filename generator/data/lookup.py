"""The one tuned-config lookup: which config a kernel runs for (device, shape, M).

It reads published files only (site_data), so it lives with the data, below the tuner and the
benchmark that both use it: a figure in the catalog is what a user gets from the files we
publish:

* a kernel whose winners go to engine files (the drop-in kernel: vLLM / SGLang; the batched
  A16W8 kernel: our A16W8 table) is looked up in *that file*, exactly as the engine loads it;
* a kernel of our own is looked up in its tuning record's winners;
* within a table, the entry whose batch-size key is nearest to M (ties: the smaller key, the
  first in file order), as vLLM and SGLang pick;
* no table: ``None``; the caller decides (the kernel's own default, what ``config=None`` runs).
"""

from __future__ import annotations

from pathlib import Path

from generator.configs.engine_files import read_table
from generator.configs.kernel_table import formats_of
from generator.configs.keys import Config
from generator.data import layout
from generator.data.layout import table_path
from generator.data.records import TuneFile, load
from generator.data.tasks import Task
from kernels.tiling import pick_config


def tune_file_path(save_path: Path, device_name: str, task: Task, exhaustive: bool) -> Path:
    """The tuning file ``task``'s record merges into."""
    return layout.tune_file(save_path, device_name, task.file_key, exhaustive)


def winner_table(tf: TuneFile) -> dict[int, Config]:
    """Batch size -> winning config of a TuneFile (batch sizes with no correct config left
    out): the table a kernel picks its config from, as in the drop-in files."""
    return {r.M: r.winner.config for r in tf.records if r.winner and r.winner.config}


def tuned_table(site_data: Path | None, device_name: str, task: Task) -> dict[int, Config] | None:
    """The published {M: config} table for ``task``'s kernel, dtypes and shape (M ignored)."""
    if site_data is None or not device_name:
        return None
    formats = formats_of(task.kernel)
    if formats:
        path = table_path(
            site_data,
            device_name,
            formats[0],
            task.N,
            task.K,
            task.input_type,
            task.block,
            task.B,
        )
        return read_table(path)
    path = tune_file_path(site_data, device_name, task, exhaustive=False)
    if not path.exists():
        return None
    return winner_table(load(path, TuneFile)) or None


def tuned_config(site_data: Path | None, device_name: str, task: Task) -> Config | None:
    """The config ``task``'s kernel runs at ``task.M`` from the published table, or None."""
    table = tuned_table(site_data, device_name, task)
    return pick_config(table, task.M) if table else None
