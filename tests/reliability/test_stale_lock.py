"""Issue 14, defect 0: a worker SIGKILLed while it holds the workflow lock. A helper process
takes FireWorks' WFLock on the campaign's workflow and kills itself; `perovflow run --resume`
then finishes the campaign without waiting for the lock's expiry (300 s)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from perovflow.fireworks.manager import campaign_finished, submit
from perovflow.settings import parse_campaign
from perovflow.store.connection import launchpad
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
HOLD_AND_DIE = """
import os, signal, sys
import perovflow  # the start-up fixes, as in every worker
from fireworks.core.launchpad import WFLock
from perovflow.store.connection import DatabaseTarget, launchpad
lp = launchpad(DatabaseTarget(uri=sys.argv[1], database=sys.argv[2]))
with WFLock(lp, int(sys.argv[3])):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_resume_after_a_worker_died_holding_the_lock(target, tmp_path):
    data = small_campaign("locked", phases=["Pm-3m"], pool={"per_composition": 2, "test_per_composition": 1},
                          selection={"clusters": 5, "batches": 1}, labelling={"group_size": 25})
    campaign = parse_campaign(data)
    fw_ids = submit(campaign, target)
    died = subprocess.run([sys.executable, "-c", HOLD_AND_DIE, target.uri, target.database, str(fw_ids[0])],
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    db = launchpad(target).db
    workflow = db.workflows.find_one({"metadata.campaign": "locked"})
    assert workflow["locked"] is True  # the lock outlived its holder

    path = tmp_path / "locked.yaml"
    path.write_text(yaml.safe_dump(data))
    began = time.monotonic()
    out = subprocess.run([str(BIN / "perovflow"), "run", str(path), "--resume", "--uri", target.uri, "--database",
                          target.database, "--workers", "2", "--quiet", "--run-dir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "released the lock of 1 workflow(s)" in out.stdout
    assert campaign_finished(db, "locked") and time.monotonic() - began < 280
