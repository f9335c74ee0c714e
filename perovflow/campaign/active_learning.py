"""Two-stage active learning (Homm et al. 2025, section IV.B), one iteration at a time.

An iteration ML-relaxes fresh starts while tracking the GPR sigma (in batch jobs,
:mod:`perovflow.campaign.ml_batches`, as is every relaxation test), applies its stage's rule
(:mod:`perovflow.selection.acquisition`) and asks the engine to continue the acquired
trajectories; the refit after them trains on everything labelled so far, runs the
relaxation test and decides the next stage. Trajectory keys: ``test:<start id>`` for the
relaxation test, ``al<i>:<phase>:<index>`` for iteration ``i``.
"""
from __future__ import annotations

import logging

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.fitting import fit_with_snapshots
from perovflow.campaign.jobs import iteration_job, prune_job, refit_after, relaxation_job
from perovflow.campaign.ml_batches import batched, gathered
from perovflow.campaign.next import Job, Next
from perovflow.campaign.records import Continuation, refit_model_tag
from perovflow.campaign.relaxation import ACTIVE_PURPOSES, active_snapshot_ids
from perovflow.campaign.relaxation_test import batched_relaxation_test, gathered_relaxation_test
from perovflow.selection.acquisition import StageRules, next_stage, stage1_acquisitions, stage2_acquisitions
from perovflow.settings import ActiveSettings
from perovflow.store.store import doc_to_atoms
from perovflow.structures import generate_relaxation_starts

LOG = logging.getLogger(__name__)

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
    """Iteration 0: the relaxation test of the initial model (batch jobs and ``baseline_record``,
    which gathers them); then the first iteration."""
    record = ctx.store.iteration(0)
    test = (record or {}).get("relaxation_test")
    if test:
        return first_iteration(ctx, test)
    tag = ctx.store.latest_model_tag("initial")
    then = Job("baseline-record", "baseline_record", {"model_tag": tag},
               name=f"{ctx.settings.name}: relaxation test of the initial model (gather)")
    return batched_relaxation_test(ctx, tag, then)


def baseline_record(ctx: CampaignContext, model_tag: str, start_ids: list[str]) -> Next:
    """The job step after the initial model's test batches: record iteration 0."""
    test = (ctx.store.iteration(0) or {}).get("relaxation_test")
    if not test:
        test = gathered_relaxation_test(ctx, model_tag, start_ids)
        ctx.store.update_iteration(0, {"stage": "initial", "model_version": test["model_version"],
                                       "relaxation_test": test})
    return first_iteration(ctx, test)


def first_iteration(ctx: CampaignContext, test: dict) -> Next:
    return Next(jobs=(iteration_job(ctx.settings, 1, "stage1"),),
                record={"convergence": test.get("convergence"), "mae_mev": test.get("mae_mev")})


def thresholds_for(ctx: CampaignContext, iteration: int) -> dict[str, float]:
    """Each phase's sigma threshold (meV/atom): ``active.threshold_mev``, lowered by
    earlier stage-1 iterations where too few relaxations crossed it."""
    previous = ctx.store.iteration(iteration - 1) if iteration > 1 else None
    if previous and previous.get("thresholds_next"):
        return {p: float(t) for p, t in previous["thresholds_next"].items()}
    return {phase: float(ctx.settings.active.threshold_mev) for phase in ctx.settings.phases}


def exploration_starts(ctx: CampaignContext, iteration: int) -> list[str]:
    """The fresh starts iteration ``iteration`` ML-relaxes (stored; their ids in order)."""
    settings = ctx.settings
    starts = generate_relaxation_starts(ctx.system, phases=tuple(settings.phases),
                                        per_phase=settings.active.starts_per_phase,
                                        seed=settings.active.seed * 1000 + iteration)
    return ctx.store.add_structures(starts, role="al_start")


