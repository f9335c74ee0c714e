"""Two-stage active learning and pruning on real rlaunch workers with the CHGNet oracle:
Fireworks added while the campaign runs, relaxations continued from the right structure
and step, the relaxation test stored for every iteration, a batch of ML relaxations whose
worker was SIGKILLed, and a resume after stopping every worker and the database.

One campaign proves all of it (the suite ran three alike, 411 s of its 1228 s in CI):
1. on two workers until a batch of ML relaxations (relaxation test or exploration, 3 starts
   per batch) has stored some but not all of its relaxations; then every worker is SIGKILLed;
2. the stranded jobs are put back, two new workers run until the killed batch ran again and
   the first stage-1 DFT relaxation is stored; then workers and database are stopped;
3. `perovflow run --resume` finishes the campaign.
The finished campaign is then checked for what an uninterrupted one must satisfy, for
nothing redone by either restart, and for the results of serial relaxations (the same
relaxations, one after the other, in the test process)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from pymongo import MongoClient

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.ml_batches import relaxation_key
from perovflow.fireworks.manager import (
    campaign_finished,
    release_stale_locks,
    rerun_stranded,
    start_workers,
    stop_workers,
    submit,
)
from perovflow.store import server
from perovflow.store.connection import DatabaseTarget
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE, active_campaign, small_campaign
from tests.campaign.invariants import check_active_learning_invariants, check_calculation_provenance
from tests.campaign.serial_reference import check_against_serial
from tests.conftest import uri_with_credentials

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
# batches of 3 starts: the relaxation tests (6 starts) and explorations (4) have 2 each
ACTIVE_BATCHED = {**ACTIVE, "ml_batch_size": 3}


def _label_keys(db, campaign):
    return Counter((c["structure_id"], c["engine"], c["settings_hash"])
                   for c in db.calculations.find({"campaign": campaign}, {"structure_id": 1, "engine": 1,
                                                                          "settings_hash": 1}))


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


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The campaign "al" run through both interruptions to its end, on a server of its own
    (the test stops it); what the checks need from before each restart."""
    folder = tmp_path_factory.mktemp("al")
    storage = folder / "db"
    state, _ = server.start(port=server.free_port(), storage=storage)
    target = DatabaseTarget(uri=uri_with_credentials(state), database="resume")
    facts, workers = {}, []
    try:
        campaign = active_campaign("al", ACTIVE_BATCHED)
        facts["campaign"], facts["submitted"] = campaign, set(submit(campaign, target))
        client = MongoClient(target.uri)
        db = client.resume

        # 1. SIGKILL every worker while a batch is half done
        workers = start_workers(2, target, folder / "first")
        deadline, found = time.monotonic() + 900, None
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
        facts["killed"], facts["stored_before_kill"] = found
        facts["kept"] = {doc["key"]: doc["created"] for doc in db.ml_relaxations.find({"campaign": campaign.name})}
        facts["finished_after_kill"] = campaign_finished(db, campaign.name)

        # 2. put the stranded jobs back, run until the killed batch ran again and the first
        #    stage-1 DFT relaxation is stored, then stop workers and database
        facts["rerun"] = rerun_stranded(target, campaign.name)
        release_stale_locks(target, campaign.name)
        workers = start_workers(2, target, folder / "second")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not (
                db.trajectories.count_documents({"purpose": "stage1", "finished": True})
                and db.fireworks.count_documents({"fw_id": facts["killed"]["fw_id"], "state": "COMPLETED"})):
            time.sleep(0.5)
        facts["finished_before_stop"] = campaign_finished(db, campaign.name)
        facts["codes_before_stop"] = [worker.poll() for worker in workers]
        stop_workers(workers, timeout=10)
        facts["labels_before_stop"] = {doc["_id"]: doc["created"] for doc in db.calculations.find({}, {"created": 1})}
        client.close()
        server.stop(storage)

        # 3. the resume
        state, _ = server.start(port=state.port, storage=storage)
        facts["resume"] = subprocess.run(
            [str(BIN / "perovflow"), "run", str(_campaign_file(folder, campaign)), "--resume", "--uri", target.uri,
             "--database", "resume", "--workers", "2", "--quiet", "--run-dir", str(folder / "third")],
            capture_output=True, text=True, timeout=900)
        client = MongoClient(target.uri)
        facts["db"] = client.resume
        yield facts
        client.close()
    finally:
        stop_workers(workers, timeout=10)
        server.stop(storage)


