"""A whole tiny campaign (initial data, both active-learning stages, pruning; CHGNet labels;
one phase, 25 compositions) through the in-process runner: the same steps and the same invariants as on rlaunch
workers, in about a minute here (the figure is printed with -s)."""
from __future__ import annotations

import time
from collections import Counter

from perovflow.campaign.local import run_local
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, active_campaign
from tests.campaign.invariants import check_active_learning_invariants


def test_local_runner_runs_every_stage(mongo_db):
    # the paper's relaxations: cell and halides in the phase's symmetry, Cs and Pb free
    campaign = active_campaign("local", {**ACTIVE_SHORT, "ml_max_steps": 200}, phases=("Pnma",), cell="symmetric")
    store = Store(mongo_db, campaign.name)
    began = time.perf_counter()
    run = run_local(campaign, store)
    seconds = time.perf_counter() - began

    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    steps = Counter(o.step for o in run.outcomes)
    assert steps["iteration"] == 3 and steps["refit"] == 3 and steps["prune"] == 1 and steps["fit"] == 2
    check_active_learning_invariants(store, campaign, {**ACTIVE_SHORT, "ml_max_steps": 200})
    labels = Counter(
        (c["structure_id"], c["engine"], c["settings_hash"]) for c in mongo_db.calculations.find({"campaign": "local"})
    )
    assert max(labels.values()) == 1

    # running it again finishes at once: every step finds its work stored
    before = mongo_db.calculations.count_documents({}), len(store.models())
    again = run_local(campaign, store)
    assert again.states() == {"completed": len(again.outcomes)}
    assert (mongo_db.calculations.count_documents({}), len(store.models())) == before
    print(f"local campaign: {len(run.outcomes)} jobs in {seconds:.1f} s")
