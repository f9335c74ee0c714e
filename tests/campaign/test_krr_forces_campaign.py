"""A tiny campaign with ``model.kind: krr-forces`` through the in-process runner: every model
version (initial fits, refits, the pruned final model) is the energy-and-force model, stored
and loaded as such, and active learning relaxes with it."""
from __future__ import annotations

from collections import Counter

import numpy as np

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.local import run_local
from perovflow.models.krr_forces import KernelRidgeEnergyForces
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, small_settings


def test_campaign_runs_every_stage_with_the_force_model(mongo_db):
    # one stage-1 iteration: a refit in each stage is all this needs
    campaign = small_settings("forces", phases=["Pnma"], selection={"clusters": 10, "batches": 2},
                              active={**ACTIVE_SHORT, "stage1_iterations": 1},
                              model={"kind": "krr-forces", "force_directions": 3})
    store = Store(mongo_db, campaign.name)
    run = run_local(campaign, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    steps = Counter(o.step for o in run.outcomes)
    assert steps["fit"] == 2 and steps["refit"] == 2 and steps["prune"] == 1

    ctx = CampaignContext(campaign, store)
    records = store.models()
    assert records and {r["kind"] for r in records} == {"krr-forces"}
    for record in records:
        model, meta = ctx.model(record["tag"])
        assert isinstance(model, KernelRidgeEnergyForces)
        assert meta["hyperparameters"]["force_directions"] == 3
        labelled = ctx.labelled_forces(meta["training_ids"])
        # every training structure with labelled forces gave 3 projections
        assert len(model.observations.targets) == 3 * len(labelled) > 0
        metrics = meta["metrics"]
        assert np.isfinite(metrics["test_energy_mae_mev_per_atom"])
        assert metrics["n_train"] == len(meta["training_ids"])
