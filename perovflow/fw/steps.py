"""The initial-dataset steps on top of the store: what each FireTask does, without FireWorks."""
from __future__ import annotations

import time

import numpy as np
from ase import Atoms

from perovflow.config import Campaign
from perovflow.db.store import Store
from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.models.saved import model_record
from perovflow.selection.kmeans import batches_one_per_cluster

EV_TO_MEV = 1000.0


def perovskite_system(campaign: Campaign):
    from perovflow.structures import PerovskiteSystem

    system = campaign.system
    return PerovskiteSystem(a=system["a"], b=system["b"], x=tuple(system["x"]),
                            lattice_constants=system["lattice_constants"])


def generate_structures(campaign: Campaign) -> dict[str, list[Atoms]]:
    from perovflow.structures import generate_pool, generate_test_set

    system = perovskite_system(campaign)
    pool = campaign.pool
    return {
        "pool": generate_pool(system, phases=tuple(campaign.phases),
                              per_composition=pool["per_composition"], seed=pool["seed"]),
        "test": generate_test_set(system, phases=tuple(campaign.phases),
                                  per_composition=pool["test_per_composition"], seed=pool["seed"]),
    }


def role_sizes(campaign: Campaign) -> dict[str, int]:
    """How many pool and test structures the campaign generates (known before generating)."""
    from perovflow.structures import enumerate_compositions

    cells = len(enumerate_compositions(perovskite_system(campaign))) * len(campaign.phases)
    return {"pool": cells * campaign.pool["per_composition"],
            "test": cells * campaign.pool["test_per_composition"]}


def descriptor_for(campaign: Campaign) -> MBTRDescriptor:
    options = {k: v for k, v in campaign.descriptor.items()}
    return MBTRDescriptor(MBTRSettings(species=campaign.species, **options))


def select_batches(features: np.ndarray, campaign: Campaign) -> tuple[np.ndarray, list[list[int]], dict]:
    """Cluster the pool with the campaign's method and size bounds, then one structure per
    cluster per batch. Returns labels, batches (row indices) and the clustering's facts."""
    from perovflow.selection import SIZE_BOUNDED, cluster

    selection = campaign.selection
    bounded = selection["method"] in SIZE_BOUNDED
    result = cluster(features, selection["clusters"], method=selection["method"],
                     min_size=selection["min_size"] if bounded else None,
                     max_size=selection["max_size"] if bounded else None, seed=selection["seed"])
    labels = np.asarray(result.labels)
    return labels, batches_one_per_cluster(labels, selection["batches"], seed=selection["seed"]), {
        "objective": float(result.objective), "sizes_min": int(result.sizes.min()),
        "sizes_max": int(result.sizes.max()), "n_iter": int(result.n_iter)}


def _rows(ids: list[str], all_ids: list[str], features: np.ndarray) -> np.ndarray:
    index = {sid: row for row, sid in enumerate(all_ids)}
    return features[[index[sid] for sid in ids]]


def label_structures(store: Store, engine, structure_ids: list[str],
                     fw_id: int | None = None) -> tuple[int, int, list[str]]:
    """Single-point labels of ``structure_ids`` into the store, skipping what the engine
    (with these settings) already labelled. A failure is stored as a ``failed`` calculation
    with its reason and the loop goes on. Returns (labelled, reused, failure messages)."""
    import os
    import socket

    worker = f"{socket.gethostname()}:{os.getpid()}"
    done, reused, failures = 0, 0, []
    for sid in structure_ids:
        if store.find_calculation(sid, engine.name, engine.settings_hash) is not None:
            reused += 1
            continue
        atoms = store.structures([sid])[0]
        try:
            label = engine.single_point(atoms)
        except Exception as exc:
            failures.append(f"{sid}: {exc}")
            store.add_calculation(sid, engine.name, engine.settings_hash,
                                  {"reason": str(exc), "worker": worker, "is_dft": engine.is_dft},
                                  status="failed", fw_id=fw_id)
            continue
        result = label.as_dict()
        result.update({"settings": engine.settings, "worker": worker})
        store.add_calculation(sid, engine.name, engine.settings_hash, result, fw_id=fw_id)
        done += 1
    return done, reused, failures


def fit_and_evaluate(store: Store, campaign: Campaign, batches: list[list[str]], batch: int) -> int:
    """Fit KRR on the labelled structures of ``batches``, test it, store it as version batch+1."""
    from perovflow.engines import make_engine

    engine = make_engine(campaign.labelling["engine"], **campaign.labelling["options"])
    descriptor_hash = descriptor_for(campaign).settings.hash
    wanted = [sid for chosen in batches for sid in chosen]
    train_energy = store.energies(wanted, engine.name, engine.settings_hash)
    train_ids = [sid for sid in wanted if sid in train_energy]
    pool_ids, pool_features = store.load_features(descriptor_hash, "pool")
    test_ids, test_features = store.load_features(descriptor_hash, "test")
    test_energy = store.energies(test_ids, engine.name, engine.settings_hash)
    labelled_test = [i for i, sid in enumerate(test_ids) if sid in test_energy]

    x_train = _rows(train_ids, pool_ids, pool_features)
    y_train = np.array([train_energy[s] for s in train_ids])
    hyper, tuning = hyperparameters_for(campaign, x_train, y_train, seed=batch)
    start = time.perf_counter()
    model = KernelRidgeEnergy(hyper).fit(x_train, y_train)
    fit_seconds = time.perf_counter() - start
    predicted = model.predict(test_features[labelled_test])
    reference = np.array([test_energy[test_ids[i]] for i in labelled_test])
    errors = (predicted - reference) * EV_TO_MEV
    metrics = {
        "test_energy_mae_mev_per_atom": float(np.abs(errors).mean()),
        "test_energy_rmse_mev_per_atom": float(np.sqrt((errors ** 2).mean())),
        "n_test": len(labelled_test),
        "n_train": len(train_ids),
        "fit_seconds": fit_seconds,
    }
    arrays, meta = model_record(
        model, descriptor_for(campaign).settings, metrics=metrics, tuning=tuning, training_ids=train_ids,
        extra={"stage": "initial", "batch": batch, "engine": engine.name,
               "engine_settings_hash": engine.settings_hash, "is_dft": engine.is_dft, "training_ids": train_ids})
    return store.save_model(arrays, meta, version=batch + 1)


def hyperparameters_for(campaign: Campaign, x: np.ndarray, y: np.ndarray, seed: int = 0):
    """The campaign's (alpha, gamma), or, with ``model.tune``, BOSS-tuned ones by k-fold
    cross-validation starting from them; returns (hyperparameters, tuning record or None)."""
    hyper = KRRHyperparameters(alpha=campaign.model["alpha"], gamma=campaign.model["gamma"])
    if not campaign.model["tune"]:
        return hyper, None
    from perovflow.models.tuning import tune_krr

    model = campaign.model
    tuning = tune_krr(x, y, default=hyper, default_sigma=campaign.descriptor["sigma"], folds=model["tune_folds"],
                      iterpts=model["tune_iterations"], seed=seed, max_points=model["tune_max_points"])
    return tuning.hyperparameters, tuning


def should_continue(store: Store, campaign: Campaign, batch: int, n_batches: int) -> bool:
    """Another batch unless batches are used up or the test MAE stopped improving."""
    if batch + 1 >= n_batches:
        return False
    plateau = campaign.selection["plateau_mev"]
    if plateau <= 0 or batch == 0:
        return True
    curve = {m["version"]: m["metrics"]["test_energy_mae_mev_per_atom"] for m in store.models()}
    return curve[batch] - curve[batch + 1] >= plateau