def acquire(ctx: CampaignContext, iteration: int, stage: str, model_tag: str, start_ids: list[str],
            thresholds: dict[str, float]) -> list[Continuation]:
    """The stage's acquisition rule on the gathered ML relaxations (with their sigma traces)
    of the starts ``start_ids``, and the structures the engine continues from, stored with
    the iteration's record (a re-run returns the stored ones)."""
    store, active = ctx.store, ctx.settings.active
    record = store.iteration(iteration)
    if record is not None and "acquisitions" in record:
        return [Continuation.from_doc(doc) for doc in record["acquisitions"]]
    version = next(m["version"] for m in store.models() if m.get("tag") == model_tag)
    docs = gathered(ctx, "explore", model_tag, start_ids, iteration)
    starts = {sid: atoms for sid, atoms in zip(start_ids, store.structures(start_ids))}
    phases = list(ctx.settings.phases)
    by_phase: dict[str, list[dict]] = {phase: [] for phase in phases}
    relaxed: dict[str, list[dict]] = {phase: [] for phase in phases}
    for doc in docs:
        phase = starts[doc["start_id"]].info["phase"]
        by_phase[phase].append(doc)
        relaxed[phase].append({"start_id": doc["start_id"], "steps": doc["steps"], "converged": doc["converged"],
                               "sigma_mev": [float(s) for s in doc["sigma_mev"]],
                               "energy_per_atom": doc["energy_per_atom"]})
    if stage == "stage1":
        chosen, thresholds_next = stage1_acquisitions(
            {p: [d["sigma_mev"] for d in ds] for p, ds in by_phase.items()}, thresholds,
            per_phase=active.per_phase, drop=active.threshold_drop)
        fmax, max_steps = active.dft_fmax, active.dft_max_steps
    else:
        # the paper's stage 2 labels relaxed structures, so converged relaxations come first (the
        # highest-sigma one may have run out of steps and exploded: fig7 saw oracle energies up
        # to +1.3 eV/atom); a phase short of converged ones fills up with unconverged ones, which
        # mark where the model is worst (the demo lost accuracy without its Pnma labels)
        converged = {p: [bool(d["converged"]) for d in ds] for p, ds in by_phase.items()}
        chosen = stage2_acquisitions({p: [d["sigma_mev"][-1] for d in ds] for p, ds in by_phase.items()},
                                     per_phase=active.per_phase,
                                     final_steps={p: [d["steps"] for d in ds] for p, ds in by_phase.items()},
                                     converged=converged, fill_unconverged=True)
        for choice in chosen:
            if not converged[choice.phase][choice.index]:
                LOG.warning("iteration %d (stage 2): %s has %d converged ML relaxations of %d; labelling one that "
                            "ran out of %d steps (final sigma %.3g meV/atom)", iteration, choice.phase,
                            sum(converged[choice.phase]), len(converged[choice.phase]), active.ml_max_steps,
                            choice.sigma_mev)
        thresholds_next = thresholds
        fmax, max_steps = STAGE2_FMAX, active.stage2_dft_steps - 1
    continuations = []
    for choice in chosen:
        doc = by_phase[choice.phase][choice.index]
        candidate = doc.get("candidate") or {}
        if candidate.get("step") != choice.step:
            raise RuntimeError(f"ML relaxation {doc['key']} stored step {candidate.get('step')} for the engine, "
                               f"the {stage} rule chose step {choice.step}")
        origin = starts[doc["start_id"]]
        snapshot = doc_to_atoms(candidate["atoms"])
        snapshot.info.update({"phase": choice.phase, "composition": origin.info.get("composition"),
                              "pool_index": None})
        [continue_id] = store.add_structures([snapshot], role="al_continuation", parent=doc["start_id"])
        continuations.append(Continuation(
            key=f"al{iteration}:{choice.phase}:{choice.index}", phase=choice.phase, index=choice.index,
            step=choice.step, sigma_mev=choice.sigma_mev, start_id=continue_id, reference_id=doc["start_id"],
            fmax=fmax, max_steps=max_steps))
    store.update_iteration(iteration, {
        "stage": stage, "model_version": version, "model_tag": model_tag, "thresholds_mev": thresholds,
        "thresholds_next": thresholds_next, "ml_relaxations": relaxed,
        "acquisitions": [c.as_doc() for c in continuations],
        "explore_seconds": sum(doc["seconds"] for doc in docs),
    })
    return continuations


