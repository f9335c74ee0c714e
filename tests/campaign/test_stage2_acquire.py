"""Stage 2 of a campaign labels relaxed structures first: ``acquire`` on stored ML relaxations
in which the highest-sigma relaxation of a phase ran out of steps."""
from __future__ import annotations

import logging

from perovflow.campaign.active_learning import acquire
from perovflow.campaign.context import CampaignContext
from perovflow.campaign.ml_batches import relaxation_key
from perovflow.settings import load_campaign
from perovflow.store.store import Store, atoms_to_doc
from perovflow.structures import generate_relaxation_starts

MODEL_TAG = "active/iteration-3"


def test_stage2_takes_converged_relaxations_first_and_fills_up_with_unconverged(mongo_db, caplog):
    settings = load_campaign("workflows/demo.yaml")
    assert settings.active.per_phase == 2
    store = Store(mongo_db, "s2")
    store.ensure_indexes()
    mongo_db.models.insert_one({"campaign": "s2", "version": 4, "tag": MODEL_TAG})
    starts = generate_relaxation_starts(settings.system.perovskite(), per_phase=3, seed=3)
    phases = sorted({atoms.info["phase"] for atoms in starts})
    mixed, unconverged_only = phases[0], phases[1]
    start_ids = store.add_structures(starts, role="al_start")
    seen: dict[str, int] = {}
    max_steps = settings.active.ml_max_steps
    for sid, atoms in zip(start_ids, starts):
        phase = atoms.info["phase"]
        k = seen[phase] = seen.get(phase, -1) + 1
        # the mixed phase: relaxations 0 and 1 converged (low sigma), 2 ran out of steps (sigma 80);
        # another phase: none converged; the rest: all converged
        converged = phase != unconverged_only and not (phase == mixed and k == 2)
        steps = 30 + k if converged else max_steps
        sigmas = [2.0, 1.0, (0.4 + 0.1 * k) if converged else 80.0 + k]
        store.save_ml_relaxation(relaxation_key("explore", MODEL_TAG, sid, 4), {
            "purpose": "explore", "model_tag": MODEL_TAG, "iteration": 4, "start_id": sid, "phase": phase,
            "steps": steps, "converged": converged, "energy_per_atom": -3.7, "seconds": 1.0,
            "sigma_mev": sigmas, "candidate": {"step": steps, "atoms": atoms_to_doc(atoms)}})

    with caplog.at_level(logging.WARNING, logger="perovflow.campaign.active_learning"):
        chosen = acquire(CampaignContext(settings, store), 4, "stage2", MODEL_TAG, start_ids,
                         dict.fromkeys(settings.phases, 0.5))

    record = store.iteration(4)
    by_phase: dict[str, list[bool]] = {}
    for c in chosen:
        by_phase.setdefault(c.phase, []).append(record["ml_relaxations"][c.phase][c.index]["converged"])
        assert c.max_steps == settings.active.stage2_dft_steps - 1
    assert by_phase[mixed] == [True, True], "the unconverged high-sigma relaxation was taken before converged ones"
    assert by_phase[unconverged_only] == [False, False], "a phase without converged relaxations got no labels"
    assert all(len(flags) == 2 for flags in by_phase.values())
    warned = [r.getMessage() for r in caplog.records if "ran out of" in r.getMessage()]
    assert len(warned) == 2 and all(unconverged_only in m for m in warned)
