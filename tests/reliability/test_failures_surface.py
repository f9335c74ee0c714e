"""Issue 14: failures surface. A job that the campaign cannot go on without (here: every
label fails, so the first fit has nothing to train on) makes `perovflow run` exit non-zero
within a poll, naming the job, its step and the reason; settings that can only fail later
are refused before anything is written."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pymongo import MongoClient

from perovflow.settings import CampaignError, parse_campaign
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_duplicate_phases_are_refused():
    with pytest.raises(CampaignError, match=r"^phases: Pnma is given twice"):
        parse_campaign(small_campaign("dup", phases=["Pnma", "Pnma"]))


def test_a_blocking_failure_ends_the_run_with_its_reason(target, tmp_path):
    # tblite stops after 2 SCF cycles: no label converges, so the fit of batch 0 fails
    data = small_campaign("doomed", phases=["Pm-3m"], pool={"per_composition": 1, "test_per_composition": 1},
                          selection={"clusters": 4, "batches": 2},
                          labelling={"engine": "tblite", "group_size": 13, "options": {"max_iterations": 2}})
    path = tmp_path / "doomed.yaml"
    path.write_text(yaml.safe_dump(data))
    began = time.monotonic()
    out = subprocess.run([str(BIN / "perovflow"), "run", str(path), "--uri", target.uri, "--database",
                          target.database, "--workers", "2", "--quiet", "--run-dir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "campaign failed" in out.stderr and "doomed: fit batch 0" in out.stderr, out.stderr
    assert "step fit" in out.stderr and "no labelled structure" in out.stderr, out.stderr
    assert time.monotonic() - began < 300


def test_retry_runs_failed_jobs_and_labels_again(target, tmp_path):
    data = small_campaign("again", phases=["Pm-3m"], pool={"per_composition": 1, "test_per_composition": 1},
                          selection={"clusters": 4, "batches": 1},
                          labelling={"engine": "tblite", "group_size": 30, "options": {"max_iterations": 2}})
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(data))
    common = ["--uri", target.uri, "--database", target.database]
    run = [str(BIN / "perovflow"), "run", str(path), *common, "--workers", "1", "--quiet", "--run-dir",
           str(tmp_path / "run")]
    assert subprocess.run(run, capture_output=True, text=True, timeout=600).returncode == 1
    db = MongoClient(target.uri)[target.database]
    assert {doc["n_attempts"] for doc in db.calculations.find({"campaign": "again"})} == {1}

    out = subprocess.run([str(BIN / "perovflow"), "retry", "again", *common], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "failed job(s) set to run again" in out.stdout, out.stdout + out.stderr
    assert db.fireworks.count_documents({"spec.campaign.name": "again", "state": "FIZZLED"}) == 0
    assert subprocess.run([*run, "--resume"], capture_output=True, text=True, timeout=600).returncode == 1
    # the labels were tried once more (and failed again: the SCF limit is still 2 cycles)
    assert {doc["n_attempts"] for doc in db.calculations.find({"campaign": "again"})} == {2}
