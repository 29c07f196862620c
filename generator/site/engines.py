"""What a user must know to install our files into an engine, and to see that they are used.

Why one place: the install sections of the model pages, the bundle READMEs and the
"Installing configs" page all state where each engine looks for its config files, which name it
expects, which log line proves a file was loaded, and when the engine runs the Triton kernel at
all (on Hopper both engines prefer other backends, so installing files can change nothing).
These facts change between engine versions; every statement is tied to the release whose
shipped files the catalog compares against (``generator/data/reference/sources.json``) and
worded as "as of" that release, with the sources a reader can check.

Where each engine looks, read from the wheels (2026-12-02): one folder per engine, the one its
loader opens, and no other.

* vLLM 0.33.0 (``vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl``, the sha256 pinned in
  ``generator/deepgemm_fetch.py``): ``get_w8a8_block_fp8_configs`` in
  ``vllm/model_executor/layers/quantization/utils/fp8_utils.py`` opens
  ``os.path.join(os.path.dirname(__file__), "configs", <name>)`` and nothing else.
  ``VLLM_TUNED_CONFIG_FOLDER`` (``vllm/envs.py``: "Shared by MoE, Mamba SSU, and LoRA") is read
  by the fused-MoE, Mamba and LoRA config loaders, not by this one: a block-FP8 GEMM file put
  there is never loaded.
* SGLang 0.5.23 (``sglang-0.5.23-cp312-cp312-manylinux_2_34_x86_64.whl``, sha256 8d257a31...):
  ``get_w8a8_block_fp8_configs`` in ``sglang/kernels/ops/gemm/fp8_kernel.py`` (and
  ``get_w8a8_block_int8_configs`` in ``sglang/kernels/ops/gemm/int8_kernel.py``) open
  ``os.path.join(os.path.dirname(__file__), "configs", <name>)``, i.e.
  ``sglang/kernels/ops/gemm/configs/``; no environment variable redirects them. The wheel has
  neither ``sglang/srt/layers/quantization/configs/`` nor
  ``sglang/kernels/ops/quantization/configs/``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from generator.configs.engine_files import FileFormat, file_name
from generator.data import dispatch
from generator.data.shipped import ShippedSet, shipped_sets
from generator.errors import UserError

TRITON = "triton"  # the dispatch rules' id of the Triton backend
HOPPER = "sm_90"  # the rules' architecture of the Hopper generation

LOADED_LOG = "Using configuration from {file} for W8A8 Block FP8 kernel."
DEFAULT_LOG = "Using default W8A8 Block FP8 kernel config. Performance might be sub-optimal!"
# the default line as both engines log it: DEFAULT_LOG, then the path looked at
DEFAULT_LOG_FULL = DEFAULT_LOG + " Config file not found at {file}"


@dataclass(frozen=True)
class LogCheck:
    """How to tell from an engine's log whether our files are used, read from its source.

    Both releases look a file up in ``get_w8a8_block_fp8_configs``, which only the Triton
    kernel's launcher calls (vLLM 0.33.0: ``w8a8_triton_block_scaled_mm`` in
    ``vllm/model_executor/layers/quantization/utils/fp8_utils.py``; SGLang 0.5.23:
    ``w8a8_block_fp8_matmul_triton`` in ``sglang/kernels/ops/gemm/fp8_kernel.py``), the first
    time it runs a weight shape (N, K): the function is ``functools.lru_cache``'d, so a process
    logs once per shape. A file there logs ``LOADED_LOG`` (INFO), none ``DEFAULT_LOG_FULL``
    (WARNING). Hence a line names a shape the Triton kernel ran, and no line for a shape means
    it did not run it, except where ``hidden`` says the line is not written."""

    who: str  # which processes write the lines
    hidden: tuple[str, ...]  # when the Triton kernel runs a shape and logs neither line

    @property
    def loaded(self) -> str:
        return LOADED_LOG.format(file="<folder>/N=…,K=…,….json")

    @property
    def default(self) -> str:
        return DEFAULT_LOG_FULL.format(file="<folder>/N=…,K=…,….json")

    def sentences(self, name: str, source: str) -> tuple[str, str, str, str]:
        """(when, loaded means, default means, neither means), plain text for pages and READMEs;
        ``source``: the lookup function, its file and the release (``Engine.loader_text``)."""
        when = (
            f"{name} looks for a config file the first time its Triton kernel runs a layer of a "
            "weight shape (N, K), and logs one of two lines naming that shape's file, once per "
            f"shape and process: {self.who}. Source: {source}, which only the Triton "
            "kernel calls."
        )
        loaded = (
            "the Triton kernel ran that shape with the file at that path: once ours is copied "
            "there, ours is in use for every layer of that shape."
        )
        default = (
            f"the Triton kernel ran that shape but found no file at that path, so it runs "
            f"{name}'s default config: compare the path with the name and folder of the file "
            "you copied."
        )
        neither = (
            "neither line naming a shape's N and K, once the server has answered a request: the "
            f"Triton kernel has not run that shape; {name} ran another backend for it, and our "
            "file for it changes nothing."
        )
        if self.hidden:
            neither += (
                " The lines are missing although the Triton kernel ran that shape when "
                + "; or when ".join(self.hidden)
                + "."
            )
        return when, loaded, default, neither


# Devices of the Hopper generation (sm_90), by the name prefix vLLM gives them: there both
# engines try other block-FP8 backends before the Triton kernel.
_HOPPER_PREFIXES = ("NVIDIA_H100", "NVIDIA_H200", "NVIDIA_H800", "NVIDIA_H20", "NVIDIA_GH200")


@dataclass(frozen=True)
class Engine:
    id: str  # its file format's value: the folder of its files in site_data and in the bundles
    name: str  # "vLLM"
    release: ShippedSet | None  # the release the catalog compares against
    package: str  # the Python package: its folder is where the config folder below is
    folder: str  # the one folder inside the package the engine loads these files from
    loader: tuple[str, str]  # (file in the wheel, function) that opens that folder
    sources: tuple[tuple[str, str], ...]  # (label, URL)
    log: LogCheck  # what its log says about our files

    # When the engine runs the Triton kernel at all is not typed here: it is the engine's
    # dispatch rules, read from its source (generator/data/reference/dispatch_rules.json), the
    # same facts the model pages' verdicts follow (an earlier sentence here said vLLM's Triton
    # kernel "may not run" on Hopper, where by its rules it runs only when forced).

    @property
    def rules(self) -> dispatch.EngineRules | None:
        """The dispatch rules of the release the catalog compares against (None: none kept)."""
        try:
            return dispatch.engine_rules(self.id, self.release.version if self.release else None)
        except UserError:
            return None

    @property
    def force_triton(self) -> str | None:
        """The first setting the rules give that forces the Triton kernel (a flag)."""
        rules = self.rules
        force = rules.backends[TRITON].force if rules and TRITON in rules.backends else ()
        return force[0].setting if force else None

    def runs_on(self, arch: str) -> str:
        """What the engine runs for a block-FP8 layer on ``arch``, rule by rule ("DeepGEMM
        where bfloat16 output, N % 64 == 0, K % 128 == 0; Triton for any other layer")."""
        rules = self.rules
        if rules is None:
            return "not recorded"
        parts = []
        for r in rules.rules:
            if r.when.arch is not None and arch not in r.when.arch:
                continue
            where = dataclasses.replace(r.when, arch=None).describe()
            backend = rules.backends[r.backend].short
            parts.append(
                f"{backend} for any other layer"
                if where == "always"
                else f"{backend} where {where}"
            )
            if where == "always":
                break
        return "; ".join(parts) or "nothing the rules record"

    def triton_by_default(self, arch: str) -> bool:
        """Whether any rule gives the Triton kernel a layer on ``arch`` by default."""
        rules = self.rules
        return bool(rules) and any(
            r.backend == TRITON and (r.when.arch is None or arch in r.when.arch)
            for r in (rules.rules if rules else ())
        )

    @property
    def hopper(self) -> str:
        """What it runs on Hopper, and when the Triton kernel (and with it our files) runs."""
        rules = self.rules
        if rules is None:
            return f"The dispatch rules of {self.name} are not recorded here."
        then = (
            "The Triton kernel, and with it these files, runs there only where the rules give "
            "it Triton, or when forced."
            if self.triton_by_default(HOPPER)
            else "The Triton kernel, and with it these files, runs there only when forced."
        )
        return (
            f"By its dispatch rules ({self.name} {rules.version}, read from its source), on "
            f"Hopper {self.name} runs {self.runs_on(HOPPER)}. {then}"
        )

    @property
    def triton_gpus(self) -> list[str]:
        """The GPUs (the rules' architectures) where some layer runs the Triton kernel by
        default, each with what runs where ("AMD Instinct on ROCm (...): every layer")."""
        rules = self.rules
        if rules is None:
            return []
        table = dispatch.rule_table()
        out = []
        for arch, what in table.archs.items():
            if not self.triton_by_default(arch):
                continue
            first = next(r for r in rules.rules if r.when.arch is None or arch in r.when.arch)
            out.append(
                f"{what}: " + ("every layer" if first.backend == TRITON else self.runs_on(arch))
            )
        return out

    @property
    def triton_every_layer(self) -> list[str]:
        """The GPUs (the rules' architectures, by name without the models) where the first
        rule that applies gives every layer to the Triton kernel ("AMD Instinct on ROCm")."""
        rules = self.rules
        if rules is None:
            return []
        out = []
        for arch, what in dispatch.rule_table().archs.items():
            first = next(
                (r for r in rules.rules if r.when.arch is None or arch in r.when.arch), None
            )
            if first is not None and first.backend == TRITON:
                out.append(what.split(" (")[0])
        return out

    @property
    def loader_text(self) -> str:
        """Where the folder comes from, for a reader: "get_w8a8_block_fp8_configs in
        sglang/kernels/ops/gemm/fp8_kernel.py of SGLang 0.5.23"."""
        file, function = self.loader
        version = f" {self.release.version}" if self.release else ""
        return f"{function} in {file} of {self.name}{version}"

    @property
    def log_sentences(self) -> tuple[str, str, str, str]:
        """What its log says about our files (:class:`LogCheck`), the source cited."""
        return self.log.sentences(self.name, self.loader_text)

    @property
    def as_of(self) -> str:
        return f"as of {self.name} {self.release.version}" if self.release else ""

    def file_name(self, N: int, K: int, device: str) -> str:
        return file_name(self.id, N, K, device, "fp8", (128, 128))


def _release(engine: str) -> ShippedSet | None:
    return next((s for s in shipped_sets() if s.engine == engine), None)


def engines() -> list[Engine]:
    vllm, sglang = _release("vllm"), _release("sglang")
    return [
        Engine(
            id=FileFormat.VLLM.value,
            name="vLLM",
            release=vllm,
            package="vllm",
            folder="model_executor/layers/quantization/utils/configs",
            loader=(
                "vllm/model_executor/layers/quantization/utils/fp8_utils.py",
                "get_w8a8_block_fp8_configs",
            ),
            sources=((f"vLLM {vllm.version} config folder", vllm.source),) if vllm else (),
            log=LogCheck(
                who="each worker process logs its own",
                hidden=(
                    "VLLM_LOGGING_LEVEL is WARNING or above, which hides the first line "
                    "(INFO by default, vllm/envs.py)",
                    "VLLM_BATCH_INVARIANT=1 is set: the kernel then skips the lookup and runs "
                    "the default config",
                ),
            ),
        ),
        Engine(
            id=FileFormat.SGLANG.value,
            name="SGLang",
            release=sglang,
            package="sglang",
            folder="kernels/ops/gemm/configs",
            loader=("sglang/kernels/ops/gemm/fp8_kernel.py", "get_w8a8_block_fp8_configs"),
            sources=((f"SGLang {sglang.version} config folder", sglang.source),) if sglang else (),
            log=LogCheck(
                who=(
                    "the first line comes from tensor-parallel rank 0 only "
                    "(log_info_on_rank0), the second from every rank"
                ),
                hidden=(
                    "torch.compile compiled the layer (--enable-torch-compile): while it "
                    "compiles, the lookup returns nothing and logs nothing "
                    "(torch._dynamo.is_compiling()), and the compiled layer runs the default "
                    "config",
                ),
            ),
        ),
    ]


def engine(engine_id: str) -> Engine:
    return next(e for e in engines() if e.id == engine_id)


def is_hopper(device_name: str) -> bool:
    return device_name.startswith(_HOPPER_PREFIXES)


def ships(release: ShippedSet | None, device: str, N: int, K: int) -> bool:
    """Whether ``release`` ships a config file for this device and shape (same name as ours)."""
    return bool(release and release.table(device, N, K, "fp8", (128, 128)))
