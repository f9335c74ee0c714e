"""A worker SIGKILLed in the middle of a batch of ML relaxations (relaxation test or
exploration) on real rlaunch workers: after the resume, the batch runs again, relaxes only
what its killed run had not stored, and the campaign finishes with the results of a serial
run (the same relaxations, one after the other, in the test process)."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.ml_batches import relaxation_key
from perovflow.fireworks.manager import (
    campaign_finished,
    release_stale_locks,
    rerun_stranded,
    start_workers,
    wait_for,
)
from perovflow.fireworks.manager import submit as submit_campaign
from perovflow.store.connection import launchpad
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE, active_campaign
from tests.campaign.serial_reference import check_against_serial

pytestmark = pytest.mark.slow


def batch_keys(fw: dict) -> list[str]:
    args = fw["spec"]["_tasks"][0]["args"]
    return [relaxation_key(args["purpose"], args["model_tag"], sid, args.get("iteration")) for sid in args["start_ids"]]


def half_done_batch(db, campaign: str) -> tuple[dict, list[str]] | None:
    """A RUNNING batch Firework that stored some but not all of its relaxations."""
    for fw in db.fireworks.find({"spec.campaign.name": campaign, "state": "RUNNING",
                                 "spec._tasks.0.step": "ml_relax_batch"}):
        keys = batch_keys(fw)
        stored = [doc["key"] for doc in db.ml_relaxations.find({"campaign": campaign, "key": {"$in": keys}},
                                                               {"key": 1})]
        if 0 < len(stored) < len(keys):
            return fw, stored
    return None


def test_a_batch_killed_midway_reruns_only_what_is_missing(target, tmp_path):
    # batches of 3 starts: the relaxation tests (6 starts) and explorations (4) have 2 each
    campaign = active_campaign("batchkill", {**ACTIVE, "ml_batch_size": 3})
    submit_campaign(campaign, target)
    db = launchpad(target).db
    workers = start_workers(2, target, tmp_path / "first")
    deadline = time.monotonic() + 900
    found = None
    while found is None:
        assert time.monotonic() < deadline, "no batch seen half done"
        assert all(w.poll() is None for w in workers), "a worker ended by itself"
        found = half_done_batch(db, campaign.name)
        if found is None:
            time.sleep(0.05)
    for worker in workers:
        os.killpg(worker.pid, signal.SIGKILL)
    for worker in workers:
        worker.wait()
    killed, stored_before = found
    kept = {doc["key"]: doc["created"] for doc in db.ml_relaxations.find({"campaign": campaign.name})}
    assert set(stored_before) <= set(kept)
    assert not campaign_finished(db, campaign.name)

    assert killed["fw_id"] in rerun_stranded(target, campaign.name)
    release_stale_locks(target, campaign.name)
    codes = wait_for(start_workers(2, target, tmp_path / "second"), db, campaign.name, poll=1.0)
    assert all(code in (None, 0) for code in codes)
    assert campaign_finished(db, campaign.name)
    states = Counter(fw["state"] for fw in db.fireworks.find({"spec.campaign.name": campaign.name}, {"state": 1}))
    assert set(states) == {"COMPLETED"}, states

    # the killed batch ran again and relaxed only what its first run had not stored
    launch = db.launches.find_one({"fw_id": killed["fw_id"], "state": "COMPLETED"})
    record = launch["action"]["stored_data"]
    keys = batch_keys(killed)
    done_before = len(set(keys) & set(kept))
    assert record == {"relaxed": len(keys) - done_before, "reused": done_before}, record
    assert done_before >= len(stored_before)
    after = {doc["key"]: doc["created"] for doc in db.ml_relaxations.find({"campaign": campaign.name})}
    assert all(after[key] == created for key, created in kept.items())  # nothing stored before was redone
    assert db.ml_relaxations.count_documents({"campaign": campaign.name}) == len(after)

    # the finished campaign's tests and explorations are those of serial relaxations (floats
    # within 1e-9: sigma's large solve may use another BLAS thread count here than on a worker)
    store = Store(db, campaign.name)
    compared = check_against_serial(CampaignContext(campaign, store), rel=1e-9)
    assert compared["tests"] >= 3 and compared["explorations"] >= 2, compared
    assert store.iterations()[-1]["stage"] == "final"
