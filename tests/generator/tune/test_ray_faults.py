"""The Ray backend under a fault: a local cluster of a head and two worker nodes; node a is
killed while it holds a tuning task. That task must be retried on node b or reported as failed,
nothing merged may be lost, and a rerun finishes the rest (issue 17).

Deterministic by construction (issue 21): every task is pinned to a node (its placement, the
dispatcher's one seam), the task on node a announces itself with a marker file and then holds
its node until the node dies, and the test kills node a when the marker appears. So node a is
mid-task when it dies, it never reports, and nothing depends on how long a task takes or on
where Ray would have put it. CPU only: interpreter tasks on tiny shapes, well under a minute.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from generator.data.lookup import tune_file_path
from generator.data.records import TuneFile, load
from generator.data.tasks import Task
from generator.tune import dispatch
from generator.tune.run import RunSettings, run_tasks

TASKS = [Task("w8a8_block", "fp8", "bfloat16", 128, 128, 48, 256, 1, m) for m in (1, 2, 3, 4)]
ON_A = TASKS[0]  # the task node a holds when it dies
MARKER_TIMEOUT_S = 120  # a bound on waiting for node a to take its task, not a timing


@pytest.fixture
def cluster():
    pytest.importorskip("ray", reason="the optional ray extra is not installed")
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        nodes = [c.add_node(num_cpus=1), c.add_node(num_cpus=1)]
        c.wait_for_nodes()
        yield c, nodes
    finally:
        ray.shutdown()
        c.shutdown()  # raylets, GCS and their workers: nothing is left running


def pin_tasks(monkeypatch, node_a: str, node_b: str, marker: Path) -> None:
    """Pin ``ON_A`` to node a (soft: a retry may run elsewhere once node a is gone) and every
    other task to node b (hard); on node a the task writes ``marker`` and holds the node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    def placement(task: Task) -> dict:
        node, soft = (node_a, True) if task == ON_A else (node_b, False)
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=soft)}

    tune_on_node = dispatch._ray_task  # module-level: pickled by reference

    def hold_on_node_a(task, opts):  # a closure: Ray pickles it by value
        import ray

        if ray.get_runtime_context().get_node_id() == node_a:
            marker.write_text(task.label())
            threading.Event().wait()  # until node a is killed
        return tune_on_node(task, opts)

    monkeypatch.setattr(dispatch, "ray_placement", placement)
    monkeypatch.setattr(dispatch, "_ray_task", hold_on_node_a)


def kill_when_marked(c, node, marker: Path) -> threading.Thread:
    """Remove ``node`` from the cluster as soon as ``marker`` exists (the event that node a
    holds its task)."""

    def watch() -> None:
        deadline = time.monotonic() + MARKER_TIMEOUT_S
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if marker.exists():
            c.remove_node(node)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.ray
@pytest.mark.timeout(300)
@pytest.mark.parametrize("retries", [0, 1], ids=["reported", "retried"])
def test_node_killed_mid_task_loses_nothing_merged(cluster, tmp_path, monkeypatch, retries):
    c, (node_a, node_b) = cluster
    marker = tmp_path / "node-a-holds-a-task"
    on_b = f"ray:{node_b.node_id[:12]}"
    pin_tasks(monkeypatch, node_a.node_id, node_b.node_id, marker)
    watcher = kill_when_marked(c, node_a, marker)
    settings = RunSettings(
        save_path=tmp_path / "out", gpus=0, backend="ray", address=c.address, ray_retries=retries
    )

    first = run_tasks(TASKS, settings, exhaustive=False)
    watcher.join()
    assert marker.read_text() == ON_A.label(), "node a never took its task"
    merged = set(first.records)
    reported = {o.task for o in first.failed}
    # node a never reported: its task was retried on node b or reported failed by Ray
    assert set(first.per_worker) <= {on_b, "ray"}
    if retries:
        assert merged == set(TASKS) and not reported
    else:
        assert merged == set(TASKS) - {ON_A} and reported == {ON_A}
        assert [o.worker for o in first.failed] == ["ray"]

    path = tune_file_path(settings.save_path, "CPU_INTERPRETER", TASKS[0], False)
    before = {r.M: r for r in load(path, TuneFile).records}
    assert set(before) == {t.M for t in merged}  # every merged record is in the file

    monkeypatch.undo()
    second = run_tasks(TASKS, settings, exhaustive=False)  # node b alone
    assert not second.failed and set(second.records) == set(TASKS) - merged
    after = {r.M: r for r in load(path, TuneFile).records}
    assert sorted(after) == [1, 2, 3, 4]
    assert all(after[m] == rec for m, rec in before.items())  # nothing merged was lost
