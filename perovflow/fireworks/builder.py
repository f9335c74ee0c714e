"""Turns the campaign's plain "what runs next" values into Fireworks: the only place that
decides how jobs become Fireworks and how they link.

Spec keys of every perovflow Firework: ``campaign`` (the validated settings as a plain
dict, parsed again by every task) and ``_perovflow_db`` ({uri, database}); a worker's
``env.perovflow_db`` (from ``my_fworker.yaml``) overrides the latter. ``perovflow_optional``
marks a job the campaign can finish without (a label, an engine relaxation).
"""
from __future__ import annotations

from typing import Any

from fireworks import FiretaskBase, Firework, FWAction, Workflow

from perovflow.campaign.next import Next
from perovflow.settings import CampaignSettings
from perovflow.store.connection import DatabaseTarget


def job_spec(campaign: dict[str, Any], database: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"campaign": campaign, "_perovflow_db": database, **extra}


def fireworks_for(nxt: Next, campaign: dict[str, Any], database: dict[str, str],
                  task_class: type[FiretaskBase]) -> list[Firework]:
    """One Firework per job, each running ``task_class(step=..., args=...)``, linked as the
    jobs wait for each other."""
    built: dict[str, Firework] = {}
    for job in nxt.jobs:
        extra = {"_allow_fizzled_parents": True} if job.tolerate_failed else {}
        if job.optional:
            extra["perovflow_optional"] = True
        parents = [built[key] for key in job.after] or None
        built[job.key] = Firework(task_class(step=job.step, args=job.args), spec=job_spec(campaign, database, **extra),
                                  name=job.name, parents=parents)
    return list(built.values())


def fwaction(nxt: Next, fw_spec: dict[str, Any], task_class: type[FiretaskBase]) -> FWAction:
    """What a finished task tells FireWorks: its record, and the jobs to add (as one
    workflow that joins the running one)."""
    if not nxt.jobs:
        return FWAction(stored_data=dict(nxt.record))
    fireworks = fireworks_for(nxt, fw_spec["campaign"], fw_spec["_perovflow_db"], task_class)
    additions = Workflow(fireworks, name=fireworks[-1].name)
    return FWAction(stored_data=dict(nxt.record), additions=additions)


def campaign_workflow(settings: CampaignSettings, target: DatabaseTarget, first: Next,
                      task_class: type[FiretaskBase]) -> Workflow:
    """The workflow a campaign is submitted as; everything after ``first`` is added by the
    running Fireworks themselves."""
    fireworks = fireworks_for(first, settings.as_dict(), target.as_spec(), task_class)
    return Workflow(fireworks, name=f"perovflow:{settings.name}",
                    metadata={"campaign": settings.name, "perovflow": True})
