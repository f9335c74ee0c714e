"""A worker killed while FireWorks wrote a finished job's state and then its children's
leaves a child WAITING for parents that are done; the resume makes it READY."""
from __future__ import annotations

from fireworks import Firework, Workflow
from fireworks.user_objects.firetasks.script_task import PyTask

from perovflow.fireworks.builder import stage_metadata
from perovflow.fireworks.manager import ensure_initialised, rerun_stranded
from perovflow.store.connection import launchpad


def test_a_child_left_waiting_by_an_interrupted_update_runs_after_the_resume(target):
    lp = launchpad(target)
    ensure_initialised(lp)
    spec = {"campaign": {"name": "cut"}}
    parent = Firework(PyTask(func="time.sleep", args=[0]), spec=dict(spec), name="label")
    child = Firework(PyTask(func="time.sleep", args=[0]), spec=dict(spec), name="fit", parents=[parent])
    lp.add_wf(Workflow([parent, child], metadata=stage_metadata("cut")))
    parent_id, child_id = parent.fw_id, child.fw_id  # add_wf gave them their database ids
    # the parent's document says COMPLETED; the update of its child never came
    lp.fireworks.update_one({"fw_id": parent_id}, {"$set": {"state": "COMPLETED"}})
    lp.workflows.update_one({"nodes": parent_id}, {"$set": {f"fw_states.{parent_id}": "COMPLETED"}})
    assert lp.fireworks.find_one({"fw_id": child_id})["state"] == "WAITING"

    assert rerun_stranded(target, "cut") == []
    assert lp.fireworks.find_one({"fw_id": child_id})["state"] == "READY"


def test_jobs_left_without_their_workflow_by_an_interrupted_add_wf_do_not_stop_the_resume(target):
    lp = launchpad(target)
    ensure_initialised(lp)
    spec = {"campaign": {"name": "torn"}}
    parent = Firework(PyTask(func="time.sleep", args=[0]), spec=dict(spec), name="iteration")
    lp.add_wf(Workflow([parent], metadata=stage_metadata("torn")))
    lp.fireworks.update_one({"fw_id": parent.fw_id}, {"$set": {"state": "RUNNING"}})
    # add_wf of the next stage wrote its Fireworks, then the worker died before the workflow
    orphan = Firework(PyTask(func="time.sleep", args=[0]), spec={**spec, "_perovflow_parent": parent.fw_id},
                      name="relax")
    orphan.fw_id = 10_000
    lp.fireworks.insert_one({**orphan.to_db_dict(), "state": "WAITING"})

    assert rerun_stranded(target, "torn") == [parent.fw_id]  # before: ValueError, workflow not found
    assert lp.fireworks.find_one({"fw_id": parent.fw_id})["state"] == "READY"
