"""The initial dataset (Homm et al. 2025, section II): generate the pool and the test set,
featurize them in chunks, cluster the pool into batches of one structure per cluster, and
label each batch; the fits that follow are in :mod:`perovflow.campaign.fitting`."""
from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

import numpy as np

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.fitting import another_batch, fit_initial_batch
from perovflow.campaign.next import Job, Next, fan_in, waiting_for
from perovflow.campaign.relaxation_test import prepare_relaxation_test, relaxation_test_jobs
from perovflow.engines import Engine
from perovflow.provenance import provenance
from perovflow.selection import batches_one_per_cluster, cluster
from perovflow.settings import CampaignSettings
from perovflow.store.store import Store
from perovflow.structures import generate_calibration_set, generate_pool, generate_test_set


def first_jobs(settings: CampaignSettings) -> Next:
    """What a submitted campaign starts with: generate -> featurize chunks (parallel) -> select.
    With imported labels the pool is read from the store first; its size, and so the
    featurize chunks, are known only then (:func:`perovflow.campaign.imported.imported_pool`)."""
    name = settings.name
    if settings.labelling.engine == "imported":
        return Next(jobs=(Job("generate", "imported_pool", name=f"{name}: pool from imported labels"),))
    generate = Job("generate", "generate", name=f"{name}: generate pool")
    return Next(jobs=(generate, *featurize_and_select(settings, settings.pool_sizes(), after=("generate",))))


def featurize_and_select(settings: CampaignSettings, sizes: dict[str, int], after: tuple[str, ...] = ()) -> list[Job]:
    """Featurize jobs for every chunk of each role's ``sizes`` (in parallel), then select."""
    name, chunk_size = settings.name, settings.pool.chunk_size
    featurize = []
    for role, size in sizes.items():
        for chunk in range(math.ceil(size / chunk_size)):
            start = chunk * chunk_size
            featurize.append(Job(f"featurize-{role}-{chunk}", "featurize",
                                 {"role": role, "chunk": chunk, "start": start,
                                  "stop": min(size, start + chunk_size)},
                                 name=f"{name}: featurize {role} {chunk}", after=after))
    return [*featurize, waiting_for(Job("select", "select", name=f"{name}: select"), featurize)]


def generate(ctx: CampaignContext) -> Next:
    """Generate the structure pool, the held-out test set and, when the campaign has one, the
    calibration set into the store."""
    settings, store = ctx.settings, ctx.store
    store.ensure_indexes()
    if store.stored_settings() is None:  # added with `lpad add` rather than `perovflow submit`
        store.save_settings(settings.as_dict())
    phases = tuple(settings.phases)
    structures = {
        "pool": generate_pool(ctx.system, phases=phases, per_composition=settings.pool.per_composition,
                              seed=settings.pool.seed),
        "test": generate_test_set(ctx.system, phases=phases, per_composition=settings.pool.test_per_composition,
                                  seed=settings.pool.seed),
    }
    if settings.pool.calibration_structures:
        structures["calibration"] = generate_calibration_set(
            ctx.system, phases=phases, size=settings.pool.calibration_structures, seed=settings.pool.seed)
    return Next(record={role: len(store.add_structures(atoms, role=role)) for role, atoms in structures.items()})


def featurize(ctx: CampaignContext, role: str, chunk: int, start: int, stop: int) -> Next:
    """MBTR features of one chunk of a role's structures, stored once per descriptor."""
    store, settings = ctx.store, ctx.descriptor.settings
    if store.has_features(settings.hash, role, chunk):
        return Next(record={"reused": True})
    ids = store.structure_ids(role)[start:stop]
    matrix = ctx.descriptor.create(store.structures(ids))
    store.save_features(settings.hash, role, chunk, ids, matrix, settings.as_dict())
    return Next(record={"n": len(ids)})


def cluster_batches(features: np.ndarray, settings: CampaignSettings) -> tuple[np.ndarray, list[list[int]], dict]:
    """Cluster the pool with the campaign's method and size bounds, then one structure per
    cluster per batch. Returns labels, batches (row indices) and the clustering's facts."""
    selection = settings.selection
    bounded = selection.size_bounded
    result = cluster(features, selection.clusters, method=selection.method,
                     min_size=selection.min_size if bounded else None,
                     max_size=selection.max_size if bounded else None, seed=selection.seed)
    labels = np.asarray(result.labels)
    return labels, batches_one_per_cluster(labels, selection.batches, seed=selection.seed), {
        "objective": float(result.objective), "sizes_min": int(result.sizes.min()),
        "sizes_max": int(result.sizes.max()), "n_iter": int(result.n_iter)}


