"""FireTasks of the initial-dataset stage. Thin: they read and write the store and call
the science code. Every task is idempotent, so a Firework re-run after a crash reuses
what is already stored.

Spec keys every perovflow Firework carries: ``campaign`` (the validated campaign as a
dict) and ``_perovflow_db`` ({uri, database}); a worker's ``env.perovflow_db`` (from
``my_fworker.yaml``) overrides the latter.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from fireworks import FiretaskBase, FWAction

from perovflow.config import Campaign
from perovflow.db.store import Store

_STORES: dict[tuple[str, str, str], Store] = {}


def store_for(fw_spec: dict[str, Any]) -> Store:
    target = (fw_spec.get("_fw_env") or {}).get("perovflow_db") or fw_spec["_perovflow_db"]
    campaign = fw_spec["campaign"]["name"]
    key = (target["uri"], target["database"], campaign)
    if key not in _STORES:  # one client per worker process, reused across Fireworks
        _STORES[key] = Store.connect(target["uri"], target["database"], campaign)
    return _STORES[key]


def campaign_of(fw_spec: dict[str, Any]) -> Campaign:
    return Campaign.from_dict(fw_spec["campaign"])


class PerovflowTask(FiretaskBase):
    """Base of perovflow's FireTasks: stored under their full import path, so any worker
    that has perovflow installed finds them without FireWorks' USER_PACKAGES setting."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._fw_name = f"{{{{{cls.__module__}.{cls.__qualname__}}}}}"


class GeneratePoolTask(PerovflowTask):
    """Generate the structure pool and the held-out test set into ``structures``."""

    required_params: list[str] = []
    optional_params: list[str] = []

    def run_task(self, fw_spec):
        from perovflow.fw.steps import generate_structures

        store, campaign = store_for(fw_spec), campaign_of(fw_spec)
        store.ensure_indexes()
        counts = {}
        for role, structures in generate_structures(campaign).items():
            counts[role] = len(store.add_structures(structures, role=role))
        return FWAction(stored_data=counts)


class FeaturizeChunkTask(PerovflowTask):
    """MBTR features of one chunk of a role's structures, stored once per descriptor."""

    required_params = ["role", "chunk", "start", "stop"]

    def run_task(self, fw_spec):
        from perovflow.fw.steps import descriptor_for

        store, campaign = store_for(fw_spec), campaign_of(fw_spec)
        descriptor = descriptor_for(campaign)
        settings = descriptor.settings
        if store.has_features(settings.hash, self["role"], self["chunk"]):
            return FWAction(stored_data={"reused": True})
        ids = store.structure_ids(self["role"])[self["start"]:self["stop"]]
        matrix = descriptor.create(store.structures(ids))
        store.save_features(settings.hash, self["role"], self["chunk"], ids, matrix, settings.as_dict())
        return FWAction(stored_data={"n": len(ids)})


class SelectTask(PerovflowTask):
    """Cluster the pool and fix the batches (one structure per cluster per batch); then
    add the labelling jobs of the test set and the first batch, and the first fit."""

    required_params: list[str] = []

    def run_task(self, fw_spec):
        from perovflow.fw.steps import descriptor_for, select_batches
        from perovflow.fw.workflows import batch_additions

        store, campaign = store_for(fw_spec), campaign_of(fw_spec)
        selection = store.selection("initial")
        if selection is None:
            descriptor_hash = descriptor_for(campaign).settings.hash
            ids, features = store.load_features(descriptor_hash, "pool")
            start = time.perf_counter()
            labels, batches, facts = select_batches(features, campaign)
            store.save_selection("initial", {
                "method": campaign.selection["method"], "clusters": int(labels.max()) + 1, **facts,
                "cluster_of": {ids[i]: int(c) for i, c in enumerate(labels)},
                "batches": [[ids[i] for i in batch] for batch in batches],
                "seconds": time.perf_counter() - start,
            })
            selection = store.selection("initial")
        test_ids = store.structure_ids("test")
        return FWAction(additions=batch_additions(fw_spec, selection["batches"][0], 0, extra_label_ids=test_ids))


class LabelTask(PerovflowTask):
    """Label structures with the campaign's engine; skips what is already labelled."""

    required_params = ["structure_ids"]

    def run_task(self, fw_spec):
        from perovflow.engines import make_engine
        from perovflow.fw.steps import label_structures

        store, campaign = store_for(fw_spec), campaign_of(fw_spec)
        engine = make_engine(campaign.labelling["engine"], **campaign.labelling["options"])
        done, reused, failures = label_structures(store, engine, self["structure_ids"])
        if failures:
            raise RuntimeError(f"{len(failures)} label(s) failed: " + "; ".join(failures[:5]))
        return FWAction(stored_data={"labelled": done, "reused": reused})


class FitTask(PerovflowTask):
    """Fit the model on batches 0..batch, evaluate it on the test set, store it as version
    batch+1, and add the next batch unless the learning curve has flattened."""

    required_params = ["batch"]

    def run_task(self, fw_spec):
        from perovflow.fw.steps import fit_and_evaluate, should_continue
        from perovflow.fw.workflows import batch_additions

        store, campaign = store_for(fw_spec), campaign_of(fw_spec)
        batch = int(self["batch"])
        selection = store.selection("initial")
        version = fit_and_evaluate(store, campaign, selection["batches"][: batch + 1], batch)
        if not should_continue(store, campaign, batch, len(selection["batches"])):
            return FWAction(stored_data={"model_version": version, "last_batch": True},
                            additions=_after_initial_stage(fw_spec, store, campaign))
        nxt = batch + 1
        return FWAction(stored_data={"model_version": version},
                        additions=batch_additions(fw_spec, selection["batches"][nxt], nxt))


def _after_initial_stage(fw_spec: dict[str, Any], store: Store, campaign: Campaign):
    """What follows the last initial fit: the relaxation test's engine relaxations and then
    active learning, when the campaign asks for it."""
    if not campaign.active["enabled"]:
        return None
    from perovflow.fw.active_steps import prepare_relaxation_test
    from perovflow.fw.workflows import active_start_additions

    return active_start_additions(fw_spec, prepare_relaxation_test(store, campaign))
