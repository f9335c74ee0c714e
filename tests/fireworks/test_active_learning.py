"""Two-stage active learning and pruning on real rlaunch workers with the CHGNet oracle:
Fireworks added while the campaign runs, relaxations continued from the right structure
and step, the relaxation test stored for every iteration, and a resume after stopping
every worker and the database."""
from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from pymongo import MongoClient

from perovflow.fireworks.manager import campaign_finished, start_workers, stop_workers, submit, wait_for
from perovflow.store import server
from perovflow.store.connection import DatabaseTarget, launchpad
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE, active_campaign, small_campaign
from tests.campaign.invariants import check_active_learning_invariants, check_calculation_provenance
from tests.conftest import uri_with_credentials

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent



def _label_keys(db, campaign):
    return Counter((c["structure_id"], c["engine"], c["settings_hash"])
                   for c in db.calculations.find({"campaign": campaign}, {"structure_id": 1, "engine": 1,
                                                                          "settings_hash": 1}))


def test_stage1_stage2_and_pruning_with_dynamic_fireworks(target, tmp_path):
    campaign = active_campaign("al")
    submitted = set(submit(campaign, target))
    codes = wait_for(start_workers(2, target, tmp_path), launchpad(target).db, "al", poll=1.0)
    assert all(code in (None, 0) for code in codes)
    db = launchpad(target).db
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

    records = check_active_learning_invariants(store, campaign, ACTIVE)
    docs = check_calculation_provenance(db, "al", fireworks=True)
    assert {doc["kind"] for doc in docs} == {"single_point", "relax_step"}
    relax_fws = {fw["spec"]["_tasks"][0]["args"]["key"]: fw for fw in added if "DFT relax" in fw["name"]}
    for iteration in (1, 2, 3):
        record = records[iteration]
        for acquisition in record["acquisitions"]:
            task = relax_fws[acquisition["key"]]["spec"]["_tasks"][0]["args"]
            assert task["start_id"] == acquisition["start_id"] and task["purpose"] == record["stage"]
    assert max(_label_keys(db, "al").values()) == 1


def test_resume_after_stopping_workers_and_database(tmp_path):
    storage = tmp_path / "db"
    state, _ = server.start(port=server.free_port(), storage=storage)
    target = DatabaseTarget(uri=uri_with_credentials(state), database="resume")
    try:
        campaign = active_campaign("resumed")
        submit(campaign, target)
        workers = start_workers(2, target, tmp_path / "first")
        client = MongoClient(target.uri)
        db = client.resume
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not db.trajectories.count_documents(
                {"purpose": "stage1", "finished": True}):
            time.sleep(0.5)
        assert not campaign_finished(db, "resumed")
        stop_workers(workers, timeout=10)
        before = {doc["_id"]: doc["created"] for doc in db.calculations.find({}, {"created": 1})}
        assert before
        client.close()
        server.stop(storage)

        state, _ = server.start(port=state.port, storage=storage)
        out = subprocess.run([str(BIN / "perovflow"), "run", str(_campaign_file(tmp_path, campaign)), "--resume",
                              "--uri", target.uri, "--database", "resume", "--workers", "2", "--quiet",
                              "--run-dir", str(tmp_path / "second")],
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        client = MongoClient(target.uri)
        db = client.resume
        assert campaign_finished(db, "resumed")
        assert Counter(fw["state"] for fw in db.fireworks.find({}, {"state": 1})).keys() == {"COMPLETED"}
        after = {doc["_id"]: doc["created"] for doc in db.calculations.find({}, {"created": 1})}
        assert all(after.get(key) == created for key, created in before.items())  # nothing redone
        assert max(_label_keys(db, "resumed").values()) == 1
        assert Store(db, "resumed").models()[-1]["stage"] == "final"
        client.close()
    finally:
        server.stop(storage)


def _campaign_file(folder: Path, campaign) -> Path:
    import yaml

    data = small_campaign(
        campaign.name, selection={"clusters": 10, "batches": 2}, active=ACTIVE, relax={"cell": campaign.relax.cell}
    )
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
