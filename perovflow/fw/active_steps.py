"""Active learning, relaxation test and pruning on top of the store: what each FireTask of
those stages does, without FireWorks. Rules live in :mod:`perovflow.active`.

Model versions: the initial stage ends with version ``V0``; active-learning iteration ``i``
refits version ``V0 + i``; pruning stores ``V0 + n + 1`` (n iterations), the final model.
Trajectory keys: ``test:<start id>`` (relaxation test), ``al<i>:<phase>:<index>``.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from ase import Atoms

from perovflow.active.relaxation_test import (
    RelaxedEnergy,
    end_member_starts,
    mixing_enthalpies,
    relaxation_test_metrics,
)
from perovflow.active.rules import StageRules, next_stage, stage1_acquisitions, stage2_acquisitions
from perovflow.config import Campaign
from perovflow.db.store import Store
from perovflow.fw.steps import EV_TO_MEV, descriptor_for, perovskite_system
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters

FINAL_RECORD = 10_000  # al_iterations number of the pruning stage's record


def stage_rules(campaign: Campaign) -> StageRules:
    active = campaign.active
    return StageRules(stage1_iterations=active["stage1_iterations"], stage2_iterations=active["stage2_iterations"],
                      plateau_mev=active["plateau_mev"], plateau_window=active["plateau_window"],
                      min_convergence=active["min_convergence"], label_budget=active["label_budget"])


def engine_for(campaign: Campaign):
    from perovflow.engines import make_engine

    return make_engine(campaign.labelling["engine"], **campaign.labelling["options"])


def initial_model_version(store: Store) -> int:
    versions = [m["version"] for m in store.models() if m.get("stage") == "initial"]
    if not versions:
        raise LookupError("the initial stage stored no model: nothing to start active learning from")
    return max(versions)


def load_model(store: Store, version: int | None = None, descriptor=None) -> tuple[KernelRidgeEnergy, dict]:
    """A stored model version; with ``descriptor`` (MBTRSettings) it must match the model's."""
    from perovflow.models.saved import model_from_record

    arrays, meta = store.load_model(version, descriptor=descriptor)
    return model_from_record(arrays, meta, expected=descriptor).model, meta


def ml_calculator(store: Store, campaign: Campaign, version: int | None = None):
    from perovflow.models.calculator import MBTRKRRCalculator

    descriptor = descriptor_for(campaign)
    model, meta = load_model(store, version, descriptor=descriptor.settings)
    return MBTRKRRCalculator(model, descriptor), meta


def symmetry_constrained(atoms: Atoms, reference: Atoms) -> Atoms:
    from perovflow.structures import SymmetryConstraint

    work = atoms.copy()
    work.set_constraint(SymmetryConstraint(work, reference=reference))
    return work


# relaxation test ------------------------------------------------------------------------
def prepare_relaxation_test(store: Store, campaign: Campaign) -> list[str]:
    """Store the relaxation-test starts (``test_per_phase`` per phase, plus each phase's
    single-halide end members for mixing enthalpies); returns their ids."""
    from perovflow.structures import generate_relaxation_starts

    system = perovskite_system(campaign)
    active = campaign.active
    starts = generate_relaxation_starts(system, phases=tuple(campaign.phases), per_phase=active["test_per_phase"],
                                        seed=active["seed"] + 7919)
    ends = end_member_starts(system, campaign.phases)
    for offset, atoms in enumerate(ends):
        atoms.info["pool_index"] = len(starts) + offset
    return store.add_structures([*starts, *ends], role="relax_test")


