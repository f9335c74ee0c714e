"""The initial-dataset stage end to end: real server, real rlaunch workers, real CHGNet.

One campaign serves both tests (the suite ran one for each): a worker is SIGKILLed in the
middle of a labelling job, `lpad detect_lostruns --rerun` gives that job back, and the
surviving worker finishes the campaign; the second test checks what the finished campaign
stored, which an interruption must not change."""
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
from perovflow.settings import parse_campaign
from perovflow.store.connection import launchpad, write_launchpad_yaml
from perovflow.store.store import Store
from tests.campaign.helpers import small_campaign
from tests.campaign.invariants import check_calculation_provenance

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _labels_are_unique(db, campaign):
    calcs = list(db.calculations.find({"campaign": campaign}, {"structure_id": 1, "engine": 1, "settings_hash": 1}))
    keys = Counter((c["structure_id"], c["engine"], c["settings_hash"]) for c in calcs)
    return len(calcs), max(keys.values())


@pytest.fixture(scope="module")
def killed(module_target, tmp_path_factory):
    """The campaign "tiny" on 2 workers, one of them SIGKILLed while a labelling job it runs
    has stored some labels; the stranded job is rerun by `lpad detect_lostruns --rerun` and
    the survivor finishes the campaign."""
    target, folder = module_target, tmp_path_factory.mktemp("killed")
    campaign = parse_campaign(small_campaign("tiny", labelling={"group_size": 10}))
    submit(campaign, target)
    workers = start_workers(2, target, folder)
    db = launchpad(target).db
    victim_fw = None
    deadline = time.monotonic() + 300
    try:
        while victim_fw is None and time.monotonic() < deadline:
            for fw in db.fireworks.find({"state": "RUNNING", "name": {"$regex": "label"}},
                                        {"fw_id": 1, "spec._tasks": 1}):
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
        stranded = db.fireworks.find_one({"fw_id": victim_fw})["state"]

        launchpad_file = write_launchpad_yaml(folder / "lp.yaml", target)
        lostruns = subprocess.run([str(BIN / "lpad"), "-l", str(launchpad_file), "detect_lostruns", "--time", "2",
                                   "--rerun"], capture_output=True, text=True, timeout=120)
        survivors = [w for i, w in enumerate(workers) if i != index]
        codes = wait_for(survivors, db, "tiny", poll=1.0)
        yield {"campaign": campaign, "db": db, "victim_fw": victim_fw, "stranded": stranded, "lostruns": lostruns,
               "codes": codes}
    finally:
        stop_workers(workers)


def test_killed_worker_is_recovered_without_duplicate_labels(killed):
    db, victim_fw = killed["db"], killed["victim_fw"]
    assert killed["stranded"] == "RUNNING"  # the killed worker's job was left behind
    assert killed["lostruns"].returncode == 0, killed["lostruns"].stderr
    assert all(code in (None, 0) for code in killed["codes"])
    assert campaign_finished(db, "tiny")
    n_labels, most = _labels_are_unique(db, "tiny")
    assert most == 1
    selection = Store(db, "tiny").selection("initial")
    assert n_labels == 50 + sum(len(b) for b in selection["batches"])
    rerun = db.launches.find_one({"fw_id": victim_fw, "state": "COMPLETED"})
    assert rerun["action"]["stored_data"]["reused"] > 0  # the rerun kept what the killed job stored
    assert len(Store(db, "tiny").models()) == 2


def test_campaign_runs_to_model_versions_with_metrics(killed):
    db, campaign = killed["db"], killed["campaign"]
    assert all(code in (None, 0) for code in killed["codes"])
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
    test_ids, test_x = CampaignContext(campaign, store).features("test")
    energies = store.energies(test_ids, "chgnet", meta["engine_settings_hash"])
    predicted = model.predict(test_x)
    mae = np.mean([abs(p - energies[sid]) for p, sid in zip(predicted, test_ids)]) * 1000
    assert mae == pytest.approx(meta["metrics"]["test_energy_mae_mev_per_atom"], rel=1e-9)
    assert 0 < mae < 50  # meV/atom: a real fit, not a constant