def iteration(ctx: CampaignContext, iteration: int, stage: str) -> Next:
    """The job step of one iteration: the exploration's ML relaxations as batch jobs, and
    ``acquire``, which gathers them and applies the stage's rule."""
    name = ctx.settings.name
    if "acquisitions" in (ctx.store.iteration(iteration) or {}):
        return continue_acquired(ctx, iteration, stage, acquire(ctx, iteration, stage, "", [], {}))
    tag = model_before(ctx, iteration)
    start_ids = exploration_starts(ctx, iteration)
    thresholds = thresholds_for(ctx, iteration)
    then = Job("acquire", "acquire", {"iteration": iteration, "stage": stage, "model_tag": tag,
                                      "start_ids": start_ids, "thresholds": thresholds},
               name=f"{name}: acquisitions of iteration {iteration} ({stage})")
    return batched(ctx.settings, "explore", tag, start_ids, then, iteration=iteration, stage=stage,
                   thresholds=thresholds)


def acquire_step(ctx: CampaignContext, iteration: int, stage: str, model_tag: str, start_ids: list[str],
                 thresholds: dict[str, float]) -> Next:
    """The job step after an iteration's batches: the acquisitions, then one engine
    relaxation per acquired trajectory and the refit that waits for them."""
    return continue_acquired(ctx, iteration, stage, acquire(ctx, iteration, stage, model_tag, start_ids, thresholds))


def continue_acquired(ctx: CampaignContext, iteration: int, stage: str, continuations: list[Continuation]) -> Next:
    name = ctx.settings.name
    relaxations = [relaxation_job(f"relax-{n}", c.request(stage, iteration),
                                  name=f"{name}: {stage} DFT relax {c.key} from step {c.step}")
                   for n, c in enumerate(continuations)]
    following = refit_after(ctx.settings, relaxations, iteration, stage)
    return Next(following.jobs, record={"acquisitions": len(continuations)})


def refit(ctx: CampaignContext, iteration: int) -> Next:
    """The job step after an iteration's engine relaxations: refit on everything labelled so
    far, then the relaxation test of the refit as batch jobs and ``decide``, which gathers it."""
    store = ctx.store
    record = store.iteration(iteration) or {}
    if record.get("next_stage"):
        return after_decision(ctx, iteration, record["next_stage"])
    tag = refit_model_tag(iteration)
    snapshots = active_snapshot_ids(ctx, up_to_iteration=iteration)
    fit_with_snapshots(ctx, snapshots, tag, {"stage": record["stage"], "iteration": iteration}, chunk=iteration)
    then = Job("decide", "decide", {"iteration": iteration},
               name=f"{ctx.settings.name}: relaxation test after iteration {iteration} (gather)")
    return batched_relaxation_test(ctx, tag, then)


def decide(ctx: CampaignContext, iteration: int, start_ids: list[str]) -> Next:
    """The job step after the refit's test batches: record the test, decide the next stage
    (``stage1``, ``stage2`` or ``prune``) and add what runs next."""
    store = ctx.store
    record = store.iteration(iteration) or {}
    if record.get("next_stage"):
        return after_decision(ctx, iteration, record["next_stage"])
    stage = record["stage"]
    tag = refit_model_tag(iteration)
    test = gathered_relaxation_test(ctx, tag, start_ids)
    history = [r for r in store.iterations() if r["iteration"] < iteration and r.get("stage") == stage]
    done = len(history) + 1
    if stage == "stage1":  # the initial model's test counts as the start of stage 1
        baseline = store.iteration(0)
        history = ([baseline] if baseline else []) + history
    tests = [r["relaxation_test"] for r in history if r.get("relaxation_test")] + [test]
    labels = store.count_labels(purposes=ACTIVE_PURPOSES)
    decision = next_stage(stage, tests, stage_rules(ctx.settings.active), labels, iterations_done=done)
    store.update_iteration(iteration, {"relaxation_test": test, "refit_version": test["model_version"],
                                       "refit_tag": tag, "labels_so_far": labels, "next_stage": decision})
    return after_decision(ctx, iteration, decision)


def after_decision(ctx: CampaignContext, iteration: int, decision: str) -> Next:
    """The next iteration, or pruning when active learning is over."""
    if decision == "prune":
        jobs = (prune_job(ctx.settings),) if ctx.settings.prune.enabled else ()
    else:
        jobs = (iteration_job(ctx.settings, iteration + 1, decision),)
    return Next(jobs, record={"next_stage": decision})
