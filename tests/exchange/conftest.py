"""One small finished campaign (CHGNet labels, one phase, both active-learning stages and
pruning, cell relaxations) shared by the export tests of a module, in its own database on the session's server."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import MongoClient

from perovflow.campaign.local import run_local
from perovflow.store.connection import DatabaseTarget
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, active_campaign

BIN = Path(sys.executable).parent
CALIBRATION = 8  # held-out structures of the finished campaign


def perovflow(*args, cwd=None):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=300)


@dataclass
class FinishedCampaign:
    target: DatabaseTarget
    store: Store
    seconds: float

    def options(self) -> list[str]:
        return ["--uri", self.target.uri, "--database", self.target.database]


@pytest.fixture(scope="module")
def finished_campaign(mongo_uri):
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True)
    # the paper's relaxations (cell in the phase's symmetry): every relaxation step keeps its stress;
    # 8 held-out structures set sigma (exported as calibration_set.xyz)
    settings = active_campaign("exchange", ACTIVE_SHORT, phases=("Pnma",), cell="symmetric",
                               calibration_structures=CALIBRATION)
    store = Store(client[name], settings.name)
    began = time.perf_counter()
    run = run_local(settings, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    try:
        yield FinishedCampaign(DatabaseTarget(uri=mongo_uri, database=name), store, time.perf_counter() - began)
    finally:
        client.drop_database(name)
        client.close()