def run_engine_relaxation(store: Store, campaign: Campaign, key: str, start_id: str, reference_id: str,
                          fmax: float, max_steps: int, purpose: str, iteration: int | None = None) -> dict:
    """Relax a stored structure with the campaign's engine (halides and cell kept in the
    reference's symmetry) and store every step as a labelled snapshot. Idempotent: a
    finished trajectory is returned as it is."""
    from perovflow.engines import EngineError

    done = store.trajectory(key)
    if done is not None and done.get("finished"):
        return {"reused": True, "steps": done["steps"]}
    engine = engine_for(campaign)
    start, reference = store.structures([start_id, reference_id])
    fields = {"purpose": purpose, "iteration": iteration, "start_id": start_id, "reference_id": reference_id,
              "engine": engine.name, "settings_hash": engine.settings_hash, "fmax": fmax,
              "max_steps": max_steps, "phase": start.info.get("phase")}
    began = time.perf_counter()
    try:
        relaxation = engine.relax(symmetry_constrained(start, reference), fmax=fmax, max_steps=max_steps)
    except EngineError as exc:
        store.update_trajectory(key, {**fields, "finished": False, "failed": exc.reason,
                                      "corrections": exc.corrections})
        raise
    snapshot_ids = []
    role = "relax_test_snapshot" if purpose == "relax_test" else "snapshot"
    for atoms, label in zip(relaxation.structures, relaxation.labels):
        atoms.info["phase"] = start.info.get("phase")
        [sid] = store.add_structures([atoms], role=role, parent=start_id)
        snapshot_ids.append(sid)
        result = label.as_dict()
        result.update({"is_dft": engine.is_dft, "purpose": purpose, "iteration": iteration, "trajectory": key})
        store.add_calculation(sid, engine.name, engine.settings_hash, result, kind="relax_step")
    last = relaxation.labels[-1]
    store.update_trajectory(key, {
        **fields, "finished": True, "converged": relaxation.converged, "steps": len(snapshot_ids) - 1,
        "snapshot_ids": snapshot_ids, "energy_per_atom": float(last.energy) / len(start),
        "corrections": relaxation.corrections, "seconds": time.perf_counter() - began,
    })
    return {"reused": False, "steps": len(snapshot_ids) - 1, "converged": relaxation.converged}


def evaluate_relaxation_test(store: Store, campaign: Campaign, version: int) -> dict[str, Any]:
    """ML-relax every relaxation-test start with model ``version`` and compare the relaxed
    energies with the engine's; mixing enthalpies from each method's own end members."""
    from perovflow.relax.ml import ml_relax

    active = campaign.active
    calculator, _ = ml_calculator(store, campaign, version)
    ids = store.structure_ids("relax_test")
    starts = store.structures(ids)
    references = {sid: store.trajectory(f"test:{sid}") for sid in ids}
    usable = [i for i, sid in enumerate(ids) if (references[sid] or {}).get("finished")]
    ml, engine, mixing_rows = [], [], []
    began = time.perf_counter()
    for i in usable:
        start = starts[i]
        trace = ml_relax(start, calculator, fmax=active["ml_fmax"], max_steps=active["ml_max_steps"],
                         track_sigma=False, constraint=symmetry_constrained(start, start).constraints[0])
        ml.append(RelaxedEnergy(trace.energies[-1] / len(start), trace.converged, trace.steps))
        ref = references[ids[i]]
        engine.append(RelaxedEnergy(ref["energy_per_atom"], bool(ref["converged"]), int(ref["steps"])))
    # single-halide cells are the mixing-enthalpy references, not part of the error metrics
    is_end = [len(set(start.get_chemical_symbols()) & set(campaign.system["x"])) == 1 for start in starts]
    mixed = [k for k, i in enumerate(usable) if not is_end[i]]
    metrics = relaxation_test_metrics([ml[k] for k in mixed], [engine[k] for k in mixed]) if mixed else {}
    halides = campaign.system["x"]
    ends_ml: dict[str, dict[str, float]] = {}
    ends_engine: dict[str, dict[str, float]] = {}
    for k, i in enumerate(usable):
        if is_end[i]:
            phase, halide = starts[i].info.get("phase"), sorted(set(starts[i].get_chemical_symbols()) & set(halides))[0]
            ends_ml.setdefault(phase, {})[halide] = ml[k].energy_per_atom
            ends_engine.setdefault(phase, {})[halide] = engine[k].energy_per_atom
    mixed_structures = [starts[usable[k]] for k in mixed]
    dh_ml = mixing_enthalpies(mixed_structures, [ml[k].energy_per_atom for k in mixed], halides, ends_ml)
    dh_engine = mixing_enthalpies(mixed_structures, [engine[k].energy_per_atom for k in mixed], halides, ends_engine)
    for k, dml, deng in zip(mixed, dh_ml, dh_engine):
        mixing_rows.append({"structure_id": ids[usable[k]], "phase": starts[usable[k]].info.get("phase"),
                            "dh_ml_mev": dml, "dh_engine_mev": deng, "ml_converged": ml[k].converged})
    metrics.update({"model_version": version, "n_missing_reference": len(ids) - len(usable),
                    "seconds": time.perf_counter() - began, "mixing_enthalpies": mixing_rows})
    return metrics


