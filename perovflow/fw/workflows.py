"""Workflow builders: the only place that decides which Fireworks exist and how they link."""
from __future__ import annotations

import math
from typing import Any

from fireworks import Firework, Workflow

from perovflow.config import Campaign
from perovflow.db.connection import DatabaseTarget
from perovflow.fw.tasks import FeaturizeChunkTask, FitTask, GeneratePoolTask, LabelTask, SelectTask


def _spec(campaign: Campaign | dict, target: DatabaseTarget | dict, **extra) -> dict[str, Any]:
    campaign_dict = campaign.as_dict() if isinstance(campaign, Campaign) else campaign
    target_dict = target.as_spec() if isinstance(target, DatabaseTarget) else target
    return {"campaign": campaign_dict, "_perovflow_db": target_dict, **extra}


def initial_workflow(campaign: Campaign, target: DatabaseTarget) -> Workflow:
    """generate pool -> featurize chunks (parallel) -> select -> (dynamic) label + fit batches."""
    from perovflow.fw.steps import role_sizes

    generate = Firework(GeneratePoolTask(), spec=_spec(campaign, target, _category=""),
                        name=f"{campaign.name}: generate pool")
    chunk_size = campaign.pool["chunk_size"]
    featurize = []
    for role, size in role_sizes(campaign).items():
        for chunk in range(math.ceil(size / chunk_size)):
            start = chunk * chunk_size
            featurize.append(Firework(
                FeaturizeChunkTask(role=role, chunk=chunk, start=start, stop=min(size, start + chunk_size)),
                spec=_spec(campaign, target), name=f"{campaign.name}: featurize {role} {chunk}",
                parents=[generate],
            ))
    select = Firework(SelectTask(), spec=_spec(campaign, target), name=f"{campaign.name}: select",
                      parents=featurize)
    return Workflow([generate, *featurize, select], name=f"perovflow:{campaign.name}",
                    metadata={"campaign": campaign.name, "perovflow": True})


def batch_additions(fw_spec: dict, batch_ids: list[str], batch: int,
                    extra_label_ids: list[str] | None = None) -> Workflow:
    """Labelling Fireworks for one batch (plus extra ids, e.g. the test set) and the fit after them."""
    campaign, target = fw_spec["campaign"], fw_spec["_perovflow_db"]
    group = campaign["labelling"]["group_size"]
    ids = list(batch_ids) + list(extra_label_ids or [])
    labels = [
        Firework(LabelTask(structure_ids=ids[i:i + group]), spec=_spec(campaign, target),
                 name=f"{campaign['name']}: label b{batch} {i // group}")
        for i in range(0, len(ids), group)
    ]
    # a label that failed for good must not stop the campaign: the fit goes on without it
    fit = Firework(FitTask(batch=batch), spec=_spec(campaign, target, _allow_fizzled_parents=True),
                   name=f"{campaign['name']}: fit batch {batch}", parents=labels)
    return Workflow([*labels, fit], name=f"{campaign['name']}: batch {batch}")


def _relax_firework(fw_spec: dict, name: str, **params) -> Firework:
    from perovflow.fw.active_tasks import EngineRelaxTask

    return Firework(EngineRelaxTask(**params), spec=_spec(fw_spec["campaign"], fw_spec["_perovflow_db"]), name=name)


def active_start_additions(fw_spec: dict, test_ids: list[str]) -> Workflow:
    """The engine relaxes every relaxation-test start once; then the initial model is tested."""
    from perovflow.fw.active_tasks import RelaxationTestTask

    campaign = fw_spec["campaign"]
    active = campaign["active"]
    relaxations = [
        _relax_firework(fw_spec, f"{campaign['name']}: relaxation test {n}", key=f"test:{sid}", start_id=sid,
                        reference_id=sid, fmax=active["test_fmax"], max_steps=active["test_max_steps"],
                        purpose="relax_test")
        for n, sid in enumerate(test_ids)
    ]
    baseline = Firework(RelaxationTestTask(), spec=_spec(campaign, fw_spec["_perovflow_db"], _allow_fizzled_parents=True),
                        name=f"{campaign['name']}: relaxation test of the initial model", parents=relaxations)
    return Workflow([*relaxations, baseline], name=f"{campaign['name']}: relaxation test")


def iteration_additions(fw_spec: dict, iteration: int, stage: str) -> Firework:
    from perovflow.fw.active_tasks import ActiveIterationTask

    campaign = fw_spec["campaign"]
    return Firework(ActiveIterationTask(iteration=iteration, stage=stage),
                    spec=_spec(campaign, fw_spec["_perovflow_db"]),
                    name=f"{campaign['name']}: AL iteration {iteration} ({stage})")


def acquisition_additions(fw_spec: dict, iteration: int, stage: str, acquisitions: list[dict]) -> Workflow:
    """One engine relaxation per acquired trajectory, and the refit that waits for them
    (a relaxation that fails for good does not stop it)."""
    from perovflow.fw.active_tasks import RefitTask

    campaign = fw_spec["campaign"]
    relaxations = [
        _relax_firework(fw_spec, f"{campaign['name']}: {stage} DFT relax {a['key']} from step {a['step']}",
                        key=a["key"], start_id=a["start_id"], reference_id=a["reference_id"], fmax=a["fmax"],
                        max_steps=a["max_steps"], purpose=stage, iteration=iteration)
        for a in acquisitions
    ]
    refit = Firework(RefitTask(iteration=iteration),
                     spec=_spec(campaign, fw_spec["_perovflow_db"], _allow_fizzled_parents=True),
                     name=f"{campaign['name']}: refit after iteration {iteration}", parents=relaxations or None)
    return Workflow([*relaxations, refit], name=f"{campaign['name']}: iteration {iteration}")


def prune_additions(fw_spec: dict) -> Firework:
    from perovflow.fw.active_tasks import PruneTask

    campaign = fw_spec["campaign"]
    return Firework(PruneTask(), spec=_spec(campaign, fw_spec["_perovflow_db"]),
                    name=f"{campaign['name']}: prune and final model")
