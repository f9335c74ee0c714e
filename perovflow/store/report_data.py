"""Everything the campaign report shows, read from the database into plain values (the page
and its figures are made from these by :mod:`perovflow.analysis.report_page`, which never
touches the database)."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from ase.formula import Formula
from pymongo.database import Database

from perovflow.analysis.parity import Parity, parity_on_test_set
from perovflow.analysis.report_content import ReportData, SelectionMap
from perovflow.analysis.selection import selection_overview
from perovflow.analysis.summary import campaign_labels, summary
from perovflow.models.saved import model_from_record
from perovflow.provenance import process_provenance
from perovflow.store.store import Store, campaign_names
from perovflow.structures.system import ALLOWED_X

Progress = Callable[[str], None]


class UnknownCampaign(LookupError):
    """The database holds no campaign of that name."""


def check_campaign(db: Database, campaign: str) -> None:
    known = campaign_names(db)
    if campaign not in known:
        listed = ", ".join(known) if known else "none"
        raise UnknownCampaign(f"campaign {campaign!r} is not in database {db.name!r} (campaigns there: {listed})")


def read_report_data(db: Database, campaign: str, progress: Progress | None = None,
                     max_force_structures: int = 400) -> ReportData:
    """What the report shows; ``progress`` gets one line per step; forces are predicted for at
    most ``max_force_structures`` test structures (analytic MBTR derivatives, ~10 ms each)."""
    say = progress or (lambda message: None)
    check_campaign(db, campaign)
    store = Store(db, campaign)
    say("reading the campaign summary")
    info = summary(db, campaign)
    halides = _halides(store)
    notes: list[str] = []
    model, parity = _parity(store, say, max_force_structures, notes)
    say("reading the relaxation tests")
    mixing, mixing_source = _mixing(store, halides)
    say("reading the initial selection")
    overview = selection_overview(db, campaign)
    selection_map = _selection_map(store, model)
    say("reading failed calculations and provenance")
    labels = campaign_labels(db, campaign, {"structure_id": 1, "engine": 1, "status": 1, "kind": 1, "purpose": 1,
                                            "reason": 1, "n_attempts": 1, "failed_for_good": 1, "seconds": 1,
                                            "provenance": 1, "worker": 1, "is_dft": 1})
    return ReportData(
        campaign=campaign, database=db.name, generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        generator=process_provenance(), info=info, halides=halides, model=model, parity=parity, mixing=mixing,
        mixing_source=mixing_source, selection=overview, selection_map=selection_map,
        failed_labels=failed_labels(labels), failed_relaxations=failed_relaxations(store),
        provenance=provenance_overview(labels, store.trajectories()), notes=notes)


def _halides(store: Store) -> list[str]:
    """The campaign's halides in the order of its file, else in the periodic order."""
    stored = store.stored_settings() or {}
    given = (stored.get("system") or {}).get("x")
    if given:
        return list(given)
    species: set[str] = set()
    for formula in store.db.members.distinct("formula", {"campaign": store.campaign}):
        species.update(Formula(formula).count())
    return [x for x in ALLOWED_X if x in species]


