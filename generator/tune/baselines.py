"""What a user runs today without our file: the engines' shipped entries and defaults.

For a kernel whose winners go to vLLM / SGLang files (the kernel the engines run), every task
also times, in the same run and the same way as its own candidates, the entry each engine
would pick from the file it ships for this device and shape (nearest batch-size key) and each
engine's default config. The search then never publishes a config slower than the best of them
(:func:`generator.tune.search.tune_task` says how noise is handled).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.configs.engine_files import ENGINES
from generator.configs.keys import Config
from generator.data.shipped import shipped_sets
from generator.data.tasks import Task
from generator.tune.tunables import Tunable
from kernels.tiling import pick_config


@dataclass(frozen=True)
class Baseline:
    """One config a user runs today: an engine's shipped entry, or its default."""

    name: str  # "vllm-0.33.0" (a shipped set's id) or "vllm-default"
    config: Config
    shipped: bool  # from a file the engine ships (else the engine's default)


def engine_baselines(tunable: Tunable, task: Task, device_name: str) -> list[Baseline]:
    """What each engine runs for ``task`` on ``device_name`` (vLLM's spelling): the shipped
    entries first (e.g. ``vllm-0.33.0``, ``sglang-0.5.23``), then the defaults
    (``vllm-default``, ``sglang-default``); empty for kernels no engine runs. A shipped set
    with no file for this device and shape contributes only its default (what the engine then
    runs)."""
    engines = {f.value for f in tunable.engine_files if f in ENGINES}
    entries: list[Baseline] = []
    defaults: list[Baseline] = []
    for shipped in shipped_sets():
        if shipped.engine not in engines:
            continue
        if device_name:
            table = shipped.table(device_name, task.N, task.K, task.input_type, task.block)
            if table:
                entries.append(Baseline(shipped.id, pick_config(table, task.M), True))
        name = f"{shipped.engine}-default"
        if all(d.name != name for d in defaults):
            defaults.append(Baseline(name, shipped.default_config(task.block), False))
    return entries + defaults
