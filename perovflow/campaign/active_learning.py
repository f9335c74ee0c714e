"""Two-stage active learning (Homm et al. 2025, section IV.B), one iteration at a time.

An iteration ML-relaxes fresh starts while tracking the GPR sigma, applies its stage's rule
(:mod:`perovflow.campaign.rules`) and asks the engine to continue the acquired
trajectories; the refit after them trains on everything labelled so far, runs the
relaxation test and decides the next stage. Trajectory keys: ``test:<start id>`` for the
relaxation test, ``al<i>:<phase>:<index>`` for iteration ``i``.
"""
from __future__ import annotations

import time

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.fitting import fit_with_snapshots
from perovflow.campaign.jobs import iteration_job, prune_job, refit_after, relaxation_job
from perovflow.campaign.next import Next
from perovflow.campaign.records import Continuation, refit_model_tag
from perovflow.campaign.relaxation import ACTIVE_PURPOSES, active_snapshot_ids
from perovflow.campaign.relaxation_test import evaluate_relaxation_test
from perovflow.campaign.rules import StageRules, next_stage, stage1_acquisitions, stage2_acquisitions
from perovflow.settings import ActiveSettings
from perovflow.structures import generate_relaxation_starts

# stage 2 makes exactly ``stage2_dft_steps`` engine calculations (the paper's "five steps"):
# an fmax no relaxation reaches, and BFGS steps = calculations - 1 (the first is the start)
STAGE2_FMAX = 1e-6


def stage_rules(active: ActiveSettings) -> StageRules:
    return StageRules(stage1_iterations=active.stage1_iterations, stage2_iterations=active.stage2_iterations,
                      plateau_mev=active.plateau_mev, plateau_window=active.plateau_window,
                      min_convergence=active.min_convergence, label_budget=active.label_budget)


def model_before(ctx: CampaignContext, iteration: int) -> str:
    """Tag of the model that iteration ``iteration`` explores with: the refit of the
    previous iteration, or the initial stage's last fit."""
    return refit_model_tag(iteration - 1) if iteration > 1 else ctx.store.latest_model_tag("initial")


def start(ctx: CampaignContext) -> Next:
    """Iteration 0: the relaxation test of the initial model; then the first iteration."""
    store = ctx.store
    record = store.iteration(0)
    test = (record or {}).get("relaxation_test")
    if not test:
        tag = store.latest_model_tag("initial")
        test = evaluate_relaxation_test(ctx, tag)
        store.update_iteration(0, {"stage": "initial", "model_version": test["model_version"],
                                   "relaxation_test": test})
    return Next(jobs=(iteration_job(ctx.settings, 1, "stage1"),),
                record={"convergence": test.get("convergence"), "mae_mev": test.get("mae_mev")})


def thresholds_for(ctx: CampaignContext, iteration: int) -> dict[str, float]:
    """Each phase's sigma threshold (meV/atom): ``active.threshold_mev``, lowered by
    earlier stage-1 iterations where too few relaxations crossed it."""
    previous = ctx.store.iteration(iteration - 1) if iteration > 1 else None
    if previous and previous.get("thresholds_next"):
        return {p: float(t) for p, t in previous["thresholds_next"].items()}
    return {phase: float(ctx.settings.active.threshold_mev) for phase in ctx.settings.phases}