def _parity(store: Store, say: Progress, max_force_structures: int,
            notes: list[str]) -> tuple[dict[str, Any] | None, Parity | None]:
    models = store.models()
    if not models:
        return None, None
    arrays, meta = store.load_model(version=models[-1]["version"])
    saved = model_from_record(arrays, meta)
    descriptor_hash = saved.descriptor_hash
    model = {"version": meta["version"], "tag": meta.get("tag"), "stage": meta.get("stage"),
             "n_train": len(meta.get("training_ids") or []) or meta.get("n_train"),
             "hyperparameters": meta.get("hyperparameters"), "engine": meta.get("engine"),
             "is_dft": meta.get("is_dft"), "metrics": meta.get("metrics") or {}, "descriptor_hash": descriptor_hash}
    try:
        test_ids, test_features = store.load_features(descriptor_hash, "test")
    except LookupError:
        notes.append("no test-set features stored: no parity plot")
        return model, None
    labels = store.labels(test_ids, meta.get("engine"), meta.get("engine_settings_hash"))
    rows = [i for i, sid in enumerate(test_ids) if sid in labels]
    with_forces = [test_ids[i] for i in rows if labels[test_ids[i]].get("forces") is not None]
    if len(with_forces) > max_force_structures:
        notes.append(f"force parity on the first {max_force_structures} of {len(with_forces)} test structures")
        with_forces = with_forces[:max_force_structures]
    say(f"predicting {len(rows)} test energies and the forces of {len(with_forces)} test structures "
        f"with model {model['tag']}")
    pairs = list(zip(store.structures(with_forces), (np.asarray(labels[s]["forces"]) for s in with_forces)))
    step = max(1, len(pairs) // 5)

    def forces_progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            say(f"  forces {done}/{total}")

    parity = parity_on_test_set(saved.model, _descriptor(saved), test_features[rows],
                                [labels[test_ids[i]]["energy_per_atom"] for i in rows], pairs, forces_progress)
    return model, parity


def _descriptor(saved):
    from perovflow.descriptors.mbtr import MBTRDescriptor  # DScribe: loaded when a model exists

    return MBTRDescriptor(saved.settings)


def _mixing(store: Store, halides: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The relaxation-test mixing enthalpies of the last iteration that has them (the final
    model's after pruning), each row with the halide fractions of its structure."""
    tested = [doc for doc in store.iterations() if ((doc.get("relaxation_test") or {}).get("mixing_enthalpies"))]
    if not tested:
        return [], None
    latest = tested[-1]
    test = latest["relaxation_test"]
    rows = [dict(row) for row in test["mixing_enthalpies"]]
    structures = dict(zip([r["structure_id"] for r in rows], store.structures([r["structure_id"] for r in rows])))
    for row in rows:
        atoms = structures.get(row["structure_id"])
        symbols = atoms.get_chemical_symbols() if atoms is not None else []
        counts = {h: symbols.count(h) for h in halides}
        total = sum(counts.values())
        row["fractions"] = {h: n / total for h, n in counts.items()} if total else None
    source = {"iteration": latest["iteration"], "stage": latest.get("stage"), "model_version": test.get("model_version"),
              "model_tag": test.get("model_tag")}
    return rows, source


def _selection_map(store: Store, model: dict[str, Any] | None) -> SelectionMap | None:
    """Pool features with each structure's cluster and whether a batch picked it (the
    features of the latest model's descriptor when the pool has several)."""
    selection = store.selection("initial")
    if selection is None:
        return None
    hashes = store.db.features.distinct("descriptor_hash", {"campaign": store.campaign, "role": "pool"})
    if not hashes:
        return None
    wanted = (model or {}).get("descriptor_hash")
    ids, features = store.load_features(wanted if wanted in hashes else sorted(hashes)[0], "pool")
    cluster_of = selection.get("cluster_of") or {}
    chosen = {sid for batch in selection.get("batches", []) for sid in batch}
    rows = [i for i, sid in enumerate(ids) if sid in cluster_of]
    return SelectionMap(features[rows], [int(cluster_of[ids[i]]) for i in rows], [ids[i] in chosen for i in rows])


def failed_labels(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every failed calculation of the campaign's structures with its reason and tries."""
    rows = [{"structure_id": doc["structure_id"], "engine": doc["engine"], "kind": doc.get("kind"),
             "purpose": doc.get("purpose"), "reason": doc.get("reason"), "attempts": doc.get("n_attempts"),
             "failed_for_good": bool(doc.get("failed_for_good")),
             "host": (doc.get("provenance") or {}).get("host")}
            for doc in labels if doc["status"] == "failed"]
    return sorted(rows, key=lambda row: (row["engine"], row["structure_id"]))


def failed_relaxations(store: Store) -> list[dict[str, Any]]:
    """Engine relaxations (relaxation test, active learning) whose engine raised, with the reason."""
    return [{"key": doc["key"], "purpose": doc.get("purpose"), "iteration": doc.get("iteration"),
             "phase": doc.get("phase"), "engine": doc.get("engine"), "reason": doc["failed"],
             "corrections": len(doc.get("corrections") or [])}
            for doc in store.trajectories(failed={"$exists": True, "$ne": None})]


def provenance_overview(labels: list[dict[str, Any]], trajectories: list[dict[str, Any]]) -> dict[str, Any]:
    """Per engine: labels by status, seconds of single points and of engine relaxations (a
    relaxation's steps record none of their own: its trajectory has the time), hosts, engine
    program versions, labels with provenance and with a Firework id; the distinct sets of
    code versions with counts."""
    engines: dict[str, dict[str, Any]] = defaultdict(lambda: {"completed": 0, "failed": 0, "seconds": 0.0,
                                                              "relaxation_seconds": 0.0,
                                                              "hosts": set(), "program_versions": set(),
                                                              "with_provenance": 0, "with_fw_id": 0,
                                                              "is_dft": set()})
    versions: Counter = Counter()
    for doc in labels:
        row = engines[doc["engine"]]
        row[doc["status"]] = row.get(doc["status"], 0) + 1
        row["seconds"] += float(doc.get("seconds") or 0.0)
        row["is_dft"].add(bool(doc.get("is_dft")))
        made = doc.get("provenance") or {}
        if made:
            row["with_provenance"] += 1
            row["hosts"].add(made.get("host"))
            if made.get("program_version"):
                row["program_versions"].add(made["program_version"])
            if made.get("fw_id") is not None:
                row["with_fw_id"] += 1
            versions[json.dumps(made.get("versions") or {}, sort_keys=True)] += 1
    for trajectory in trajectories:
        if trajectory.get("engine"):
            engines[trajectory["engine"]]["relaxation_seconds"] += float(trajectory.get("seconds") or 0.0)
    return {
        "engines": {name: {**row, "hosts": sorted(h for h in row["hosts"] if h),
                           "program_versions": sorted(row["program_versions"]), "is_dft": sorted(row["is_dft"])}
                    for name, row in sorted(engines.items())},
        "versions": [{"versions": json.loads(key), "labels": n} for key, n in versions.most_common()],
    }
