"""Job categories: a campaign labelled by the FHI-aims stand-in runs on two rlaunch workers
configured as the cluster templates configure them (launchers/my_fworker_dft.yaml and
my_fworker_ml.yaml): every engine job on the DFT worker, every other job on the ML worker."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from perovflow.campaign.steps import ENGINE_STEPS
from perovflow.fireworks.manager import start_workers, submit, wait_for
from perovflow.settings import parse_campaign
from perovflow.store.connection import launchpad
from tests.aims_standin import runs, species_folder, standin_aims
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_engine_jobs_and_ml_jobs_run_on_their_own_workers(target, tmp_path, monkeypatch):
    command, log = standin_aims(tmp_path, monkeypatch)
    options = {"command": command, "species_dir": str(species_folder(tmp_path, ["Cs", "Pb", "Cl", "Br"])),
               "workdir": str(tmp_path / "aims_runs"), "frozen_timeout": 120.0, "polling_time_step": 0.05}
    # one phase: 50 pool and 25 test structures, 35 stand-in FHI-aims labels
    campaign = parse_campaign(small_campaign("queues", phases=["Pnma"], selection={"clusters": 5, "min_size": 5},
                                             labelling={"engine": "fhi-aims", "group_size": 10, "options": options},
                                             relax={"cell": "fixed"}))
    categories = [yaml.safe_load((REPO / f"launchers/my_fworker_{queue}.yaml").read_text())["category"]
                  for queue in ("dft", "ml")]
    assert categories == [campaign.queues.dft, campaign.queues.ml]
    submit(campaign, target)
    db = launchpad(target).db
    workers = start_workers(2, target, tmp_path / "workers", categories=categories)
    codes = wait_for(workers, db, campaign.name, poll=1.0)
    assert all(code in (None, 0) for code in codes), codes

    fireworks = list(db.fireworks.find({"spec.campaign.name": campaign.name}))
    assert Counter(fw["state"] for fw in fireworks) == {"COMPLETED": len(fireworks)}
    ran_on = {}
    for fw in fireworks:
        step = fw["spec"]["_tasks"][0]["step"]
        launch = db.launches.find_one({"launch_id": {"$in": fw["launches"]}, "state": "COMPLETED"})
        ran_on.setdefault(step, set()).add(launch["fworker"]["name"])
        assert fw["spec"]["_category"] == (categories[0] if step in ENGINE_STEPS else categories[1])
    assert ran_on.pop("label") == {"worker_0_dft"}
    assert set(ran_on) >= {"generate", "featurize", "select", "fit"}
    assert set().union(*ran_on.values()) == {"worker_1_ml"}
    labels = db.calculations.count_documents({"campaign": campaign.name, "engine": "fhi-aims", "status": "completed"})
    assert labels == runs(log) > 0  # one stand-in FHI-aims run per label, all on the DFT worker