# active-learning iterations -------------------------------------------------------------
def iteration_thresholds(store: Store, campaign: Campaign, iteration: int) -> dict[str, float]:
    previous = store.iteration(iteration - 1) if iteration > 1 else None
    if previous and previous.get("thresholds_next"):
        return {p: float(t) for p, t in previous["thresholds_next"].items()}
    return {phase: float(campaign.active["threshold_mev"]) for phase in campaign.phases}


def explore(store: Store, campaign: Campaign, iteration: int, stage: str) -> list[dict]:
    """ML relaxations of fresh starts with the sigma trace, the stage's acquisition rule,
    and the structures DFT continues from. Returns the acquisitions (stored with the
    iteration's record; a re-run returns the stored ones)."""
    from perovflow.relax.ml import ml_relax
    from perovflow.structures import generate_relaxation_starts

    record = store.iteration(iteration)
    if record is not None and "acquisitions" in record:
        return record["acquisitions"]
    active = campaign.active
    version = initial_model_version(store) + iteration - 1
    calculator, _ = ml_calculator(store, campaign, version)
    starts = generate_relaxation_starts(perovskite_system(campaign), phases=tuple(campaign.phases),
                                        per_phase=active["starts_per_phase"], seed=active["seed"] * 1000 + iteration)
    start_ids = store.add_structures(starts, role="al_start")
    thresholds = iteration_thresholds(store, campaign, iteration)
    traces: dict[str, list] = {phase: [] for phase in campaign.phases}
    relaxed: dict[str, list[dict]] = {phase: [] for phase in campaign.phases}
    began = time.perf_counter()
    for sid, start in zip(start_ids, starts):
        phase = start.info["phase"]
        trace = ml_relax(start, calculator, fmax=active["ml_fmax"], max_steps=active["ml_max_steps"],
                         track_sigma=True, constraint=symmetry_constrained(start, start).constraints[0])
        traces[phase].append(trace)
        relaxed[phase].append({"start_id": sid, "steps": trace.steps, "converged": trace.converged,
                               "sigma_mev": [float(s) for s in trace.sigmas],
                               "energy_per_atom": trace.energies[-1] / len(start)})
    if stage == "stage1":
        chosen, thresholds_next = stage1_acquisitions(
            {p: [t.sigmas for t in ts] for p, ts in traces.items()}, thresholds,
            per_phase=active["per_phase"], drop=active["threshold_drop"])
        fmax, max_steps = active["dft_fmax"], active["dft_max_steps"]
    else:
        chosen = stage2_acquisitions({p: [t.sigmas[-1] for t in ts] for p, ts in traces.items()},
                                     per_phase=active["per_phase"],
                                     final_steps={p: [t.steps for t in ts] for p, ts in traces.items()})
        thresholds_next = thresholds
        # a vanishing fmax: exactly ``stage2_dft_steps`` steps (seed: 5)
        fmax, max_steps = 1e-6, active["stage2_dft_steps"]
    acquisitions = []
    for choice in chosen:
        trace = traces[choice.phase][choice.index]
        origin_id = relaxed[choice.phase][choice.index]["start_id"]
        snapshot = trace.structures[choice.step]
        snapshot.set_constraint()
        snapshot.info.update({"phase": choice.phase, "pool_index": None})
        [continue_id] = store.add_structures([snapshot], role="al_continuation", parent=origin_id)
        acquisitions.append({"key": f"al{iteration}:{choice.phase}:{choice.index}", "phase": choice.phase,
                             "index": choice.index, "step": choice.step, "sigma_mev": choice.sigma_mev,
                             "start_id": continue_id, "reference_id": origin_id,
                             "fmax": fmax, "max_steps": max_steps})
    store.update_iteration(iteration, {
        "stage": stage, "model_version": version, "thresholds_mev": thresholds,
        "thresholds_next": thresholds_next, "ml_relaxations": relaxed, "acquisitions": acquisitions,
        "explore_seconds": time.perf_counter() - began,
    })
    return acquisitions


