"""A whole tiny campaign (initial data, both active-learning stages, pruning; CHGNet labels;
one phase, 25 compositions) through the in-process runner: the same steps and the same
invariants as on rlaunch workers, in about a minute here (the figure is printed with -s).

The one campaign (module-scoped; the suite ran two alike) also runs its relaxation tests and
explorations one ML relaxation per batch job, and its stored results are compared with the
same relaxations done one after the other in the test process."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from pymongo import MongoClient

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.local import run_local
from perovflow.campaign.ml_batches import relax_batch
from perovflow.campaign.relaxation_test import relaxation_test_ids
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, active_campaign
from tests.campaign.invariants import check_active_learning_invariants
from tests.campaign.serial_reference import check_against_serial

# one relaxation per batch: as many batch jobs as relaxations
ACTIVE_LOCAL = {**ACTIVE_SHORT, "ml_max_steps": 200, "ml_batch_size": 1}


@pytest.fixture(scope="module")
def local_run(module_target):
    # the paper's relaxations: cell and halides in the phase's symmetry, Cs and Pb free
    campaign = active_campaign("local", ACTIVE_LOCAL, phases=("Pnma",), cell="symmetric")
    client = MongoClient(module_target.uri, tz_aware=True)
    db = client[module_target.database]
    store = Store(db, campaign.name)
    began = time.perf_counter()
    run = run_local(campaign, store)
    seconds = time.perf_counter() - began
    print(f"local campaign: {len(run.outcomes)} jobs in {seconds:.1f} s")
    yield campaign, db, store, run
    client.close()


def test_local_runner_runs_every_stage(local_run):
    campaign, mongo_db, store, run = local_run
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    steps = Counter(o.step for o in run.outcomes)
    assert steps["iteration"] == 3 and steps["refit"] == 3 and steps["prune"] == 1 and steps["fit"] == 2
    check_active_learning_invariants(store, campaign, ACTIVE_LOCAL)
    labels = Counter(
        (c["structure_id"], c["engine"], c["settings_hash"]) for c in mongo_db.calculations.find({"campaign": "local"})
    )
    assert max(labels.values()) == 1

    # running it again finishes at once: every step finds its work stored
    before = mongo_db.calculations.count_documents({}), len(store.models())
    again = run_local(campaign, store)
    assert again.states() == {"completed": len(again.outcomes)}
    assert (mongo_db.calculations.count_documents({}), len(store.models())) == before


def test_batched_campaign_stores_what_the_serial_relaxations_give(local_run):
    campaign, mongo_db, store, run = local_run
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    steps = Counter(o.step for o in run.outcomes)
    records = store.iterations()
    tests = [r for r in records if r.get("relaxation_test")]
    explorations = [r for r in records if r.get("acquisitions") is not None]
    ctx = CampaignContext(campaign, store)
    n_test = len(relaxation_test_ids(ctx))  # the mixed starts and each phase's 2 end members
    assert n_test == tests[0]["relaxation_test"]["n"] + 2 * len(campaign.phases)
    n_explore = sum(len(r["ml_relaxations"][p]) for r in explorations for p in campaign.phases)
    assert steps["ml_relax_batch"] == n_test * len(tests) + n_explore
    assert steps["baseline_record"] == 1 and steps["finish"] == 1
    assert steps["decide"] == steps["refit"] == steps["acquire"] == steps["iteration"] == len(explorations)
    assert records[-1]["stage"] == "final"
    # every relaxation stored once
    assert mongo_db.ml_relaxations.count_documents({"campaign": campaign.name}) == n_test * len(tests) + n_explore

    began_serial = time.perf_counter()
    compared = check_against_serial(ctx)
    assert compared == {"tests": len(tests), "explorations": len(explorations)}
    print(f"serial check of {compared} in {time.perf_counter() - began_serial:.1f} s")

    # a batch run again (its worker died after storing) relaxes nothing and changes nothing
    doc = mongo_db.ml_relaxations.find_one({"campaign": campaign.name, "purpose": "test"})
    before = list(mongo_db.ml_relaxations.find({"campaign": campaign.name}, {"_id": 0}).sort("key", 1))
    again = relax_batch(ctx, "test", doc["model_tag"], [doc["start_id"]])
    assert again.record == {"relaxed": 0, "reused": 1}
    assert list(mongo_db.ml_relaxations.find({"campaign": campaign.name}, {"_id": 0}).sort("key", 1)) == before
