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

import numpy as np
import pytest
from pymongo import MongoClient

from perovflow.config import parse_campaign
from perovflow.db import server
from perovflow.db.connection import DatabaseTarget, launchpad
from perovflow.db.store import Store
from perovflow.fw.active_steps import ml_calculator, symmetry_constrained
from perovflow.relax.ml import ml_relax
from perovflow.runner import campaign_finished, start_workers, stop_workers, submit, wait_for
from tests.fw.conftest import small_campaign

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

ACTIVE = {"enabled": True, "starts_per_phase": 2, "per_phase": 1, "test_per_phase": 1, "stage1_iterations": 2,
          "stage2_iterations": 1, "stage2_dft_steps": 3, "dft_max_steps": 12, "ml_max_steps": 50,
          "test_max_steps": 30, "seed": 5}


def active_campaign(name: str):
    return parse_campaign(small_campaign(name, selection={"clusters": 10, "batches": 2}, active=ACTIVE))


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

    records = {r["iteration"]: r for r in store.iterations()}
    assert [records[i]["stage"] for i in (0, 1, 2, 3)] == ["initial", "stage1", "stage1", "stage2"]
    assert records[10_000]["stage"] == "final"
    # the relaxation test is stored for every iteration and for the final model
    for record in records.values():
        test = record["relaxation_test"]
        assert test["n"] == 2 and 0 <= test["convergence"] <= 1
        assert test["mae_mev"] is None or test["mae_mev"] >= 0
        assert len(test["mixing_enthalpies"]) == test["n"]
    assert any(r["relaxation_test"]["mae_mev"] is not None for r in records.values())

    relax_fws = {fw["spec"]["_tasks"][0]["key"]: fw for fw in added if "DFT relax" in fw["name"]}
    n_acquired = 0
    for iteration in (1, 2, 3):
        record = records[iteration]
        for acquisition in record["acquisitions"]:
            n_acquired += 1
            task = relax_fws[acquisition["key"]]["spec"]["_tasks"][0]
            assert task["start_id"] == acquisition["start_id"] and task["purpose"] == record["stage"]
            trajectory = store.trajectory(acquisition["key"])
            assert trajectory["finished"] and trajectory["snapshot_ids"][0] == acquisition["start_id"]
            ml = record["ml_relaxations"][acquisition["phase"]][acquisition["index"]]
            sigmas, step = ml["sigma_mev"], acquisition["step"]
            if record["stage"] == "stage1":
                threshold = record["thresholds_mev"][acquisition["phase"]]
                assert sigmas[step] > threshold and all(s <= threshold for s in sigmas[:step])
                assert trajectory["max_steps"] == ACTIVE["dft_max_steps"]
                assert trajectory["fmax"] == campaign.active["dft_fmax"]
            else:
                assert step == ml["steps"] and trajectory["steps"] == ACTIVE["stage2_dft_steps"]
            if step == 0:  # crossing at the first step: DFT continues from the start itself
                assert acquisition["start_id"] == ml["start_id"]
            else:
                assert store.db.structures.find_one({"_id": acquisition["start_id"]})["parent"] == ml["start_id"]
    assert n_acquired > 0

    # redo one stage-1 ML relaxation with the stored model: the structure at the crossing
    # step is exactly the one DFT continued from
    first = max((a for i in (1, 2) for a in records[i]["acquisitions"]), key=lambda a: a["step"])
    record = next(records[i] for i in (1, 2) if first in records[i]["acquisitions"])
    calculator, _ = ml_calculator(store, campaign, record["model_version"])
    origin = store.structures([record["ml_relaxations"][first["phase"]][first["index"]]["start_id"]])[0]
    trace = ml_relax(origin, calculator, fmax=campaign.active["ml_fmax"],
                     max_steps=first["step"], track_sigma=False,
                     constraint=symmetry_constrained(origin, origin).constraints[0])
    continued = store.structures([first["start_id"]])[0]
    np.testing.assert_allclose(trace.structures[first["step"]].positions, continued.positions, atol=1e-4)

    # pruning kept a share of the snapshots and the final model was fitted on them
    pruned = store.selection("pruned")
    final = store.models()[-1]
    assert final["stage"] == "final" and pruned["n_keep"] == len(pruned["kept"]) < pruned["n_snapshots"]
    assert final["metrics"]["n_snapshots"] == len(pruned["kept"])
    assert max(_label_keys(db, "al").values()) == 1


def test_resume_after_stopping_workers_and_database(tmp_path):
    storage = tmp_path / "db"
    state, _ = server.start(port=server.free_port(), storage=storage)
    target = DatabaseTarget(uri=state.uri, database="resume")
    try:
        campaign = active_campaign("resumed")
        submit(campaign, target)
        workers = start_workers(2, target, tmp_path / "first")
        client = MongoClient(state.uri)
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
                              "--uri", state.uri, "--database", "resume", "--workers", "2", "--quiet",
                              "--run-dir", str(tmp_path / "second")],
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        client = MongoClient(state.uri)
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

    data = small_campaign(campaign.name, selection={"clusters": 10, "batches": 2}, active=ACTIVE)
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
