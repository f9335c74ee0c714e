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


@pytest.fixture(scope="module")
def doomed(module_target, tmp_path_factory):
    """One failed run for both tests below (each ran its own: 166 s of the suite).
    tblite stops after 2 SCF cycles: no label converges, so the fit of batch 0 fails."""
    folder = tmp_path_factory.mktemp("doomed")
    data = small_campaign("doomed", phases=["Pm-3m"], pool={"per_composition": 1, "test_per_composition": 1},
                          selection={"clusters": 4, "batches": 2},
                          labelling={"engine": "tblite", "group_size": 13, "options": {"max_iterations": 2}})
    path = folder / "doomed.yaml"
    path.write_text(yaml.safe_dump(data))
    target = module_target
    run = [str(BIN / "perovflow"), "run", str(path), "--uri", target.uri, "--database", target.database,
           "--workers", "2", "--quiet", "--run-dir", str(folder / "run")]
    began = time.monotonic()
    out = subprocess.run(run, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - began
    client = MongoClient(target.uri)
    # the attempts of the first run, before the retry test runs the campaign again
    attempts = {doc["n_attempts"] for doc in client[target.database].calculations.find({"campaign": "doomed"})}
    yield {"out": out, "seconds": seconds, "run": run, "target": target, "attempts": attempts,
           "db": client[target.database]}
    client.close()


def test_a_blocking_failure_ends_the_run_with_its_reason(doomed):
    out = doomed["out"]
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "campaign failed" in out.stderr and "doomed: fit batch 0" in out.stderr, out.stderr
    assert "step fit" in out.stderr and "no labelled structure" in out.stderr, out.stderr
    assert doomed["seconds"] < 300


def test_retry_runs_failed_jobs_and_labels_again(doomed):
    target, db, run = doomed["target"], doomed["db"], doomed["run"]
    assert doomed["out"].returncode == 1
    assert doomed["attempts"] == {1}

    out = subprocess.run([str(BIN / "perovflow"), "retry", "doomed", "--uri", target.uri, "--database",
                          target.database], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "failed job(s) set to run again" in out.stdout, out.stdout + out.stderr
    assert db.fireworks.count_documents({"spec.campaign.name": "doomed", "state": "FIZZLED"}) == 0
    assert subprocess.run([*run, "--resume"], capture_output=True, text=True, timeout=600).returncode == 1
    # the labels were tried once more (and failed again: the SCF limit is still 2 cycles)
    assert {doc["n_attempts"] for doc in db.calculations.find({"campaign": "doomed"})} == {2}
