from __future__ import annotations

from pathlib import Path

import pytest
from aims_testkit import make_species_dir


@pytest.fixture(autouse=True)
def _no_cluster_environment(monkeypatch):
    """Never pick up a real species folder or the wall time of a job these tests run in."""
    for name in ("AIMS_SPECIES_DIR", "SLURM_JOB_END_TIME", "PEROVFLOW_JOB_END_TIME", "PEROVFLOW_WALL_TIME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def species_dir(tmp_path: Path) -> Path:
    return make_species_dir(tmp_path)
