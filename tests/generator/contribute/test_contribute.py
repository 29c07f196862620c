"""``blockgemm contribute`` end to end on synthetic data (the GPU steps replaced by writers of
made-up measurements, ``tests/fixtures/contribute_fakes.py``): the estimate before any work,
the steps in order, resuming after an interrupted run, one archive that a maintainer's
``--unpack`` checks, validates and adds, and a site that shows the device as contributed.
Without a GPU the real command says so in one line."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from generator.cli import main as cli_main
from generator.contribute import cli as contribute_cli
from generator.contribute.archive import archive_name, unpack_archive
from generator.contribute.run import NO_GPU, Request, contribute
from generator.contribute.steps import Steps
from generator.data import layout
from generator.data.records import DeviceFile, load
from generator.data.validate import validate_tree
from generator.errors import UserError
from generator.tune.store import CONTRIBUTOR_ENV
from tests.fixtures.contribute_fakes import DEVICE, FakeGpu

MODEL, TP = "llama-3.1-8b", 1  # 4 weight shapes x 18 batch sizes: 72 tuning tasks


@pytest.fixture(autouse=True)
def _no_contributor_env(monkeypatch):
    monkeypatch.delenv(CONTRIBUTOR_ENV, raising=False)


def _request(tmp_path: Path, **kw) -> Request:
    return Request(
        contributor=kw.pop("contributor", "gpu-owner"),
        models=(MODEL,),
        tp_sizes=(TP,),
        save_path=tmp_path / "site_data",
        out=tmp_path / "out" / archive_name(DEVICE),
        **kw,
    )


def _run(tmp_path: Path, fake: FakeGpu) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = contribute(_request(tmp_path), fake.steps(), lines.append)
    return code, lines


def test_contribute_writes_one_archive_that_validates_and_renders_as_contributed(tmp_path):
    fake = FakeGpu()
    code, lines = _run(tmp_path, fake)
    assert code == 0, lines
    # the estimate comes before any work, then each step in order
    assert lines[0].startswith(f"contribute: {DEVICE}, 1 GPU(s); models {MODEL} at TP 1")
    assert lines[1] == "  1/3 tune: 72 tasks, 72 to do"
    assert lines[4].startswith("estimate: about ")
    assert [line for line in lines if line.startswith("[")] == [
        "[1/3] tune: started",
        lines[6],
        "[2/3] bench: started",
        lines[8],
        "[3/3] validate and archive: started",
        lines[10],
    ]
    assert fake.calls == [("tune", 72), ("bench", fake.calls[1][1])]
    out = tmp_path / "out" / archive_name(DEVICE)
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # one archive, no temp left

    with tarfile.open(out) as tar:
        names = tar.getnames()
        summary = json.load(tar.extractfile("CONTRIBUTION.json"))
        owners = {(m.uname, m.uid) for m in tar.getmembers()}
    assert all(n == "CONTRIBUTION.json" or n.startswith(f"devices/{DEVICE}") for n in names)
    assert f"devices/{DEVICE}/device.json" in names and owners == {("", 0)}
    assert not any(n.endswith(layout.LOCK_FILE) for n in names)
    assert summary["device"] == DEVICE and summary["contributed_by"] == "gpu-owner"
    assert summary["requested"]["tuning_tasks"] == 72
    assert summary["measured"]["tuning"] == {"w8a8_block": {"files": 4, "records": 72}}
    assert summary["measured"]["configs"] == {"sglang": 4, "vllm": 4}
    assert set(summary["measured"]["bench"]) == {"model", "square"}
    assert summary["validate"]["problems"] == 0 and set(summary["this_run_s"]) == {
        "tune",
        "bench",
        "validate",
    }

    # the maintainer: a fresh tree with the bundled models takes it, validates, renders it
    tree = tmp_path / "maintainer"
    shutil.copytree(layout.models_dir(layout.DEFAULT_SITE_DATA), layout.models_dir(tree))
    device, got, validation = unpack_archive(out, tree)
    assert device == DEVICE and validation.ok and got == summary
    assert validate_tree(tree).ok
    assert load(layout.device_file(tree, DEVICE), DeviceFile).contributed_by == "gpu-owner"

    from tests.fixtures.sitebuild import mkdocs_build

    result = mkdocs_build(tree, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "site" / "devices" / DEVICE / "index.html").read_text()
    assert "Contributed" in page and "@gpu-owner" in page
    assert "contributed by" in (tmp_path / "site" / "index.html").read_text()


def test_an_interrupted_run_resumes_and_says_so(tmp_path):
    fake = FakeGpu(stop_after=30)
    code, lines = _run(tmp_path, fake)
    assert code == 1
    assert (
        lines[-1].startswith("[1/3] tune: failed (exit 1)")
        and "rerun the same command" in (lines[-1])
    )
    assert not (tmp_path / "out").exists()  # no archive of half the work
    code, lines = _run(tmp_path, fake)
    assert code == 0
    assert lines[1] == "  1/3 tune: 72 tasks, 42 to do (30 already tuned: resuming)"
    assert [c for c in fake.calls if c[0] == "tune"] == [("tune", 72), ("tune", 42)]
    # a third run has nothing left to tune; the archive is written again
    code, lines = _run(tmp_path, fake)
    assert code == 0 and lines[1] == "  1/3 tune: 72 tasks, 0 to do (72 already tuned: resuming)"


def test_a_failed_bench_writes_no_archive(tmp_path):
    code, lines = _run(tmp_path, FakeGpu(fail_bench=True))
    assert code == 1 and lines[-1].startswith("[2/3] bench: failed")
    assert not (tmp_path / "out").exists()


def test_without_a_gpu_it_says_so_in_one_line_and_writes_nothing(tmp_path):
    lines: list[str] = []
    steps = Steps(probe=lambda limit: None, tune=None, bench=None)
    assert contribute(_request(tmp_path), steps, lines.append) == 1
    assert lines == [NO_GPU]
    assert not (tmp_path / "site_data").exists() and not (tmp_path / "out").exists()


def test_the_real_command_without_a_gpu(tmp_path, capsys):
    """CI has no GPU: the command itself says so in one line, exit code 1, nothing written."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["contribute", "--contributor", "gpu-owner", "--save-path", str(tmp_path / "sd")]
    code = cli_main([*argv, "--out", str(tmp_path / "a.tar.gz")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and out == [NO_GPU]
    assert not (tmp_path / "a.tar.gz").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--contributor", ""], "--contributor: give your GitHub handle"),
        (["--contributor", "not a handle!"], "--contributor 'not a handle!'"),
        (["--contributor", "me", "--gpus", "0"], "--gpus 0"),
        (["--contributor", "me", "--tp-size", "0"], "--tp-size 0"),
    ],
)
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.setattr(
        "generator.contribute.steps.DEFAULT_STEPS",
        Steps(probe=lambda limit: pytest.fail("work started"), tune=None, bench=None),
    )
    code = cli_main(["contribute", *argv, "--save-path", str(tmp_path / "sd")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err


def test_an_unknown_model_is_refused_before_the_tuner_starts(tmp_path):
    fake = FakeGpu()
    req = _request(tmp_path)
    req = Request(**{**req.__dict__, "models": ("no-such-model",)})
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        contribute(req, fake.steps(), lambda line: None)
    assert fake.calls == []


# --- the maintainer's side: what --unpack refuses ----------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("contribution")
    code = contribute(_request(tmp), FakeGpu().steps(), lambda line: None)
    assert code == 0
    return tmp / "out" / archive_name(DEVICE)


def _rewrite(src: Path, dest: Path, edit) -> Path:
    """A copy of the archive with ``edit(name, data) -> (name, data) | None`` applied."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None
            changed = edit(m, data)
            if changed is None:
                continue
            m, data = changed
            tout.addfile(m, io.BytesIO(data) if data is not None else None)
    return dest


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(layout.models_dir(layout.DEFAULT_SITE_DATA), layout.models_dir(tree))
    return tree


def _unchanged(tree: Path) -> None:
    assert not layout.devices_dir(tree).exists() or not any(
        p for p in layout.devices_dir(tree).iterdir() if not p.name.startswith(".")
    )


def test_unpack_refuses_a_path_outside_the_device_folder(archive, tmp_path):
    def escape(m, data):
        if m.name.endswith("device.json"):
            m.name = "../evil.json"
        return m, data

    bad = _rewrite(archive, tmp_path / "bad.tar.gz", escape)
    tree = _tree(tmp_path)
    with pytest.raises(UserError, match="is not a plain relative path"):
        unpack_archive(bad, tree)
    _unchanged(tree)
    assert not (tmp_path / "evil.json").exists()


def test_unpack_refuses_links(archive, tmp_path):
    def link(m, data):
        if m.name.endswith("device.json"):
            m.type, m.linkname, m.size = tarfile.SYMTYPE, "/etc/passwd", 0
            return m, None
        return m, data

    tree = _tree(tmp_path)
    with pytest.raises(UserError, match="is not a regular file or folder"):
        unpack_archive(_rewrite(archive, tmp_path / "bad.tar.gz", link), tree)
    _unchanged(tree)


def test_unpack_refuses_an_archive_whose_summary_names_another_device(archive, tmp_path):
    def other(m, data):
        if m.name == "CONTRIBUTION.json":
            raw = json.loads(data)
            raw["device"] = "NVIDIA_H200"
            data = json.dumps(raw).encode()
            m.size = len(data)
        return m, data

    tree = _tree(tmp_path)
    with pytest.raises(UserError, match="names device 'NVIDIA_H200'"):
        unpack_archive(_rewrite(archive, tmp_path / "bad.tar.gz", other), tree)
    _unchanged(tree)


def test_unpack_reports_invalid_data_and_adds_nothing(archive, tmp_path, capsys):
    """A hand-edited latency: ``validate`` finds it in the staged copy; the tree is untouched."""

    def negative(m, data):
        if "/tuning/" in m.name:
            raw = json.loads(data)
            raw["records"][0]["winner"]["latency_us"] = -13.9
            data = json.dumps(raw).encode()
            m.size = len(data)
        return m, data

    bad = _rewrite(archive, tmp_path / "bad.tar.gz", negative)
    tree = _tree(tmp_path)
    code = cli_main(["contribute", "--unpack", str(bad), "--save-path", str(tree)])
    err = capsys.readouterr().err
    assert code == 2 and "latency_us" in err and "nothing added" in err
    _unchanged(tree)


def test_unpack_refuses_a_device_that_is_there_unless_replacing(archive, tmp_path, capsys):
    tree = _tree(tmp_path)
    assert cli_main(["contribute", "--unpack", str(archive), "--save-path", str(tree)]) == 0
    assert f"unpack: {DEVICE} from @gpu-owner: 72 tuning records" in capsys.readouterr().out
    code = cli_main(["contribute", "--unpack", str(archive), "--save-path", str(tree)])
    assert code == 2 and "--replace" in capsys.readouterr().err
    argv = ["contribute", "--unpack", str(archive), "--save-path", str(tree), "--replace"]
    assert cli_main(argv) == 0
    assert validate_tree(tree).ok
    assert sorted(p.name for p in layout.devices_dir(tree).iterdir()) == [DEVICE]


def test_unpack_refuses_a_device_folder_without_a_contributor(archive, tmp_path):
    def anonymous(m, data):
        if m.name.endswith("/device.json"):
            raw = json.loads(data)
            raw.pop("contributed_by")
            data = json.dumps(raw).encode()
            m.size = len(data)
        return m, data

    tree = _tree(tmp_path)
    with pytest.raises(UserError, match="not a contributed device"):
        unpack_archive(_rewrite(archive, tmp_path / "bad.tar.gz", anonymous), tree)
    _unchanged(tree)


def test_cli_module_is_registered():
    from generator.cli import COMMANDS

    assert COMMANDS["contribute"] == contribute_cli.__name__


def test_the_real_steps_run_the_tuner_and_the_bench_with_resume(monkeypatch, tmp_path):
    """What the default steps hand the real tuner and bench (both stubbed at their entry):
    every task of the plan (the tuner skips finished ones itself), and the plan's sweeps,
    models and TP sizes with --resume."""
    from generator.bench import cli as bench_cli
    from generator.contribute import steps
    from generator.contribute.plan import build_plan
    from generator.tune import run as tune_run
    from tests.fixtures.contribute_fakes import synthetic_probe

    probe = synthetic_probe(None)
    plan = build_plan(("deepseek-v3",), (8,), probe.gpu, tmp_path, DEVICE)
    seen = {}
    monkeypatch.setattr(
        tune_run,
        "tune",
        lambda tasks, settings, exh, label, kernels: (
            seen.update(tune=(len(tasks), settings.gpus, exh, label, kernels)) or 0
        ),
    )
    monkeypatch.setattr(bench_cli, "run", lambda args: seen.update(bench=args) or 0)
    assert steps.run_tuner(plan, tmp_path, probe) == 0
    assert seen["tune"] == (306, 1, False, "deepseek-v3__tp8", ("w8a8_block", "a16w8_batched"))
    assert steps.run_bench(plan, tmp_path, probe) == 0
    args = seen["bench"]
    assert args.resume and args.sweep == ["mla", "square", "model"]
    assert args.model == ["deepseek-v3"] and args.tp_size == [8]
    assert args.save_path == tmp_path