def test_resume_after_stopping_workers_and_database(interrupted):
    db = interrupted["db"]
    assert not interrupted["finished_before_stop"]
    assert all(code in (None, 0) for code in interrupted["codes_before_stop"])
    before = interrupted["labels_before_stop"]
    assert before
    out = interrupted["resume"]
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert campaign_finished(db, "al")
    assert Counter(fw["state"] for fw in db.fireworks.find({}, {"state": 1})).keys() == {"COMPLETED"}
    after = {doc["_id"]: doc["created"] for doc in db.calculations.find({}, {"created": 1})}
    assert all(after.get(key) == created for key, created in before.items())  # nothing redone
    assert max(_label_keys(db, "al").values()) == 1
    assert Store(db, "al").models()[-1]["stage"] == "final"


def test_stage1_stage2_and_pruning_with_dynamic_fireworks(interrupted):
    db, campaign, submitted = interrupted["db"], interrupted["campaign"], interrupted["submitted"]
    assert interrupted["resume"].returncode == 0
    store = Store(db, "al")
    fireworks = list(db.fireworks.find({"spec.campaign.name": "al"}))
    assert Counter(fw["state"] for fw in fireworks) == {"COMPLETED": len(fireworks)}

    # every active-learning Firework was added by a running Firework, none at submission
    added = [fw for fw in fireworks if fw["fw_id"] not in submitted]
    names = Counter(fw["name"].split(": ", 1)[1].split(" ")[0] for fw in added)
    assert names["AL"] == 3 and names["refit"] == 3 and names["prune"] == 1, names
    assert not any("AL iteration" in fw["name"] for fw in fireworks if fw["fw_id"] in submitted)

    # each stage is a workflow of its own, added by a completed Firework of an earlier one
    workflows = list(db.workflows.find({"metadata.campaign": "al"}))
    assert len(workflows) >= 8
    for workflow in workflows:
        parent = workflow["metadata"].get("perovflow_parent")
        if parent is None:
            assert set(workflow["nodes"]) == submitted
            continue
        assert parent not in workflow["nodes"]
        assert db.fireworks.find_one({"fw_id": parent})["state"] == "COMPLETED"
    assert max(len(w["nodes"]) for w in workflows) < len(fireworks) / 2

    records = check_active_learning_invariants(store, campaign, ACTIVE_BATCHED)
    docs = check_calculation_provenance(db, "al", fireworks=True)
    assert {doc["kind"] for doc in docs} == {"single_point", "relax_step"}
    relax_fws = {fw["spec"]["_tasks"][0]["args"]["key"]: fw for fw in added if "DFT relax" in fw["name"]}
    for iteration in (1, 2, 3):
        record = records[iteration]
        for acquisition in record["acquisitions"]:
            task = relax_fws[acquisition["key"]]["spec"]["_tasks"][0]["args"]
            assert task["start_id"] == acquisition["start_id"] and task["purpose"] == record["stage"]


def test_a_batch_killed_midway_reruns_only_what_is_missing(interrupted):
    db, campaign, killed = interrupted["db"], interrupted["campaign"], interrupted["killed"]
    kept = interrupted["kept"]
    assert set(interrupted["stored_before_kill"]) <= set(kept)
    assert not interrupted["finished_after_kill"]
    assert killed["fw_id"] in interrupted["rerun"]
    assert interrupted["resume"].returncode == 0

    # the killed batch ran again and relaxed only what its first run had not stored
    launch = db.launches.find_one({"fw_id": killed["fw_id"], "state": "COMPLETED"})
    record = launch["action"]["stored_data"]
    keys = batch_keys(killed)
    done_before = len(set(keys) & set(kept))
    assert record == {"relaxed": len(keys) - done_before, "reused": done_before}, record
    assert done_before >= len(interrupted["stored_before_kill"])
    after = {doc["key"]: doc["created"] for doc in db.ml_relaxations.find({"campaign": campaign.name})}
    assert all(after[key] == created for key, created in kept.items())  # nothing stored before was redone
    assert db.ml_relaxations.count_documents({"campaign": campaign.name}) == len(after)

    # the finished campaign's tests and explorations are those of serial relaxations (floats
    # within 1e-9: sigma's large solve may use another BLAS thread count here than on a worker)
    store = Store(db, campaign.name)
    compared = check_against_serial(CampaignContext(campaign, store), rel=1e-9)
    assert compared["tests"] >= 3 and compared["explorations"] >= 2, compared
    assert store.iterations()[-1]["stage"] == "final"


def _campaign_file(folder: Path, campaign) -> Path:
    data = small_campaign(campaign.name, selection={"clusters": 10, "batches": 2}, active=ACTIVE_BATCHED,
                          relax={"cell": campaign.relax.cell})
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
