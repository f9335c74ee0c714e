"""The initial-dataset stage end to end: real server, real rlaunch workers, real CHGNet."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from perovflow.campaign.context import CampaignContext
from perovflow.fireworks.manager import campaign_finished, start_workers, stop_workers, submit, wait_for
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.store.connection import launchpad, write_launchpad_yaml
from perovflow.store.store import Store
from tests.campaign.invariants import check_calculation_provenance

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _labels_are_unique(db, campaign):
    calcs = list(db.calculations.find({"campaign": campaign}, {"structure_id": 1, "engine": 1, "settings_hash": 1}))
    keys = Counter((c["structure_id"], c["engine"], c["settings_hash"]) for c in calcs)
    return len(calcs), max(keys.values())


def test_campaign_runs_to_model_versions_with_metrics(target, tiny_campaign, tmp_path):
    submit(tiny_campaign, target)
    workers = start_workers(2, target, tmp_path)
    db = launchpad(target).db
    codes = wait_for(workers, db, tiny_campaign.name, poll=1.0)
    assert all(code in (None, 0) for code in codes)
    states = Counter(f["state"] for f in db.fireworks.find({"spec.campaign.name": "tiny"}))
    assert set(states) == {"COMPLETED"}, states

    store = Store(db, "tiny")
    assert len(store.structure_ids("pool")) == 2 * 25 * 2
    assert len(store.structure_ids("test")) == 2 * 25
    selection = store.selection("initial")
    assert len(selection["batches"]) == 2
    assert len(set(selection["batches"][0]) & set(selection["batches"][1])) == 0
    n_labels, most = _labels_are_unique(db, "tiny")
    assert most == 1
    assert n_labels == 50 + sum(len(b) for b in selection["batches"])
    label = db.calculations.find_one({"campaign": "tiny"})
    assert label["engine"] == "chgnet" and label["is_dft"] is False
    # each label says which code, host, launch folder and Firework made it
    assert len(check_calculation_provenance(db, "tiny", fireworks=True)) == n_labels

    models = store.models()
    assert [m["version"] for m in models] == [1, 2]
    assert models[1]["metrics"]["n_train"] == len(selection["batches"][0]) + len(selection["batches"][1])
    # the stored model predicts the stored metric again when loaded back
    arrays, meta = store.load_model(2)
    model = KernelRidgeEnergy.from_arrays(arrays)
    test_ids, test_x = CampaignContext(tiny_campaign, store).features("test")
    energies = store.energies(test_ids, "chgnet", meta["engine_settings_hash"])
    predicted = model.predict(test_x)
    mae = np.mean([abs(p - energies[sid]) for p, sid in zip(predicted, test_ids)]) * 1000
    assert mae == pytest.approx(meta["metrics"]["test_energy_mae_mev_per_atom"], rel=1e-9)
    assert 0 < mae < 50  # meV/atom: a real fit, not a constant


def test_killed_worker_is_recovered_without_duplicate_labels(target, tmp_path):
    from perovflow.settings import parse_campaign
    from tests.campaign.helpers import small_campaign

    campaign = parse_campaign(small_campaign("killed", labelling={"group_size": 10}))
    submit(campaign, target)
    workers = start_workers(2, target, tmp_path)
    db = launchpad(target).db
    victim_fw = None
    deadline = time.monotonic() + 300
    while victim_fw is None and time.monotonic() < deadline:
        for fw in db.fireworks.find({"state": "RUNNING", "name": {"$regex": "label"}}, {"fw_id": 1, "spec._tasks": 1}):
            ids = fw["spec"]["_tasks"][0]["args"]["structure_ids"]
            if db.calculations.count_documents({"structure_id": {"$in": ids}}) > 0:
                victim_fw = fw["fw_id"]
                break
        time.sleep(0.02)
    assert victim_fw is not None, "no labelling job was caught mid-way"
    launch = db.launches.find_one({"fw_id": victim_fw, "state": "RUNNING"})
    index = int(Path(launch["launch_dir"]).parent.name.split("_")[-1])
    os.kill(workers[index].pid, signal.SIGKILL)
    workers[index].wait()
    time.sleep(3)
    assert db.fireworks.find_one({"fw_id": victim_fw})["state"] == "RUNNING"  # stranded

    launchpad_file = write_launchpad_yaml(tmp_path / "lp.yaml", target)
    out = subprocess.run([str(BIN / "lpad"), "-l", str(launchpad_file), "detect_lostruns", "--time", "2", "--rerun"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    survivors = [w for i, w in enumerate(workers) if i != index]
    wait_for(survivors, db, "killed", poll=1.0)
    assert campaign_finished(db, "killed")
    states = Counter(f["state"] for f in db.fireworks.find({"spec.campaign.name": "killed"}))
    assert set(states) == {"COMPLETED"}, states
    n_labels, most = _labels_are_unique(db, "killed")
    assert most == 1
    selection = Store(db, "killed").selection("initial")
    assert n_labels == 50 + sum(len(b) for b in selection["batches"])
    rerun = db.launches.find_one({"fw_id": victim_fw, "state": "COMPLETED"})
    assert rerun["action"]["stored_data"]["reused"] > 0  # the rerun kept what the killed job stored
    assert len(Store(db, "killed").models()) == 2
    stop_workers(workers)
