"""The Ray backend under a fault: a local cluster of a head and two worker nodes with separate
resources; one worker node is killed while it runs a tuning task. Its task must be retried on
the other node or reported as failed, nothing merged may be lost, and a rerun finishes the rest
(issue 17). CPU only: interpreter tasks on tiny shapes, well under a minute."""

from __future__ import annotations

import pytest

from generator.data.records import TuneFile, load
from generator.tune import run
from generator.tune.run import RunSettings, run_tasks
from generator.tune.store import tune_file_path
from generator.tune.tasks import Task

TASKS = [Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, m) for m in (1, 2, 3, 4)]


@pytest.fixture
def cluster():
    pytest.importorskip("ray", reason="the optional ray extra is not installed")
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        nodes = [
            c.add_node(num_cpus=1, resources={"node_a": 1}),
            c.add_node(num_cpus=1, resources={"node_b": 1}),
        ]
        c.wait_for_nodes()
        yield c, nodes
    finally:
        ray.shutdown()
        c.shutdown()  # raylets, GCS and their workers: nothing is left running


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_a_worker_node_killed_mid_run_loses_nothing_merged(cluster, tmp_path, monkeypatch):
    c, (node_a, node_b) = cluster
    on_b = f"ray:{node_b.node_id[:12]}"
    killed: list[str] = []
    after_kill: list[str] = []
    merge = run.MergingWriter.__call__

    def merge_then_kill(writer, outcome):
        merge(writer, outcome)
        if killed:
            after_kill.append(outcome.worker)
        # node a is mid-task whenever node b reports: it took a task when the run started and
        # a new one each time it reported (there are more tasks than nodes)
        if not killed and outcome.worker == on_b:
            killed.append(outcome.task.label())
            c.remove_node(node_a)

    monkeypatch.setattr(run.MergingWriter, "__call__", merge_then_kill)
    settings = RunSettings(save_path=tmp_path, gpus=0, backend="ray", address=c.address)
    first = run_tasks(TASKS, settings, exhaustive=False)
    assert killed, "node b never reported"
    merged = set(first.records)
    reported = {o.task for o in first.failed}
    assert merged | reported == set(TASKS) and not merged & reported  # retried or reported
    assert set(after_kill) <= {on_b, "ray"}  # after the kill: node b, or reported by Ray

    path = tune_file_path(tmp_path, "CPU_INTERPRETER", TASKS[0], False)
    before = {r.M: r for r in load(path, TuneFile).records}
    assert set(before) == {t.M for t in merged}  # every merged record is in the file

    monkeypatch.undo()
    second = run_tasks(TASKS, settings, exhaustive=False)  # node b alone
    assert not second.failed and set(second.records) == set(TASKS) - merged
    after = {r.M: r for r in load(path, TuneFile).records}
    assert sorted(after) == [1, 2, 3, 4]
    assert all(after[m] == rec for m, rec in before.items())  # nothing merged was lost
