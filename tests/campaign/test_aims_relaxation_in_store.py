"""An active-learning engine relaxation of a campaign labelled by FHI-aims: the structure
goes out with the symmetry constraint, every BFGS step is one FHI-aims run under custodian,
and the trajectory and its labelled snapshots land in the database (SecantusDB over TCP).

``aims.x`` is the Lennard-Jones stand-in of :mod:`tests.aims_standin` (FHI-aims cannot be
installed here)."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.records import RelaxationRequest
from perovflow.campaign.relaxation import run_engine_relaxation
from perovflow.settings import parse_campaign
from perovflow.store.store import Store
from perovflow.structures import PerovskiteSystem, SymmetryConstraint, generate_relaxation_starts
from tests.aims_standin import runs, species_folder, standin_aims
from tests.campaign.helpers import small_campaign


@pytest.fixture
def aims_campaign(tmp_path, monkeypatch):
    command, log = standin_aims(tmp_path, monkeypatch)
    options = {
        "command": command,
        "species_dir": str(species_folder(tmp_path, ["Cs", "Pb", "Cl", "Br"])),
        "workdir": str(tmp_path / "aims_runs"),
        "frozen_timeout": 60.0,
        "polling_time_step": 0.05,
    }
    campaign = parse_campaign(
        small_campaign("aims-relax", labelling={"engine": "fhi-aims", "options": options}, relax={"cell": "fixed"})
    )
    return campaign, log


def test_engine_relaxation_with_fhi_aims_stores_every_step(mongo_db, aims_campaign):
    campaign, log = aims_campaign
    store = Store(mongo_db, campaign.name)
    store.ensure_indexes()
    system = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))
    reference = generate_relaxation_starts(system, phases=("Pnma",), per_phase=1, seed=5)[0]
    start = reference.copy()
    free = [i for i, s in enumerate(start.get_chemical_symbols()) if s in ("Cs", "Pb")]
    start.positions[free] += np.random.default_rng(5).normal(scale=0.15, size=(len(free), 3))
    start_id, reference_id = store.add_structures([start, reference], role="al_start")

    request = RelaxationRequest("al1:Pnma:0", start_id, reference_id, fmax=0.1, max_steps=6, purpose="stage1",
                                iteration=1)
    result = run_engine_relaxation(CampaignContext(campaign, store), request)

    trajectory = store.trajectory("al1:Pnma:0")
    assert trajectory["finished"] and trajectory["engine"] == "fhi-aims"
    assert result["steps"] == trajectory["steps"] >= 2
    snapshot_ids = trajectory["snapshot_ids"]
    assert len(snapshot_ids) == trajectory["steps"] + 1 == runs(log)  # one FHI-aims run per step
    labels = list(mongo_db.calculations.find({"campaign": campaign.name, "structure_id": {"$in": snapshot_ids}}))
    assert len(labels) == len(snapshot_ids)
    assert all(doc["engine"] == "fhi-aims" and doc["is_dft"] and doc["status"] == "completed" for doc in labels)
    # the stored snapshots kept the halides in the reference's symmetry
    first, last = store.structures([snapshot_ids[0], snapshot_ids[-1]])
    constraint = SymmetryConstraint(first, reference=reference)
    moved = last.positions[constraint.index] - first.positions[constraint.index]
    np.testing.assert_allclose(constraint._symmetrise_vectors(first.cell, moved), moved, atol=1e-6)

    # the Firework run again: the finished trajectory is returned, FHI-aims is not started
    again = run_engine_relaxation(CampaignContext(campaign, store), request)
    assert again["reused"] and runs(log) == len(snapshot_ids)
