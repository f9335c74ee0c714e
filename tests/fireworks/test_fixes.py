"""The FireWorks fixes of perovflow.fireworks.hook, proven on the real server and real processes
(the hook itself: test_hook.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fireworks import Firework, Workflow
from fireworks.user_objects.firetasks.script_task import PyTask

from perovflow.fireworks.fixes import IdAssignerCollection
from perovflow.store.connection import launchpad, write_launchpad_yaml

BIN = Path(sys.executable).parent


def test_launchpad_ids_come_from_the_after_document(target):
    lp = launchpad(target)
    lp.reset("", require_password=False)
    assert isinstance(lp.fw_id_assigner, IdAssignerCollection)
    first = lp.get_new_fw_id(quantity=5)
    assert lp.get_new_fw_id() == first + 5
    launch = lp.get_new_launch_id()
    assert lp.get_new_launch_id() == launch + 1


def test_plain_fireworks_processes_carry_the_fixes(tmp_path):
    """A process that never imports perovflow itself still gets the FireWorks fixes, and only
    those: it is no perovflow process, so its BLAS settings stay its own."""
    code = (
        "from fireworks.core.launchpad import LaunchPad; import fireworks.core.rocket as r;"
        "import os; print(LaunchPad._perovflow_patched, r._perovflow_patched, os.environ.get('OPENBLAS_CORETYPE'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "PEROVFLOW_PROCESS")}
    out = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=tmp_path)
    assert out.stdout.split() == ["True", "True", "None"]


def test_offline_zopen_without_mode(tmp_path):
    import fireworks.core.rocket as rocket

    path = tmp_path / "FW_offline.json"
    path.write_text('{"a": 1}')
    with rocket.zopen(str(path)) as handle:  # FireWorks 2.1.4 calls it like this
        assert handle.read() == '{"a": 1}'


@pytest.mark.slow
def test_four_rlaunch_workers_run_each_firework_once(target, tmp_path):
    lp = launchpad(target)
    lp.reset("", require_password=False, max_reset_wo_password=1000)
    n_workflows, per_workflow = 40, 3  # 120 Fireworks among 4 racing workers
    for w in range(n_workflows):
        fws = [Firework(PyTask(func="time.sleep", args=[0.01]), name=f"wf{w}-{i}") for i in range(per_workflow)]
        lp.add_wf(Workflow(fws, {fws[0]: fws[1:]}))
    launchpad_file = write_launchpad_yaml(tmp_path / "my_launchpad.yaml", target)
    workers = []
    for index in range(4):
        folder = tmp_path / f"w{index}"
        folder.mkdir()
        workers.append(subprocess.Popen(
            [str(BIN / "rlaunch"), "-l", str(launchpad_file), "-s", "rapidfire", "--nlaunches", "0", "--sleep", "1"],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ))
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err.decode()[-2000:]
    fireworks = list(lp.fireworks.find({}, {"fw_id": 1, "state": 1}))
    assert len(fireworks) == n_workflows * per_workflow
    assert Counter(f["state"] for f in fireworks) == {"COMPLETED": len(fireworks)}
    assert len({f["fw_id"] for f in fireworks}) == len(fireworks)
    launches = list(lp.launches.find({}, {"launch_id": 1, "fw_id": 1}))
    assert len({l["launch_id"] for l in launches}) == len(launches)
    per_fw = Counter(l["fw_id"] for l in launches)
    assert set(per_fw) == {f["fw_id"] for f in fireworks}
    assert set(per_fw.values()) == {1}, "some Firework ran more than once"
    worker_folders = {Path(l["launch_dir"]).parent.name for l in lp.launches.find({}, {"launch_dir": 1})}
    assert len(worker_folders) >= 2, "the jobs were not shared between workers"


def _launch_ids(args):
    uri, database, count = args
    from perovflow.store.connection import DatabaseTarget

    lp = launchpad(DatabaseTarget(uri=uri, database=database))
    return [lp.get_new_launch_id() for _ in range(count)]


def test_concurrent_launch_ids_are_unique(target):
    """Four processes racing for launch ids (SecantusDB's stale before-documents gave
    ~1,050 distinct ids out of 1,800 racing hand-outs here without the fix)."""
    import multiprocessing

    lp = launchpad(target)
    lp.reset("", require_password=False)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = sum(pool.map(_launch_ids, [(target.uri, target.database, 150)] * 4), [])
    assert len(ids) == 600
    assert len(set(ids)) == 600


def test_the_lock_holder_survives_a_workflow_refresh_under_the_lock(target):
    """FireWorks replaces the workflow document while it holds the lock (``_update_wf``);
    the holder must still be recorded then, or a worker killed at that moment leaves a lock
    that nobody can tell from a live one."""
    from fireworks.core.launchpad import WFLock

    lp = launchpad(target)
    lp.reset("", require_password=False)
    fw_id = min(lp.add_wf(Workflow([Firework(PyTask(func="time.sleep", args=[0]))])).values())
    with WFLock(lp, fw_id):  # what _refresh_wf does inside its lock
        lp._update_wf(lp.get_wf_by_fw_id_lzyfw(fw_id), [fw_id])
        holder = lp.workflows.find_one({"nodes": fw_id})["locked_by"]
        assert holder["pid"] == __import__("os").getpid() and holder["since"] > 0
    assert "locked_by" not in lp.workflows.find_one({"nodes": fw_id})


HOLD_THROUGH_TERM = """
import sys, time
from pathlib import Path
import fireworks.core.rocket  # what an rlaunch worker loads
from fireworks.core.launchpad import WFLock
from perovflow.store.connection import DatabaseTarget, launchpad
lp = launchpad(DatabaseTarget(uri=sys.argv[1], database=sys.argv[2]))
with WFLock(lp, int(sys.argv[3])):
    print("locked", flush=True)
    time.sleep(2)  # FireWorks writing a job's and its children's states
    Path(sys.argv[4]).write_text("done")
time.sleep(60)
"""


def test_a_worker_stopped_with_sigterm_finishes_its_locked_update_and_lets_go(target, tmp_path):
    import signal

    lp = launchpad(target)
    lp.reset("", require_password=False)
    fw_id = min(lp.add_wf(Workflow([Firework(PyTask(func="time.sleep", args=[0]))])).values())
    mark = tmp_path / "update"
    holder = subprocess.Popen([str(BIN / "python"), "-c", HOLD_THROUGH_TERM, target.uri, target.database, str(fw_id),
                               str(mark)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=30) == -signal.SIGTERM  # at once after the lock, not after the 60 s sleep
    assert mark.read_text() == "done"  # the update under the lock was not cut short
    assert "locked" not in lp.workflows.find_one({"nodes": fw_id})
