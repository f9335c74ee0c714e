"""Pruning and the final model (Homm et al. 2025, section II.D): the active-learning
relaxation snapshots are clustered by k-means into as many clusters as snapshots to keep,
one kept per cluster; the final model trains on the initial data plus those."""
from __future__ import annotations

import math
import time

import numpy as np

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.fitting import fit_with_snapshots, snapshot_features
from perovflow.campaign.next import Job, Next
from perovflow.campaign.records import FINAL_MODEL
from perovflow.campaign.relaxation import active_snapshot_ids
from perovflow.campaign.relaxation_test import batched_relaxation_test, gathered_relaxation_test
from perovflow.selection import prune as kmeans_prune

FINAL_STAGE = "final"


def keep_snapshots(ctx: CampaignContext, snapshots: list[str], chunk: int) -> dict:
    """Which snapshots pruning keeps (chosen once and stored as the ``pruned`` selection)."""
    store, prune_settings = ctx.store, ctx.settings.prune
    chosen = store.selection("pruned")
    if chosen is not None:
        return chosen
    n_keep = max(1, math.ceil(prune_settings.keep_fraction * len(snapshots))) if snapshots else 0
    features = snapshot_features(ctx, snapshots, chunk=chunk) if snapshots else {}
    began = time.perf_counter()
    keep = kmeans_prune(np.array([features[s] for s in snapshots]), n_keep, seed=prune_settings.seed) \
        if n_keep and n_keep < len(snapshots) else list(range(len(snapshots)))
    store.save_selection("pruned", {"method": "kmeans", "n_snapshots": len(snapshots), "n_keep": len(keep),
                                    "kept": [snapshots[i] for i in sorted(keep)],
                                    "seconds": time.perf_counter() - began})
    return store.selection("pruned")


def final_record(ctx: CampaignContext) -> dict | None:
    """The record after the last iteration, once pruning stored it."""
    finished = [r for r in ctx.store.iterations() if r.get("stage") == FINAL_STAGE and r.get("relaxation_test")]
    return finished[0] if finished else None


def record_number(records: list[dict]) -> int:
    return max((r["iteration"] for r in records if r.get("stage") != FINAL_STAGE), default=0) + 1


def prune_and_fit(ctx: CampaignContext) -> int:
    """Prune the snapshots and fit the final model on the initial data plus those kept;
    returns its version."""
    number = record_number(ctx.store.iterations())
    chosen = keep_snapshots(ctx, active_snapshot_ids(ctx), chunk=number)
    return fit_with_snapshots(ctx, list(chosen["kept"]), FINAL_MODEL,
                              {"stage": FINAL_STAGE, "pruned_from": chosen["n_snapshots"]}, chunk=number)


def store_final_record(ctx: CampaignContext, version: int, test: dict) -> dict:
    """The record after the last iteration: the final model and its relaxation test."""
    store = ctx.store
    records = store.iterations()
    chosen = store.selection("pruned")
    store.update_iteration(
        record_number(records),
        {
            "stage": FINAL_STAGE,
            "model_version": version,
            "model_tag": FINAL_MODEL,
            "relaxation_test": test,
            "n_snapshots": chosen["n_snapshots"],
            "n_kept": len(chosen["kept"]),
            "before_pruning": before_pruning(records),
        },
    )
    return {"model_version": version, "n_snapshots": chosen["n_snapshots"], "n_kept": len(chosen["kept"])}


def before_pruning(records: list[dict]) -> dict | None:
    """The last active-learning refit, trained on every snapshot: the final model Homm et al.
    2025 report (they prune afterwards, for cheaper predictions), with its relaxation test."""
    refits = [r for r in records if r.get("stage") not in (FINAL_STAGE, "initial") and r.get("refit_version")]
    if not refits:
        return None
    last = max(refits, key=lambda r: r["iteration"])
    test = last.get("relaxation_test") or {}
    return {
        "model_version": last["refit_version"],
        "model_tag": last.get("refit_tag"),
        "iteration": last["iteration"],
        "relaxation_test": {key: test.get(key) for key in ("n", "convergence", "mae_mev", "rmse_mev")},
    }


def prune(ctx: CampaignContext) -> Next:
    """The job step of pruning: the final fit, then its relaxation test as batch jobs and
    ``finish``, which gathers it."""
    finished = final_record(ctx)
    if finished:  # a re-run after the final record was stored
        return Next(record={key: finished[key] for key in ("model_version", "n_snapshots", "n_kept")})
    prune_and_fit(ctx)
    then = Job("finish", "finish", name=f"{ctx.settings.name}: relaxation test of the final model (gather)")
    return batched_relaxation_test(ctx, FINAL_MODEL, then)


def finish(ctx: CampaignContext, start_ids: list[str]) -> Next:
    """The job step after the final model's test batches: the final record; nothing runs after it."""
    finished = final_record(ctx)
    if finished:
        return Next(record={key: finished[key] for key in ("model_version", "n_snapshots", "n_kept")})
    test = gathered_relaxation_test(ctx, FINAL_MODEL, start_ids)
    return Next(record=store_final_record(ctx, test["model_version"], test))
