"""One fit-and-test for every model of a campaign: the fits after each initial batch, the
refits of active learning and the final fit after pruning (MBTR-KRR energies, Homm et al.
2025, section II.C), each stored under a tag that says what it is."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.records import TestErrors, initial_model_tag
from perovflow.models.calibration import calibration
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.models.krr_forces import KIND as FORCES_KIND
from perovflow.models.krr_forces import KernelRidgeEnergyForces, KRRForcesHyperparameters, force_observations
from perovflow.models.saved import model_record
from perovflow.models.tuning import TuningResult, tune_krr
from perovflow.settings import CampaignSettings
from perovflow.units import EV_TO_MEV

MIN_HELD_OUT = 5  # fewest labelled calibration structures that set sigma's amplitude


@dataclass(frozen=True)
class TrainingSet:
    ids: list[str]
    x: np.ndarray
    y: np.ndarray  # eV/atom
    n_calibration: int | None = None  # the first rows calibrate sigma (the initial data); None: all


def test_errors(ctx: CampaignContext, model: KernelRidgeEnergy) -> TestErrors:
    """Energy and force errors on the labelled part of the held-out test set, and the
    calibration of sigma against the energy errors."""
    test_ids, test_features = ctx.features("test")
    test_energy = ctx.labelled_energies(test_ids)
    rows = [i for i, sid in enumerate(test_ids) if sid in test_energy]
    reference = np.array([test_energy[test_ids[i]] for i in rows])
    errors = (model.predict(test_features[rows]) - reference) * EV_TO_MEV
    forces = force_errors(ctx, model, [test_ids[i] for i in rows])
    return TestErrors(
        mae_mev=float(np.abs(errors).mean()), rmse_mev=float(np.sqrt((errors ** 2).mean())), n_test=len(rows),
        force_mae_mev=float(np.abs(forces.errors).mean()) if forces.n_structures else None,
        force_rmse_mev=float(np.sqrt((forces.errors ** 2).mean())) if forces.n_structures else None,
        n_test_forces=forces.n_structures,
        calibration=calibration(errors, model.sigma(test_features[rows]) * EV_TO_MEV) if len(rows) >= 3 else None)


@dataclass(frozen=True)
class ForceErrors:
    errors: np.ndarray  # ML minus label, every Cartesian component (meV/Å)
    n_structures: int


def force_errors(ctx: CampaignContext, model: KernelRidgeEnergy, ids: list[str]) -> ForceErrors:
    """Force errors of the model on the structures ``ids`` whose labels have forces."""
    reference = ctx.labelled_forces(ids)
    chosen = [sid for sid in ids if sid in reference]
    errors = []
    for sid, atoms in zip(chosen, ctx.store.structures(chosen)):
        features, derivatives = ctx.descriptor.create_with_derivatives(atoms)
        _, predicted = model.energy_and_forces(features, derivatives)
        errors.append((predicted - reference[sid]).ravel())
    return ForceErrors(np.concatenate(errors) * EV_TO_MEV if errors else np.zeros(0), len(chosen))


def fit_and_test(ctx: CampaignContext, training: TrainingSet, hyper: KRRHyperparameters, tag: str,
                 meta: dict[str, Any], metrics: dict[str, Any] | None = None,
                 tuning: TuningResult | None = None) -> int:
    """Fit KRR on ``training``, test it, and store it under ``tag`` with ``meta`` (stage,
    batch, ...); returns its version."""
    began = time.perf_counter()
    rows = None if training.n_calibration is None else np.arange(training.n_calibration)
    if ctx.settings.model.kind == FORCES_KIND:
        model = fit_with_forces(ctx, training, hyper, rows)
    else:
        model = KernelRidgeEnergy(hyper).fit(training.x, training.y, calibration_rows=rows)
    held_out = calibrate_on_held_out(ctx, model)
    fit_seconds = time.perf_counter() - began
    engine = ctx.engine
    began = time.perf_counter()
    errors = test_errors(ctx, model)
    if held_out is None:
        calibrated_by = {"sigma_calibration": "leave-one-out",
                         "sigma_calibration_rows": len(training.ids) if rows is None else len(rows)}
    else:
        calibrated_by = {"sigma_calibration": "held-out", "sigma_calibration_rows": held_out}
    all_metrics = {**errors.as_metrics(), "n_train": len(training.ids), **(metrics or {}), **calibrated_by,
                   "fit_seconds": fit_seconds, "test_seconds": time.perf_counter() - began}
    arrays, record = model_record(
        model, ctx.descriptor.settings, metrics=all_metrics, tuning=tuning, training_ids=training.ids,
        extra={**meta, "engine": engine.name, "engine_settings_hash": engine.settings_hash,
               "is_dft": engine.is_dft, "training_ids": training.ids})
    return ctx.store.save_model(arrays, record, tag=tag)


def calibrate_on_held_out(ctx: CampaignContext, model: KernelRidgeEnergy) -> int | None:
    """With a calibration set (``pool.calibration_structures``, or one imported with the
    labels), set sigma's amplitude from the model's errors on its labelled structures; returns
    how many set it. None (the fit's leave-one-out amplitude stays) without a calibration set
    or with fewer than :data:`MIN_HELD_OUT` labelled structures in it (say, after failed labels)."""
    if not ctx.store.structure_ids("calibration"):
        return None
    ids, features = ctx.features("calibration")
    energy = ctx.labelled_energies(ids)
    rows = [i for i, sid in enumerate(ids) if sid in energy]
    if len(rows) < MIN_HELD_OUT:
        return None
    return model.calibrate_on_held_out(features[rows], np.array([energy[ids[i]] for i in rows]))


def fit_with_forces(ctx: CampaignContext, training: TrainingSet, hyper: KRRHyperparameters,
                    calibration_rows: np.ndarray | None) -> KernelRidgeEnergyForces:
    """The energy-and-force model (``model.kind: krr-forces``) on ``training``: its energies and
    ``model.force_directions`` random projections of the forces of each structure whose label has
    forces. A structure's directions depend only on its id, so every refit sees the same ones."""
    settings = ctx.settings.model
    forces = ctx.labelled_forces(training.ids)
    rows = [i for i, sid in enumerate(training.ids) if sid in forces]
    chosen = [training.ids[i] for i in rows]
    jacobians = (ctx.descriptor.create_with_derivatives(atoms)[1] for atoms in ctx.store.structures(chosen))
    observations = force_observations(jacobians, [forces[sid] for sid in chosen], settings.force_directions,
                                      keys=chosen, n_features=training.x.shape[1])
    observations.rows = np.asarray(rows, dtype=np.intp)[observations.rows]
    forces_hyper = KRRForcesHyperparameters(alpha=hyper.alpha, gamma=hyper.gamma, force_alpha=settings.force_alpha,
                                            directions=settings.force_directions)
    return KernelRidgeEnergyForces(forces_hyper).fit(training.x, training.y, observations,
                                                     calibration_rows=calibration_rows)


def hyperparameters_for(settings: CampaignSettings, x: np.ndarray, y: np.ndarray,
                        seed: int = 0) -> tuple[KRRHyperparameters, TuningResult | None]:
    """The campaign's (alpha, gamma), or, with ``model.tune``, BOSS-tuned ones by k-fold
    cross-validation starting from them."""
    model = settings.model
    hyper = KRRHyperparameters(alpha=model.alpha, gamma=model.gamma)
    if not model.tune:
        return hyper, None
    tuning = tune_krr(x, y, default=hyper, default_sigma=settings.descriptor.sigma, folds=model.tune_folds,
                      iterpts=model.tune_iterations, seed=seed, max_points=model.tune_max_points)
    return tuning.hyperparameters, tuning


def initial_training_set(ctx: CampaignContext, batches: list[list[str]]) -> TrainingSet:
    """The labelled structures of ``batches`` with their pool features."""
    wanted = [sid for chosen in batches for sid in chosen]
    energy = ctx.labelled_energies(wanted)
    ids = [sid for sid in wanted if sid in energy]
    pool_ids, pool_features = ctx.features("pool")
    row = {sid: i for i, sid in enumerate(pool_ids)}
    return TrainingSet(ids, pool_features[[row[sid] for sid in ids]], np.array([energy[sid] for sid in ids]))


def fit_initial_batch(ctx: CampaignContext, batches: list[list[str]], batch: int) -> int:
    """Fit on the labelled structures of ``batches`` (batches 0..batch), tuned when the
    campaign asks for it; stored as ``initial/batch-<batch>``."""
    training = initial_training_set(ctx, batches)
    if not training.ids:
        raise ValueError(f"no labelled structure in batches 0..{batch}: every label failed (see the failed labels "
                         "of `perovflow status`)")
    hyper, tuning = hyperparameters_for(ctx.settings, training.x, training.y, seed=batch)
    return fit_and_test(ctx, training, hyper, initial_model_tag(batch), {"stage": "initial", "batch": batch},
                        tuning=tuning)


def another_batch(ctx: CampaignContext, batch: int, n_batches: int) -> bool:
    """Another batch unless batches are used up or the test MAE stopped improving."""
    if batch + 1 >= n_batches:
        return False
    plateau = ctx.settings.selection.plateau_mev
    if plateau <= 0 or batch == 0:
        return True
    curve = {m.get("tag"): m["metrics"]["test_energy_mae_mev_per_atom"] for m in ctx.store.models()}
    return curve[initial_model_tag(batch - 1)] - curve[initial_model_tag(batch)] >= plateau


def snapshot_features(ctx: CampaignContext, ids: list[str], chunk: int) -> dict[str, np.ndarray]:
    """MBTR rows of snapshots, computing (and storing, as chunk ``chunk``) those not stored yet."""
    store, descriptor = ctx.store, ctx.descriptor
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


def fit_with_snapshots(ctx: CampaignContext, snapshot_ids: list[str], tag: str, meta: dict[str, Any],
                       chunk: int) -> int:
    """Fit on the initial model's training set plus the labelled ``snapshot_ids``, with the
    initial stage's (possibly tuned) hyperparameters; stored under ``tag``."""
    store = ctx.store
    existing = [m for m in store.models() if m.get("tag") == tag]
    if existing:
        return existing[0]["version"]
    _, initial_meta = ctx.model(store.latest_model_tag("initial"))
    initial_ids = list(initial_meta["training_ids"])
    energies = ctx.labelled_energies(initial_ids + snapshot_ids)
    initial_ids = [sid for sid in initial_ids if sid in energies]
    snapshot_ids = [sid for sid in snapshot_ids if sid in energies]
    pool_ids, pool_features = ctx.features("pool")
    row = {sid: i for i, sid in enumerate(pool_ids)}
    snap = snapshot_features(ctx, snapshot_ids, chunk) if snapshot_ids else {}
    x = np.vstack([pool_features[[row[s] for s in initial_ids]],
                   *([np.array([snap[s] for s in snapshot_ids])] if snapshot_ids else [])])
    ids = initial_ids + snapshot_ids
    training = TrainingSet(ids, x, np.array([energies[s] for s in ids]), n_calibration=len(initial_ids))
    tuned = initial_meta.get("hyperparameters") or {}
    hyper = KRRHyperparameters(alpha=float(tuned.get("alpha", ctx.settings.model.alpha)),
                               gamma=float(tuned.get("gamma", ctx.settings.model.gamma)))
    return fit_and_test(ctx, training, hyper, tag, {"batch": None, **meta},
                        metrics={"n_initial": len(initial_ids), "n_snapshots": len(snapshot_ids)})
