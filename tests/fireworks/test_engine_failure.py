"""A label that fails for good (a real tblite SCF that does not converge) leaves one FIZZLED
Firework with the reason, and the campaign goes on without that label."""
from __future__ import annotations

from collections import Counter

import pytest

from perovflow.analysis.summary import format_summary, summary
from perovflow.fireworks.manager import start_workers, submit, wait_for
from perovflow.settings import parse_campaign
from perovflow.store.connection import launchpad
from perovflow.store.store import Store
from perovflow.structures import PerovskiteSystem, generate_test_set
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow


def squeezed_cell():
    """A cubic CsPb(Cl/Br)3 cell compressed to 60 % of its lattice constant: GFN1-xTB's SCF
    does not converge in 40 cycles there, while the campaign's ordinary cells need about 20."""
    atoms = generate_test_set(PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br")), phases=("Pm-3m",),
                              per_composition=1, seed=99)[4]
    atoms.set_cell(atoms.cell * 0.6, scale_atoms=True)
    atoms.info["pool_index"] = 10_000
    return atoms


def test_scf_failure_fizzles_one_job_and_the_campaign_goes_on(target, tmp_path):
    campaign = parse_campaign(small_campaign(
        "scf-fails", phases=["Pm-3m"],
        pool={"per_composition": 1, "test_per_composition": 1},
        selection={"clusters": 4, "batches": 1},
        labelling={"engine": "tblite", "group_size": 6, "options": {"max_iterations": 40}},
    ))
    submit(campaign, target)
    db = launchpad(target).db
    store = Store(db, campaign.name)
    store.ensure_indexes()
    [bad_id] = store.add_structures([squeezed_cell()], role="test")

    codes = wait_for(start_workers(2, target, tmp_path), db, campaign.name, poll=1.0)
    assert all(code in (None, 0) for code in codes)

    fireworks = list(db.fireworks.find({"spec.campaign.name": campaign.name}, {"state": 1, "name": 1, "fw_id": 1, "spec._tasks": 1}))
    states = Counter(fw["state"] for fw in fireworks)
    assert states["FIZZLED"] == 1 and set(states) == {"COMPLETED", "FIZZLED"}, states
    [fizzled] = [fw for fw in fireworks if fw["state"] == "FIZZLED"]
    assert bad_id in fizzled["spec"]["_tasks"][0]["args"]["structure_ids"]

    failed = list(db.calculations.find({"campaign": campaign.name, "status": "failed"}))
    assert [doc["structure_id"] for doc in failed] == [bad_id]
    assert "SCF not converged in 40 cycles" in failed[0]["reason"]
    assert failed[0]["engine"] == "tblite" and failed[0]["is_dft"] is False
    # the other structures of the fizzled job were labelled all the same
    companions = [sid for sid in fizzled["spec"]["_tasks"][0]["args"]["structure_ids"] if sid != bad_id]
    assert db.calculations.count_documents({"structure_id": {"$in": companions}, "status": "completed"}) == len(companions)

    # the fit after the failed job ran, without the failed label
    [model] = store.models()
    assert model["metrics"]["n_test"] == 25 and model["metrics"]["n_train"] == 4

    info = summary(db, campaign.name)
    assert [f["fw_id"] for f in info["fizzled"]] == [fizzled["fw_id"]]
    assert "SCF not converged" in info["fizzled"][0]["reason"]
    text = format_summary(info)
    assert "failed jobs (1; the campaign went on without them)" in text
    assert "stand-in oracle (tblite)" in text
