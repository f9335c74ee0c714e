"""Each stage of a campaign is a workflow of its own, added once per Firework that produced
it, however often that Firework runs (a rerun after its worker died adds nothing)."""
from __future__ import annotations

from fireworks import Firework, Workflow

from perovflow.campaign.next import Job, Next, fan_in
from perovflow.fireworks.builder import add_stage, fireworks_for, stage_metadata
from perovflow.fireworks.manager import ensure_initialised
from perovflow.fireworks.tasks import CampaignStepTask
from perovflow.store.connection import launchpad
from tests.reliability.sleepy import SleepTask


def a_stage() -> Next:
    return fan_in([Job(f"label-{i}", "label", {"group": i}, name=f"label {i}") for i in range(3)],
                  Job("fit", "fit", {"tag": "initial"}, name="fit"))


def test_a_stage_is_added_once_as_its_own_workflow(target):
    lp = launchpad(target)
    ensure_initialised(lp)
    parent = min(lp.add_wf(Workflow([Firework(SleepTask(seconds=0, mark="-"), spec={"campaign": {"name": "c"}})],
                                    metadata=stage_metadata("c"))).values())
    spec = {"campaign": {"name": "c"}, "_perovflow_db": target.as_spec()}
    first = add_stage(lp, parent, a_stage(), spec, CampaignStepTask)
    assert add_stage(lp, parent, a_stage(), spec, CampaignStepTask) is None  # the parent ran again

    workflows = list(lp.workflows.find({"metadata.campaign": "c"}))
    assert len(workflows) == 2
    stage = next(w for w in workflows if w["metadata"].get("perovflow_parent") == parent)
    assert first in stage["nodes"] and len(stage["nodes"]) == 4
    fit = lp.fireworks.find_one({"name": "fit"})
    assert sorted(stage["parent_links"][str(fit["fw_id"])]) == sorted(
        fw["fw_id"] for fw in lp.fireworks.find({"name": {"$regex": "^label"}}))
    assert lp.fireworks.count_documents({"spec._perovflow_parent": parent}) == 4


def test_fireworks_left_by_a_worker_killed_inside_add_wf_are_replaced(target):
    lp = launchpad(target)
    ensure_initialised(lp)
    spec = {"campaign": {"name": "c"}, "_perovflow_db": target.as_spec()}
    orphans = fireworks_for(a_stage(), spec["campaign"], spec["_perovflow_db"], CampaignStepTask)
    for firework in orphans:  # inserted, but the workflow document never was
        firework.spec["_perovflow_parent"] = 7
        firework.fw_id = 1000 + abs(firework.fw_id)
        lp.fireworks.insert_one(firework.to_db_dict())
    add_stage(lp, 7, a_stage(), spec, CampaignStepTask)
    assert lp.fireworks.count_documents({"spec._perovflow_parent": 7}) == 4
    workflow = lp.workflows.find_one({"metadata.perovflow_parent": 7})
    assert sorted(workflow["nodes"]) == sorted(fw["fw_id"] for fw in lp.fireworks.find({"spec._perovflow_parent": 7}))