def select(ctx: CampaignContext) -> Next:
    """Cluster the pool and fix the batches (stored once), then label the test set, the
    calibration set (if any) and the first batch, and fit."""
    store = ctx.store
    selection = store.selection("initial")
    if selection is None:
        ids, features = ctx.features("pool")
        start = time.perf_counter()
        labels, batches, facts = cluster_batches(features, ctx.settings)
        store.save_selection("initial", {
            "method": ctx.settings.selection.method, "clusters": int(labels.max()) + 1, **facts,
            "cluster_of": {ids[i]: int(c) for i, c in enumerate(labels)},
            "batches": [[ids[i] for i in batch] for batch in batches],
            "seconds": time.perf_counter() - start,
        })
        selection = store.selection("initial")
    held_out = store.structure_ids("test") + store.structure_ids("calibration")
    return batch_jobs(ctx.settings, selection["batches"][0], 0, extra_label_ids=held_out)


def batch_jobs(settings: CampaignSettings, batch_ids: list[str], batch: int,
               extra_label_ids: list[str] | None = None) -> Next:
    """Labelling jobs for one batch (plus extra ids, e.g. the test set) and the fit after them;
    a label that failed for good does not stop the fit."""
    group = settings.labelling.group_size
    ids = list(batch_ids) + list(extra_label_ids or [])
    labels = [Job(f"label-{i // group}", "label", {"structure_ids": ids[i:i + group]},
                  name=f"{settings.name}: label b{batch} {i // group}", optional=True)
              for i in range(0, len(ids), group)]
    fit = Job("fit", "fit", {"batch": batch}, name=f"{settings.name}: fit batch {batch}", tolerate_failed=True)
    return fan_in(labels, fit)


class LabelsFailed(RuntimeError):
    """Some labels of a job failed for good (each is stored as a failed calculation)."""


def label_structures(store: Store, engine: Engine, structure_ids: list[str], fw_id: int | None = None,
                     max_attempts: int = 3) -> tuple[int, int, list[str]]:
    """Single-point labels of ``structure_ids`` into the store, skipping what the engine
    (with these settings) already labelled. A failure is stored as a ``failed`` calculation
    with its reason and the loop goes on; the next run tries a failed label again, until it
    has failed ``max_attempts`` times (then it is failed for good and skipped).
    Returns (labelled, reused, failure messages of this run)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    done, reused, failures = 0, 0, []
    for sid in structure_ids:
        existing = store.find_calculation(sid, engine.name, engine.settings_hash)
        if existing is not None and existing["status"] == "completed":
            reused += 1
            continue
        if existing is not None and existing.get("n_attempts", 1) >= max_attempts:
            continue  # failed for good: the fits go on without it
        atoms = store.structures([sid])[0]
        try:
            label = engine.single_point(atoms)
        except Exception as exc:  # any engine failure becomes a stored, visible failed label
            failures.append(f"{sid}: {exc}")
            store.record_failed_label(sid, engine.name, engine.settings_hash, str(exc),
                                      {"worker": worker, "is_dft": engine.is_dft, "settings": engine.settings},
                                      max_attempts=max_attempts, fw_id=fw_id)
            continue
        result: dict[str, Any] = label.as_dict()
        result.update({"settings": engine.settings, "worker": worker})
        store.add_calculation(sid, engine.name, engine.settings_hash, result, fw_id=fw_id,
                              provenance=provenance(fw_id, label.program_version))
        done += 1
    return done, reused, failures


def label(ctx: CampaignContext, structure_ids: list[str]) -> Next:
    """Label structures with the campaign's engine; fails (after storing every label it
    could make) when some failed."""
    done, reused, failures = label_structures(ctx.store, ctx.engine, structure_ids, fw_id=ctx.fw_id,
                                              max_attempts=ctx.settings.labelling.max_attempts)
    if failures:
        raise LabelsFailed(f"{len(failures)} label(s) failed: " + "; ".join(failures[:5]))
    return Next(record={"labelled": done, "reused": reused})


def fit(ctx: CampaignContext, batch: int) -> Next:
    """Fit on batches 0..batch and test; then the next batch, or, after the last one, the
    relaxation test that opens active learning (when the campaign has it)."""
    selection = ctx.store.selection("initial")
    batches = selection["batches"]
    version = fit_initial_batch(ctx, batches[: batch + 1], batch)
    if another_batch(ctx, batch, len(batches)):
        following = batch_jobs(ctx.settings, batches[batch + 1], batch + 1)
        return Next(following.jobs, record={"model_version": version})
    record = {"model_version": version, "last_batch": True}
    if not ctx.settings.active.enabled:
        return Next(record=record)
    return Next(relaxation_test_jobs(ctx, prepare_relaxation_test(ctx)).jobs, record=record)