def explore(ctx: CampaignContext, iteration: int, stage: str) -> list[Continuation]:
    """ML relaxations of fresh starts with the sigma trace, the stage's acquisition rule,
    and the structures the engine continues from, stored with the iteration's record (a
    re-run returns the stored ones)."""
    store, settings = ctx.store, ctx.settings
    active = settings.active
    record = store.iteration(iteration)
    if record is not None and "acquisitions" in record:
        return [Continuation.from_doc(doc) for doc in record["acquisitions"]]
    tag = model_before(ctx, iteration)
    calculator, model_record = ctx.calculator_and_record(tag)
    version = model_record["version"]
    starts = generate_relaxation_starts(ctx.system, phases=tuple(settings.phases), per_phase=active.starts_per_phase,
                                        seed=active.seed * 1000 + iteration)
    start_ids = store.add_structures(starts, role="al_start")
    thresholds = thresholds_for(ctx, iteration)
    traces: dict[str, list] = {phase: [] for phase in settings.phases}
    relaxed: dict[str, list[dict]] = {phase: [] for phase in settings.phases}
    began = time.perf_counter()
    for sid, atoms in zip(start_ids, starts):
        phase = atoms.info["phase"]
        trace = ctx.ml_relax(atoms, calculator, track_sigma=True)
        traces[phase].append(trace)
        relaxed[phase].append({"start_id": sid, "steps": trace.steps, "converged": trace.converged,
                               "sigma_mev": [float(s) for s in trace.sigmas],
                               "energy_per_atom": trace.energies[-1] / len(atoms)})
    if stage == "stage1":
        chosen, thresholds_next = stage1_acquisitions(
            {p: [t.sigmas for t in ts] for p, ts in traces.items()}, thresholds,
            per_phase=active.per_phase, drop=active.threshold_drop)
        fmax, max_steps = active.dft_fmax, active.dft_max_steps
    else:
        chosen = stage2_acquisitions({p: [t.sigmas[-1] for t in ts] for p, ts in traces.items()},
                                     per_phase=active.per_phase,
                                     final_steps={p: [t.steps for t in ts] for p, ts in traces.items()})
        thresholds_next = thresholds
        fmax, max_steps = STAGE2_FMAX, active.stage2_dft_steps - 1
    continuations = []
    for choice in chosen:
        trace = traces[choice.phase][choice.index]
        origin_id = relaxed[choice.phase][choice.index]["start_id"]
        snapshot = trace.structures[choice.step]
        snapshot.set_constraint()
        snapshot.info.update({"phase": choice.phase, "pool_index": None})
        [continue_id] = store.add_structures([snapshot], role="al_continuation", parent=origin_id)
        continuations.append(Continuation(
            key=f"al{iteration}:{choice.phase}:{choice.index}", phase=choice.phase, index=choice.index,
            step=choice.step, sigma_mev=choice.sigma_mev, start_id=continue_id, reference_id=origin_id,
            fmax=fmax, max_steps=max_steps))
    store.update_iteration(iteration, {
        "stage": stage, "model_version": version, "model_tag": tag, "thresholds_mev": thresholds,
        "thresholds_next": thresholds_next, "ml_relaxations": relaxed,
        "acquisitions": [c.as_doc() for c in continuations], "explore_seconds": time.perf_counter() - began,
    })
    return continuations


def iteration(ctx: CampaignContext, iteration: int, stage: str) -> Next:
    """The job step of one iteration: explore, then one engine relaxation per acquired
    trajectory and the refit that waits for them."""
    continuations = explore(ctx, iteration, stage)
    name = ctx.settings.name
    relaxations = [relaxation_job(f"relax-{n}", c.request(stage, iteration),
                                  name=f"{name}: {stage} DFT relax {c.key} from step {c.step}")
                   for n, c in enumerate(continuations)]
    following = refit_after(ctx.settings, relaxations, iteration, stage)
    return Next(following.jobs, record={"acquisitions": len(continuations)})


def refit_and_decide(ctx: CampaignContext, iteration: int) -> str:
    """Refit after iteration ``iteration``, run the relaxation test, record it, and return
    the next stage (``stage1``, ``stage2`` or ``prune``)."""
    store = ctx.store
    record = store.iteration(iteration) or {}
    if record.get("next_stage"):
        return record["next_stage"]
    stage = record["stage"]
    tag = refit_model_tag(iteration)
    snapshots = active_snapshot_ids(ctx, up_to_iteration=iteration)
    version = fit_with_snapshots(ctx, snapshots, tag, {"stage": stage, "iteration": iteration}, chunk=iteration)
    test = evaluate_relaxation_test(ctx, tag)
    history = [r for r in store.iterations() if r["iteration"] < iteration and r.get("stage") == stage]
    done = len(history) + 1
    if stage == "stage1":  # the initial model's test counts as the start of stage 1
        baseline = store.iteration(0)
        history = ([baseline] if baseline else []) + history
    tests = [r["relaxation_test"] for r in history if r.get("relaxation_test")] + [test]
    labels = store.count_labels(purposes=ACTIVE_PURPOSES)
    decision = next_stage(stage, tests, stage_rules(ctx.settings.active), labels, iterations_done=done)
    store.update_iteration(iteration, {"relaxation_test": test, "refit_version": version, "refit_tag": tag,
                                       "labels_so_far": labels, "next_stage": decision})
    return decision


def refit(ctx: CampaignContext, iteration: int) -> Next:
    """The job step after an iteration's relaxations: refit and test, then the next
    iteration, or pruning when active learning is over."""
    decision = refit_and_decide(ctx, iteration)
    if decision == "prune":
        jobs = (prune_job(ctx.settings),) if ctx.settings.prune.enabled else ()
    else:
        jobs = (iteration_job(ctx.settings, iteration + 1, decision),)
    return Next(jobs, record={"next_stage": decision})
