"""ML relaxations in batches, one job (Firework) per batch and one job that gathers them.

The relaxation test and the exploration of active learning (Homm et al. 2025, IV.B) relax
many starts with one model, each independently of the others; split into batches they run
on as many workers as there are. Every relaxation is stored as soon as it finishes, keyed
by what it relaxed and with which model, so a batch run again after its worker died
relaxes only what is missing; the gathering job reads the results in the order of the
starts, so they are those of one serial run.
"""
from __future__ import annotations

import math
import os
import socket
import time
from typing import Any, Mapping, Sequence

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.next import Job, Next, fan_in
from perovflow.selection.acquisition import first_crossing
from perovflow.settings import CampaignSettings
from perovflow.store.store import atoms_to_doc

# the relaxation test (no sigma) and the exploration (sigma and the step the engine would continue from)
PURPOSES = ("test", "explore")
# ml_batch_size 0: this many batches, whatever the number of starts
AUTO_BATCHES = 4


def split_batches(ids: Sequence[str], batch_size: int) -> list[list[str]]:
    """Consecutive batches of ``batch_size`` ids (0: :data:`AUTO_BATCHES` about equal ones)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise ValueError(f"active.ml_batch_size must be a non-negative integer, got {batch_size!r}")
    ids = list(ids)
    if not ids:
        return []
    size = batch_size or math.ceil(len(ids) / AUTO_BATCHES)
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def relaxation_key(purpose: str, model_tag: str, start_id: str, iteration: int | None = None) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    where = purpose if iteration is None else f"{purpose}{iteration}"
    return f"{where}:{model_tag}:{start_id}"


def candidate_step(sigmas: Sequence[float], steps: int, stage: str, threshold_mev: float | None) -> int | None:
    """The step the engine would continue this trajectory from if the stage's rule picks it:
    stage 1, where sigma first crosses the phase's threshold; stage 2, the last step."""
    if stage == "stage1":
        if threshold_mev is None:
            raise ValueError("stage1 exploration needs each phase's threshold")
        return first_crossing(sigmas, threshold_mev)
    if stage == "stage2":
        return steps
    raise ValueError(f"stage must be stage1 or stage2, got {stage!r}")


def relax_batch(ctx: CampaignContext, purpose: str, model_tag: str, start_ids: list[str],
                iteration: int | None = None, stage: str | None = None,
                thresholds: Mapping[str, float] | None = None) -> Next:
    """The job step: ML-relax the stored starts ``start_ids`` with model ``model_tag`` and
    store each result; those stored already (an earlier run of this batch) are skipped."""
    store = ctx.store
    keys = {sid: relaxation_key(purpose, model_tag, sid, iteration) for sid in start_ids}
    done = store.ml_relaxations(keys.values())
    todo = [sid for sid in dict.fromkeys(start_ids) if keys[sid] not in done]
    if todo:
        calculator, _ = ctx.calculator_and_record(model_tag)
        worker = f"{socket.gethostname()}:{os.getpid()}"
        explore = purpose == "explore"
        for sid, atoms in zip(todo, store.structures(todo)):
            began = time.perf_counter()
            trace = ctx.ml_relax(atoms, calculator, track_sigma=explore)
            phase = atoms.info.get("phase")
            fields: dict[str, Any] = {
                "purpose": purpose, "model_tag": model_tag, "iteration": iteration, "start_id": sid, "phase": phase,
                "steps": trace.steps, "converged": trace.converged,
                "energy_per_atom": trace.energies[-1] / len(atoms), "seconds": time.perf_counter() - began,
                "worker": worker, "fw_id": ctx.fw_id,
            }
            if explore:
                fields["sigma_mev"] = [float(s) for s in trace.sigmas]
                threshold = (thresholds or {}).get(phase)
                step = candidate_step(fields["sigma_mev"], trace.steps, stage or "", threshold)
                if step is not None:
                    fields["candidate"] = {"step": step, "atoms": atoms_to_doc(trace.structures[step])}
            store.save_ml_relaxation(keys[sid], fields)
    return Next(record={"relaxed": len(todo), "reused": len(start_ids) - len(todo)})


def batched(settings: CampaignSettings, purpose: str, model_tag: str, start_ids: list[str], then: Job,
            iteration: int | None = None, stage: str | None = None,
            thresholds: Mapping[str, float] | None = None) -> Next:
    """One batch job per ``active.ml_batch_size`` starts and ``then``, which waits for all."""
    chunks = split_batches(start_ids, settings.active.ml_batch_size)
    extra: dict[str, Any] = {}
    if iteration is not None:
        extra["iteration"] = iteration
    if stage is not None:
        extra["stage"] = stage
    if thresholds is not None:
        extra["thresholds"] = {phase: float(t) for phase, t in thresholds.items()}
    what = "relaxation test" if purpose == "test" else f"exploration of iteration {iteration}"
    jobs = [Job(f"ml-{n}", "ml_relax_batch", {"purpose": purpose, "model_tag": model_tag, "start_ids": chunk, **extra},
                name=f"{settings.name}: ML relax batch {n + 1}/{len(chunks)} ({what}, model {model_tag})")
            for n, chunk in enumerate(chunks)]
    return fan_in(jobs, then)


def gathered(ctx: CampaignContext, purpose: str, model_tag: str, start_ids: Sequence[str],
             iteration: int | None = None) -> list[dict]:
    """The stored results of every start, in the order of ``start_ids``."""
    keys = [relaxation_key(purpose, model_tag, sid, iteration) for sid in start_ids]
    found = ctx.store.ml_relaxations(keys)
    missing = [sid for sid, key in zip(start_ids, keys) if key not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} of {len(keys)} ML relaxations ({purpose}, model {model_tag}) are not "
                           f"stored: a batch of them has not finished (first: {missing[:3]})")
    return [found[key] for key in keys]