def active_snapshot_ids(store: Store, campaign: Campaign, up_to_iteration: int | None = None) -> list[str]:
    """Labelled snapshot ids of every finished active-learning trajectory (in order)."""
    ids = []
    for doc in store.trajectories(purpose={"$in": ["stage1", "stage2"]}, finished=True):
        if up_to_iteration is None or doc["iteration"] <= up_to_iteration:
            ids.extend(doc["snapshot_ids"])
    return list(dict.fromkeys(ids))


def snapshot_features(store: Store, campaign: Campaign, ids: list[str], chunk: int) -> dict[str, np.ndarray]:
    """MBTR rows of snapshots, computing (and storing, as chunk ``chunk``) those not stored yet."""
    descriptor = descriptor_for(campaign)
    settings = descriptor.settings
    try:
        known = dict(zip(*store.load_features(settings.hash, "snapshot")))
    except LookupError:  # no snapshot features stored yet
        known = {}
    missing = [sid for sid in ids if sid not in known]
    if missing:  # a stored chunk is already in ``known``, so this chunk is new
        matrix = descriptor.create(store.structures(missing))
        store.save_features(settings.hash, "snapshot", chunk, missing, matrix, settings.as_dict())
        known.update(zip(missing, matrix))
    return {sid: known[sid] for sid in ids}


def fit_version(store: Store, campaign: Campaign, snapshot_ids: list[str], version: int, stage: str,
                chunk: int, extra_meta: dict | None = None) -> tuple[int, dict]:
    """Fit on the initial training set plus ``snapshot_ids`` and store it as ``version``."""
    existing = [m for m in store.models() if m["version"] == version]
    if existing:
        return version, existing[0]
    engine = engine_for(campaign)
    descriptor = descriptor_for(campaign)
    _, initial_meta = load_model(store, initial_model_version(store))
    initial_ids = list(initial_meta["training_ids"])
    pool_ids, pool_features = store.load_features(descriptor.settings.hash, "pool")
    row = {sid: i for i, sid in enumerate(pool_ids)}
    energies = store.energies(initial_ids + snapshot_ids, engine.name, engine.settings_hash)
    initial_ids = [sid for sid in initial_ids if sid in energies]
    snapshot_ids = [sid for sid in snapshot_ids if sid in energies]
    snap = snapshot_features(store, campaign, snapshot_ids, chunk) if snapshot_ids else {}
    x = np.vstack([pool_features[[row[s] for s in initial_ids]], *([np.array([snap[s] for s in snapshot_ids])]
                                                                      if snapshot_ids else [])])
    train_ids = initial_ids + snapshot_ids
    y = np.array([energies[s] for s in train_ids])
    # active-learning refits keep the initial stage's (possibly tuned) hyperparameters
    tuned = initial_meta.get("hyperparameters") or {}
    hyper = KRRHyperparameters(alpha=float(tuned.get("alpha", campaign.model["alpha"])),
                               gamma=float(tuned.get("gamma", campaign.model["gamma"])))
    began = time.perf_counter()
    model = KernelRidgeEnergy(hyper).fit(x, y)
    metrics = {"n_train": len(train_ids), "n_initial": len(initial_ids), "n_snapshots": len(snapshot_ids),
               "fit_seconds": time.perf_counter() - began}
    test_ids, test_features = store.load_features(descriptor.settings.hash, "test")
    test_energy = store.energies(test_ids, engine.name, engine.settings_hash)
    rows = [i for i, sid in enumerate(test_ids) if sid in test_energy]
    errors = (model.predict(test_features[rows]) - np.array([test_energy[test_ids[i]] for i in rows])) * EV_TO_MEV
    metrics.update({"test_energy_mae_mev_per_atom": float(np.abs(errors).mean()),
                    "test_energy_rmse_mev_per_atom": float(np.sqrt((errors ** 2).mean())), "n_test": len(rows)})
    from perovflow.models.saved import model_record

    arrays, meta = model_record(
        model, descriptor.settings, metrics=metrics, training_ids=train_ids,
        extra={"stage": stage, "batch": None, "engine": engine.name, "engine_settings_hash": engine.settings_hash,
               "is_dft": engine.is_dft, "training_ids": train_ids, **(extra_meta or {})})
    store.save_model(arrays, meta, version=version)
    return version, meta


