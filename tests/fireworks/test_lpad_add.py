"""The FireWorks way in: `perovflow submit --dry-run -o wf.yaml`, `lpad add wf.yaml`, `rlaunch`."""
from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from perovflow.settings import load_campaign
from perovflow.store.connection import write_fworker_yaml

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def run(*args, cwd=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PEROVFLOW_TORCH_THREADS": "1"}, timeout=600)


def test_lpad_add_of_the_dry_run_file_runs_the_demo_first_fireworks(target, tmp_path):
    demo = REPO / "workflows/demo.yaml"
    wf = tmp_path / "wf.yaml"
    dry = run(BIN / "perovflow", "submit", demo, "--dry-run", "-o", wf, "--uri", target.uri, "--database",
              target.database)
    assert dry.returncode == 0, dry.stderr
    # generate, 8 pool chunks, test and calibration featurizing, select
    assert "12 Fireworks" in dry.stdout and wf.is_file()
    client = MongoClient(target.uri)
    assert target.database not in client.list_database_names()  # a dry run writes nothing there
    assert target.uri.split("@")[0] not in wf.read_text()  # nor how to log in into the file

    init = run(BIN / "perovflow", "init", "--uri", target.uri, "--database", target.database, "-d", tmp_path)
    assert init.returncode == 0, init.stderr
    # a database FireWorks has not used yet is initialised once, the FireWorks way
    reset = run(BIN / "lpad", "-l", tmp_path / "my_launchpad.yaml", "reset", "--password",
                datetime.datetime.now().strftime("%Y-%m-%d"))
    assert reset.returncode == 0, reset.stderr
    added = run(BIN / "lpad", "-l", tmp_path / "my_launchpad.yaml", "add", wf)
    assert added.returncode == 0, added.stderr + added.stdout
    worker = write_fworker_yaml(tmp_path / "ml_worker.yaml", "ml-worker", category="ml")
    (tmp_path / "w").mkdir()
    launched = run(BIN / "rlaunch", "-l", tmp_path / "my_launchpad.yaml", "-w", worker, "-s", "rapidfire",
                   "--nlaunches", "2", "--sleep", "1", cwd=tmp_path / "w")
    assert launched.returncode == 0, launched.stderr[-2000:]

    db = client[target.database]
    states = {fw["name"]: fw["state"] for fw in db.fireworks.find({}, {"name": 1, "state": 1})}
    assert states["demo: generate pool"] == "COMPLETED"
    assert sum(state == "COMPLETED" for state in states.values()) == 2, states
    campaign = load_campaign(demo)
    sizes = campaign.pool_sizes()
    assert db.structures.count_documents({"campaign": "demo", "role": "pool"}) == sizes["pool"]
    assert db.structures.count_documents({"campaign": "demo", "role": "test"}) == sizes["test"]
    assert db.structures.count_documents({"campaign": "demo", "role": "calibration"}) == sizes["calibration"] == 100
    # the settings are stored as `perovflow submit` stores them, so a later submit compares against them
    assert db.campaigns.find_one({"campaign": "demo"})["settings"] == campaign.as_dict()
    again = run(BIN / "perovflow", "submit", demo, "--uri", target.uri, "--database", target.database)
    assert again.returncode == 2 and "already submitted" in again.stderr
    client.close()
