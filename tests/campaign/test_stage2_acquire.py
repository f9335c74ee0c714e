"""Stage 2 of a campaign labels relaxed structures only: ``acquire`` on stored ML relaxations
in which the highest-sigma one of a phase ran out of steps."""
from __future__ import annotations

import logging

from perovflow.campaign.active_learning import acquire
from perovflow.campaign.context import CampaignContext
from perovflow.campaign.ml_batches import relaxation_key
from perovflow.settings import load_campaign
from perovflow.store.store import Store, atoms_to_doc
from perovflow.structures import generate_relaxation_starts

MODEL_TAG = "active/iteration-3"


def test_stage2_skips_relaxations_that_ran_out_of_steps(mongo_db, caplog):
    settings = load_campaign("workflows/demo.yaml")
    store = Store(mongo_db, "s2")
    store.ensure_indexes()
    mongo_db.models.insert_one({"campaign": "s2", "version": 4, "tag": MODEL_TAG})
    starts = generate_relaxation_starts(settings.system.perovskite(), per_phase=2, seed=3)[:4]
    start_ids = store.add_structures(starts, role="al_start")
    # per phase: index 0 converged with a low final sigma, index 1 ran out of steps with a high one;
    # the Pnma-like case: a phase whose every relaxation ran out of steps
    last_phase = starts[-1].info["phase"]
    max_steps = settings.active.ml_max_steps
    for k, (sid, atoms) in enumerate(zip(start_ids, starts)):
        phase = atoms.info["phase"]
        converged = k % 2 == 0 and phase != last_phase
        steps = 30 if converged else max_steps
        sigmas = [2.0, 1.0, 0.4 if converged else 80.0 + k]
        store.save_ml_relaxation(relaxation_key("explore", MODEL_TAG, sid, 4), {
            "purpose": "explore", "model_tag": MODEL_TAG, "iteration": 4, "start_id": sid, "phase": phase,
            "steps": steps, "converged": converged, "energy_per_atom": -3.7, "seconds": 1.0,
            "sigma_mev": sigmas, "candidate": {"step": steps, "atoms": atoms_to_doc(atoms)}})

    with caplog.at_level(logging.WARNING, logger="perovflow.campaign.active_learning"):
        chosen = acquire(CampaignContext(settings, store), 4, "stage2", MODEL_TAG, start_ids,
                         dict.fromkeys(settings.phases, 0.5))

    record = store.iteration(4)
    picked = {(c.phase, c.index) for c in chosen}
    assert picked, "no acquisition at all"
    for c in chosen:
        assert record["ml_relaxations"][c.phase][c.index]["converged"], f"stage 2 labelled an unconverged {c.phase}"
        assert c.max_steps == settings.active.stage2_dft_steps - 1
    assert last_phase not in {c.phase for c in chosen}
    assert any(last_phase in r.getMessage() and "converged" in r.getMessage() for r in caplog.records)
