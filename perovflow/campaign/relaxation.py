"""Relaxations by the campaign's engine, every step stored as a labelled snapshot: the
relaxation test's references and the DFT continuations of active learning (Homm et al.
2025, section IV.B). Halides and cell keep the symmetry of a reference structure; the cell
relaxes within it unless the campaign's ``relax.cell`` is ``fixed``."""

from __future__ import annotations

import os
import socket
import time

from perovflow.campaign.context import CampaignContext, symmetry_constrained
from perovflow.campaign.next import Next
from perovflow.campaign.records import RelaxationRequest
from perovflow.engines import EngineError
from perovflow.provenance import provenance

ACTIVE_PURPOSES = ("stage1", "stage2")


def run_engine_relaxation(ctx: CampaignContext, request: RelaxationRequest) -> dict:
    """Relax the stored start with the engine and store every step. Idempotent: a finished
    trajectory is returned as it is."""
    store, engine = ctx.store, ctx.engine
    done = store.trajectory(request.key)
    if done is not None and done.get("finished"):
        return {"reused": True, "steps": done["steps"]}
    start, reference = store.structures([request.start_id, request.reference_id])
    fields = {
        "purpose": request.purpose,
        "iteration": request.iteration,
        "start_id": request.start_id,
        "reference_id": request.reference_id,
        "engine": engine.name,
        "settings_hash": engine.settings_hash,
        "fmax": request.fmax,
        "max_steps": request.max_steps,
        "phase": start.info.get("phase"),
        "cell": ctx.settings.relax.cell,
    }
    began = time.perf_counter()
    try:
        relaxation = engine.relax(
            symmetry_constrained(start, reference),
            fmax=request.fmax,
            max_steps=request.max_steps,
            cell=ctx.settings.relax.cell,
        )
    except EngineError as exc:
        store.update_trajectory(request.key, {**fields, "finished": False, "failed": exc.reason,
                                              "corrections": exc.corrections})
        raise
    snapshot_ids = []
    worker = f"{socket.gethostname()}:{os.getpid()}"
    role = "relax_test_snapshot" if request.purpose == "relax_test" else "snapshot"
    for atoms, label in zip(relaxation.structures, relaxation.labels):
        atoms.info["phase"] = start.info.get("phase")
        [sid] = store.add_structures([atoms], role=role, parent=request.start_id)
        snapshot_ids.append(sid)
        result = label.as_dict()
        result.update({"is_dft": engine.is_dft, "purpose": request.purpose, "iteration": request.iteration,
                       "trajectory": request.key, "settings": engine.settings, "worker": worker})
        store.add_calculation(sid, engine.name, engine.settings_hash, result, kind="relax_step", fw_id=ctx.fw_id,
                              provenance=provenance(ctx.fw_id, label.program_version))
    last = relaxation.labels[-1]
    store.update_trajectory(request.key, {
        **fields, "finished": True, "converged": relaxation.converged, "steps": len(snapshot_ids) - 1,
        "snapshot_ids": snapshot_ids, "energy_per_atom": float(last.energy) / len(start),
        "corrections": relaxation.corrections, "seconds": time.perf_counter() - began,
    })
    return {"reused": False, "steps": len(snapshot_ids) - 1, "converged": relaxation.converged}


def engine_relax(ctx: CampaignContext, **request: object) -> Next:
    """The job step: one engine relaxation (see :class:`RelaxationRequest` for the arguments)."""
    return Next(record=run_engine_relaxation(ctx, RelaxationRequest(**request)))


def active_snapshot_ids(ctx: CampaignContext, up_to_iteration: int | None = None) -> list[str]:
    """Labelled snapshot ids of every finished active-learning trajectory (in order)."""
    ids = []
    for doc in ctx.store.finished_trajectories(ACTIVE_PURPOSES):
        if up_to_iteration is None or doc["iteration"] <= up_to_iteration:
            ids.extend(doc["snapshot_ids"])
    return list(dict.fromkeys(ids))