def refit_and_decide(store: Store, campaign: Campaign, iteration: int) -> str:
    """Refit after iteration ``iteration``, run the relaxation test, record it, and return
    the next stage (``stage1``, ``stage2`` or ``prune``)."""
    record = store.iteration(iteration) or {}
    if record.get("next_stage"):
        return record["next_stage"]
    stage = record["stage"]
    version = initial_model_version(store) + iteration
    snapshots = active_snapshot_ids(store, campaign, up_to_iteration=iteration)
    fit_version(store, campaign, snapshots, version, stage, chunk=iteration, extra_meta={"iteration": iteration})
    test = evaluate_relaxation_test(store, campaign, version)
    history = [r for r in store.iterations() if r["iteration"] < iteration and r.get("stage") == stage]
    done = len(history) + 1
    if stage == "stage1":  # the initial model's test counts as the start of stage 1
        baseline = store.iteration(0)
        history = ([baseline] if baseline else []) + history
    tests = [r["relaxation_test"] for r in history if r.get("relaxation_test")] + [test]
    labels = active_label_count(store)
    decision = next_stage(stage, tests, stage_rules(campaign), labels, iterations_done=done)
    store.update_iteration(iteration, {"relaxation_test": test, "refit_version": version,
                                       "labels_so_far": labels, "next_stage": decision})
    return decision


def active_label_count(store: Store) -> int:
    return store.db.calculations.count_documents(
        {"campaign": store.campaign, "purpose": {"$in": ["stage1", "stage2"]}, "status": "completed"})


def baseline_test(store: Store, campaign: Campaign) -> dict:
    """Iteration 0: the relaxation test of the initial model."""
    record = store.iteration(0)
    if record and record.get("relaxation_test"):
        return record["relaxation_test"]
    version = initial_model_version(store)
    test = evaluate_relaxation_test(store, campaign, version)
    store.update_iteration(0, {"stage": "initial", "model_version": version, "relaxation_test": test})
    return test


# pruning ----------------------------------------------------------------------------
def prune_and_finish(store: Store, campaign: Campaign) -> dict:
    """Keep ``keep_fraction`` of the active-learning snapshots, one per k-means cluster
    (seed II.D), fit the final model on the initial data plus those, and test it."""
    from perovflow.selection.pruning import prune

    iterations = [r["iteration"] for r in store.iterations() if 0 < r["iteration"] < FINAL_RECORD]
    version = initial_model_version(store) + (max(iterations) if iterations else 0) + 1
    snapshots = active_snapshot_ids(store, campaign)
    chosen = store.selection("pruned")
    if chosen is None:
        n_keep = max(1, math.ceil(campaign.prune["keep_fraction"] * len(snapshots))) if snapshots else 0
        features = snapshot_features(store, campaign, snapshots, chunk=FINAL_RECORD) if snapshots else {}
        began = time.perf_counter()
        keep = prune(np.array([features[s] for s in snapshots]), n_keep, seed=campaign.prune["seed"]) \
            if n_keep and n_keep < len(snapshots) else list(range(len(snapshots)))
        store.save_selection("pruned", {"method": "kmeans", "n_snapshots": len(snapshots), "n_keep": len(keep),
                                        "kept": [snapshots[i] for i in sorted(keep)],
                                        "seconds": time.perf_counter() - began})
        chosen = store.selection("pruned")
    fit_version(store, campaign, list(chosen["kept"]), version, "final", chunk=FINAL_RECORD,
                extra_meta={"pruned_from": chosen["n_snapshots"]})
    test = evaluate_relaxation_test(store, campaign, version)
    store.update_iteration(FINAL_RECORD, {"stage": "final", "model_version": version, "relaxation_test": test,
                                    "n_snapshots": chosen["n_snapshots"], "n_kept": len(chosen["kept"])})
    return {"model_version": version, "n_snapshots": chosen["n_snapshots"], "n_kept": len(chosen["kept"])}
