"""Turns the campaign's plain "what runs next" values into Fireworks: the only place that
decides how jobs become Fireworks and how they link.

Spec keys of every perovflow Firework: ``campaign`` (the validated settings as a plain
dict, parsed again by every task) and ``_perovflow_db`` ({uri, database}); a worker's
``env.perovflow_db`` (from ``my_fworker.yaml``) overrides the latter. ``perovflow_optional``
marks a job the campaign can finish without (a label, an engine relaxation). ``_category``
is the campaign's ``queues.dft`` for engine jobs and ``queues.ml`` for the others, so that
workers of one category (``my_fworker.yaml``) take only those.

Each :class:`Next` becomes a workflow of its own (a stage: a batch of labels and the fit
that waits for them, one iteration), added by the Firework that produced it. FireWorks
locks a whole workflow for every check-out and completion and refreshes all of its
nodes, so one workflow that grows with every stage makes each job wait for every other
and slows down as the campaign grows; ``benchmarks/bench_workflow_shape.py`` measures it.
"""
from __future__ import annotations

from typing import Any

from fireworks import FiretaskBase, Firework, FWAction, Workflow

from perovflow.campaign.next import Next
from perovflow.campaign.steps import queue_of
from perovflow.settings import CampaignSettings
from perovflow.store.connection import DatabaseTarget


def job_spec(campaign: dict[str, Any], database: dict[str, str], **extra: Any) -> dict[str, Any]:
    # _add_launchpad_and_fw_id: the task adds the next stage's workflow with its worker's LaunchPad
    return {"campaign": campaign, "_perovflow_db": database, "_add_launchpad_and_fw_id": True, **extra}


def fireworks_for(nxt: Next, campaign: dict[str, Any], database: dict[str, str],
                  task_class: type[FiretaskBase]) -> list[Firework]:
    """One Firework per job, each running ``task_class(step=..., args=...)``, linked as the
    jobs wait for each other."""
    built: dict[str, Firework] = {}
    for job in nxt.jobs:
        extra = {"_allow_fizzled_parents": True} if job.tolerate_failed else {}
        if job.optional:
            extra["perovflow_optional"] = True
        category = (campaign.get("queues") or {}).get(queue_of(job.step))  # specs older than queues have none
        if category:
            extra["_category"] = category
        parents = [built[key] for key in job.after] or None
        built[job.key] = Firework(task_class(step=job.step, args=job.args), spec=job_spec(campaign, database, **extra),
                                  name=job.name, parents=parents)
    return list(built.values())


def stage_metadata(campaign: str, parent: int | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"campaign": campaign, "perovflow": True}
    if parent is not None:
        metadata["perovflow_parent"] = parent
    return metadata


def add_stage(lp, parent: int, nxt: Next, fw_spec: dict[str, Any], task_class: type[FiretaskBase]) -> int | None:
    """Add ``nxt`` as a workflow of its own, once per ``parent`` Firework: a rerun of the
    parent (after its worker died) finds the workflow it added and adds nothing. Returns
    the new workflow's first fw_id, or None when it was there already."""
    if lp.workflows.find_one({"metadata.perovflow_parent": parent}, {"_id": 1}) is not None:
        return None
    # a worker killed inside add_wf leaves Fireworks without their workflow document
    lp.fireworks.delete_many({"spec._perovflow_parent": parent})
    campaign = fw_spec["campaign"]
    fireworks = fireworks_for(nxt, campaign, fw_spec["_perovflow_db"], task_class)
    for firework in fireworks:
        firework.spec["_perovflow_parent"] = parent
    workflow = Workflow(fireworks, name=f"perovflow:{campaign['name']}:{fireworks[-1].name}",
                        metadata=stage_metadata(campaign["name"], parent))
    return min(lp.add_wf(workflow).values())


def fwaction(nxt: Next, fw_spec: dict[str, Any], task: FiretaskBase, join: bool = False) -> FWAction:
    """What a finished task tells FireWorks: its record; the jobs to add go into a workflow
    of their own. ``join`` (or a Firework submitted before stages had workflows of their
    own, which has no LaunchPad): into the running workflow, as FireWorks' ``additions``."""
    if not nxt.jobs:
        return FWAction(stored_data=dict(nxt.record))
    lp = getattr(task, "launchpad", None)
    if join or lp is None:
        fireworks = fireworks_for(nxt, fw_spec["campaign"], fw_spec["_perovflow_db"], type(task))
        return FWAction(stored_data=dict(nxt.record), additions=Workflow(fireworks, name=fireworks[-1].name))
    add_stage(lp, task.fw_id, nxt, fw_spec, type(task))
    return FWAction(stored_data=dict(nxt.record))


def campaign_workflow(settings: CampaignSettings, target: DatabaseTarget, first: Next,
                      task_class: type[FiretaskBase]) -> Workflow:
    """The workflow a campaign is submitted as; each later stage is added as a workflow of
    its own by the Firework that produced it."""
    fireworks = fireworks_for(first, settings.as_dict(), target.as_spec(), task_class)
    return Workflow(fireworks, name=f"perovflow:{settings.name}", metadata=stage_metadata(settings.name))
