"""What a finished campaign with both active-learning stages and pruning must satisfy,
whichever driver ran it (rlaunch workers or the local runner)."""
from __future__ import annotations

import numpy as np

from perovflow.campaign.context import CampaignContext, symmetry_constrained
from perovflow.models.relaxation import ml_relax
from perovflow.settings import CampaignSettings
from perovflow.store.store import Store


def check_active_learning_invariants(store: Store, campaign: CampaignSettings, active: dict) -> dict[int, dict]:
    """Assert the stored records of a campaign whose ``active`` section is ``active`` (2
    stage-1 and 1 stage-2 iterations); returns the al_iterations records by number."""
    assert active["stage1_iterations"] == 2 and active["stage2_iterations"] == 1
    records = {r["iteration"]: r for r in store.iterations()}
    assert [records[i]["stage"] for i in (0, 1, 2, 3)] == ["initial", "stage1", "stage1", "stage2"]
    assert records[4]["stage"] == "final" and max(records) == 4
    # the relaxation test is stored for every iteration and for the final model
    for record in records.values():
        test = record["relaxation_test"]
        assert test["n"] == len(campaign.phases) * active["test_per_phase"] and 0 <= test["convergence"] <= 1
        assert test["mae_mev"] is None or test["mae_mev"] >= 0
        assert len(test["mixing_enthalpies"]) == test["n"]
    assert any(r["relaxation_test"]["mae_mev"] is not None for r in records.values())

    n_acquired = 0
    for iteration in (1, 2, 3):
        record = records[iteration]
        for acquisition in record["acquisitions"]:
            n_acquired += 1
            trajectory = store.trajectory(acquisition["key"])
            assert trajectory["finished"] and trajectory["snapshot_ids"][0] == acquisition["start_id"]
            assert trajectory["cell"] == campaign.relax.cell
            assert trajectory["purpose"] == record["stage"] and trajectory["iteration"] == iteration
            ml = record["ml_relaxations"][acquisition["phase"]][acquisition["index"]]
            sigmas, step = ml["sigma_mev"], acquisition["step"]
            if record["stage"] == "stage1":
                threshold = record["thresholds_mev"][acquisition["phase"]]
                assert sigmas[step] > threshold and all(s <= threshold for s in sigmas[:step])
                assert trajectory["max_steps"] == active["dft_max_steps"]
                assert trajectory["fmax"] == campaign.active.dft_fmax
            else:
                # exactly stage2_dft_steps engine calculations, one snapshot each
                assert step == ml["steps"] and len(trajectory["snapshot_ids"]) == active["stage2_dft_steps"]
            if step == 0:  # crossing at the first step: DFT continues from the start itself
                assert acquisition["start_id"] == ml["start_id"]
            else:
                assert store.db.structures.find_one({"_id": acquisition["start_id"]})["parent"] == ml["start_id"]
    assert n_acquired > 0

    # redo one stage-1 ML relaxation with the stored model: the structure at the crossing
    # step is exactly the one DFT continued from
    first = max((a for i in (1, 2) for a in records[i]["acquisitions"]), key=lambda a: a["step"])
    record = next(records[i] for i in (1, 2) if first in records[i]["acquisitions"])
    calculator = CampaignContext(campaign, store).calculator(record["model_tag"])
    origin = store.structures([record["ml_relaxations"][first["phase"]][first["index"]]["start_id"]])[0]
    trace = ml_relax(
        origin,
        calculator,
        fmax=campaign.active.ml_fmax,
        max_steps=first["step"],
        track_sigma=False,
        constraint=symmetry_constrained(origin, origin).constraints[0],
        cell=campaign.relax.cell,
    )
    continued = store.structures([first["start_id"]])[0]
    np.testing.assert_allclose(trace.structures[first["step"]].positions, continued.positions, atol=1e-4)
    np.testing.assert_allclose(np.array(trace.structures[first["step"]].cell), np.array(continued.cell), atol=1e-6)
    if campaign.relax.cell == "symmetric" and first["step"] > 0:
        assert abs(continued.get_volume() / origin.get_volume() - 1) > 1e-4  # the ML relaxation moved the cell

    # models: named by what they are, numbered in order; iteration i explores with the
    # refit of iteration i-1
    models = store.models()
    assert [m["version"] for m in models] == list(range(1, len(models) + 1))
    by_tag = {m["tag"]: m for m in models}
    assert records[2]["model_tag"] == "active/iteration-1" and records[3]["model_tag"] == "active/iteration-2"
    assert by_tag["active/iteration-3"]["version"] == records[3]["refit_version"]

    # pruning kept a share of the snapshots and the final model was fitted on them
    pruned = store.selection("pruned")
    final = models[-1]
    assert final["tag"] == "final" and final["stage"] == "final"
    assert pruned["n_keep"] == len(pruned["kept"]) < pruned["n_snapshots"]
    assert final["metrics"]["n_snapshots"] == len(pruned["kept"])
    assert records[4]["model_version"] == final["version"]
    # the model before pruning (the paper's final model) is reported beside the pruned one
    before = records[4]["before_pruning"]
    assert before["model_version"] == records[3]["refit_version"] == by_tag["active/iteration-3"]["version"]
    assert before["relaxation_test"]["mae_mev"] == records[3]["relaxation_test"]["mae_mev"]
    check_calculation_provenance(store.db, campaign.name)
    return records


def check_calculation_provenance(db, campaign: str, fireworks: bool = False) -> list[dict]:
    """Every calculation of ``campaign`` (single points and relaxation steps) says which
    settings, worker, code versions, host and run folder made it; run by ``fireworks``
    (rlaunch workers), its ``fw_id`` is the Firework whose launch folder it ran in.
    Returns the calculation documents."""
    docs = list(db.calculations.find({"campaign": campaign}, {"forces": 0, "stress": 0}))
    assert {doc["kind"] for doc in docs} >= {"single_point"}
    for doc in docs:
        record = doc["provenance"]
        assert doc["settings"] and doc["worker"].startswith(record["host"] + ":"), doc["kind"]
        assert {"python", "perovflow", "ase", "dscribe", "numpy", "fireworks"} <= set(record["versions"])
        assert record["versions"][doc["engine"]] if doc["engine"] in ("chgnet", "tblite") else True
        assert record["host"] and record["run_folder"].startswith("/")
        assert record["fw_id"] == doc["fw_id"]
        if fireworks:
            firework = db.fireworks.find_one({"fw_id": doc["fw_id"]}, {"spec._tasks": 1, "spec.campaign.name": 1})
            assert firework["spec"]["campaign"]["name"] == campaign
            step = firework["spec"]["_tasks"][0]["step"]
            assert step == ("label" if doc["kind"] == "single_point" else "engine_relax"), (doc["kind"], step)
            folders = {launch["launch_dir"] for launch in db.launches.find({"fw_id": doc["fw_id"]}, {"launch_dir": 1})}
            assert record["run_folder"] in folders
    return docs
