"""What a user runs today without our file: the engines' shipped entries and defaults.

For a kernel whose winners go to vLLM / SGLang files (the kernel the engines run), every task
also times, in the same run and the same way as its own candidates, the entry each engine
would pick from the file it ships for this device and shape (nearest batch-size key) and each
engine's default config. The search then never publishes a config slower than the best of them
(:func:`generator.tune.search.tune_task` says how noise is handled).
"""

from __future__ import annotations

from generator.configs.engine_files import ENGINES
from generator.configs.keys import Config
from generator.data.shipped import shipped_sets
from generator.data.tasks import Task
from generator.tune.tunables import Tunable
from kernels.tiling import pick_config


def engine_baselines(tunable: Tunable, task: Task, device_name: str) -> dict[str, Config]:
    """{baseline name: config} for ``task`` on ``device_name`` (vLLM's spelling), e.g.
    ``{"vllm-0.33.0": ..., "vllm-default": ..., "sglang-0.5.23": ..., "sglang-default": ...}``;
    empty for kernels no engine runs. A shipped set with no file for this device and shape
    contributes only its default (what the engine then runs)."""
    engines = {f.value for f in tunable.engine_files if f in ENGINES}
    out: dict[str, Config] = {}
    for shipped in shipped_sets():
        if shipped.engine not in engines:
            continue
        if device_name:
            table = shipped.table(device_name, task.N, task.K, task.input_type, task.block)
            if table:
                out[shipped.id] = pick_config(table, task.M)
        out.setdefault(f"{shipped.engine}-default", shipped.default_config(task.block))
    return out
