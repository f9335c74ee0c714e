"""The campaign store: structures, calculations, features, models and AL iterations.

Plain pymongo on any MongoDB-protocol server. Arrays travel as ``.npy``/``.npz`` in GridFS
(loaded with ``allow_pickle=False``), metadata as plain documents, so a user can query
everything with pymongo and nothing loaded from the database can execute code.
The schema is documented in ``docs/schema.md``.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any, Iterable

import gridfs
import numpy as np
from ase import Atoms
from pymongo import ASCENDING, DESCENDING, MongoClient, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from perovflow.models.saved import DescriptorMismatch, check_descriptor
from perovflow.provenance import provenance as make_provenance
from perovflow.structures.fractions import FRACTION_FIELDS, halide_fractions
from perovflow.structures.identity import structure_id

# documents that belong to one campaign (they carry its name); structures and calculations
# are shared by content between campaigns, and ``members`` says which campaign has which
COLLECTIONS = ("members", "features", "models", "selections", "al_iterations", "trajectories", "campaigns",
               "ml_relaxations")
# what a structure says about itself that its calculations repeat, so that label queries
# by phase and composition region need no $lookup (docs/queries.md)
QUERY_FIELDS = ("phase", "composition", *FRACTION_FIELDS)
# one document per database: which one-off data migrations have run (the backfill scans
# every structure and calculation, 2.4 s per 20k documents, so it should run once, not at
# every submit)
MIGRATIONS = "perovflow_migrations"
QUERY_FIELDS_MIGRATION = "query_fields_v1"


def atoms_to_doc(atoms: Atoms) -> dict[str, Any]:
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "cell": np.asarray(atoms.cell).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
    }


def doc_to_atoms(doc: dict[str, Any]) -> Atoms:
    atoms = doc["atoms"] if "atoms" in doc else doc
    result = Atoms(
        numbers=atoms["numbers"], positions=atoms["positions"], cell=atoms["cell"],
        pbc=atoms["pbc"],
    )
    for key in ("phase", "composition", "role", "pool_index"):
        if key in doc:
            result.info[key] = doc[key]
    if "_id" in doc:
        result.info["structure_id"] = doc["_id"]
    return result


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _npz_load(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def campaign_names(db: Database) -> list[str]:
    """Campaigns that stored anything in ``db`` (structures, models or settings)."""
    return sorted({*db.members.distinct("campaign"), *db.models.distinct("campaign"),
                   *db.campaigns.distinct("campaign")})


class Store:
    """One campaign's view of a database (several campaigns may share a database)."""

    def __init__(self, db: Database, campaign: str):
        self.db = db
        self.campaign = campaign
        self.feature_files = gridfs.GridFS(db, collection="feature_files")
        self.model_files = gridfs.GridFS(db, collection="model_files")

    @classmethod
    def connect(cls, uri: str, database: str, campaign: str) -> "Store":
        client = MongoClient(uri, serverSelectionTimeoutMS=20000, tz_aware=True)
        return cls(client[database], campaign)

    def ensure_indexes(self) -> None:
        db = self.db
        db.structures.create_index([("campaign", ASCENDING), ("role", ASCENDING), ("pool_index", ASCENDING)])
        db.members.create_index([("campaign", ASCENDING), ("role", ASCENDING), ("pool_index", ASCENDING)])
        db.members.create_index([("campaign", ASCENDING), ("structure_id", ASCENDING)],
                                unique=True, name="one_membership_per_campaign")
        db.campaigns.create_index([("campaign", ASCENDING)], unique=True)
        db.calculations.create_index(
            [("structure_id", ASCENDING), ("engine", ASCENDING), ("settings_hash", ASCENDING)],
            unique=True, name="one_label_per_structure_engine_settings",
        )
        db.calculations.create_index([("campaign", ASCENDING), ("status", ASCENDING)])
        db.features.create_index(
            [("campaign", ASCENDING), ("descriptor_hash", ASCENDING), ("role", ASCENDING), ("chunk", ASCENDING)],
            unique=True, name="one_chunk_per_descriptor",
        )
        db.models.create_index([("campaign", ASCENDING), ("version", ASCENDING)], unique=True)
        db.models.create_index([("campaign", ASCENDING), ("tag", ASCENDING)], unique=True)
        db.selections.create_index([("campaign", ASCENDING), ("name", ASCENDING)], unique=True)
        db.al_iterations.create_index([("campaign", ASCENDING), ("iteration", ASCENDING)], unique=True)
        db.trajectories.create_index([("campaign", ASCENDING), ("key", ASCENDING)], unique=True)
        for collection in (db.structures, db.calculations):
            collection.create_index([("phase", ASCENDING)])
            for name in FRACTION_FIELDS:
                collection.create_index([(name, ASCENDING)])
        db.calculations.create_index([("engine", ASCENDING), ("status", ASCENDING)])
        db.ml_relaxations.create_index([("campaign", ASCENDING), ("key", ASCENDING)], unique=True)
        if db[MIGRATIONS].find_one({"_id": QUERY_FIELDS_MIGRATION}) is None:
            counts = self.backfill_query_fields()
            # written only after the backfill finished: a crash in between reruns it
            db[MIGRATIONS].update_one({"_id": QUERY_FIELDS_MIGRATION},
                                      {"$setOnInsert": {"done": _now(), "counts": counts}}, upsert=True)

    def backfill_query_fields(self) -> dict[str, int]:
        """Give documents stored before the query fields existed their halide fractions
        (structures) and their structure's :data:`QUERY_FIELDS` (calculations). Only
        documents without ``x_Cl`` are touched, so running it again changes nothing. The first
        :meth:`ensure_indexes` (submit, generate, import) on a database runs it and records
        that in :data:`MIGRATIONS`. Returns the counts."""
        done = {"structures": 0, "calculations": 0}
        missing = {FRACTION_FIELDS[1]: {"$exists": False}}
        operations = [UpdateOne({"_id": doc["_id"]}, {"$set": halide_fractions(doc["atoms"]["numbers"])})
                      for doc in self.db.structures.find(missing, {"atoms.numbers": 1})]
        for start in range(0, len(operations), 1000):
            done["structures"] += self.db.structures.bulk_write(operations[start:start + 1000],
                                                                ordered=False).modified_count
        calculations = list(self.db.calculations.find(missing, {"structure_id": 1}))
        for start in range(0, len(calculations), 1000):
            chunk = calculations[start:start + 1000]
            fields = self._query_fields([doc["structure_id"] for doc in chunk])
            operations = [UpdateOne({"_id": doc["_id"]},
                                    {"$set": fields.get(doc["structure_id"], dict.fromkeys(QUERY_FIELDS))})
                          for doc in chunk]
            done["calculations"] += self.db.calculations.bulk_write(operations, ordered=False).modified_count
        return done

    def _query_fields(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """:data:`QUERY_FIELDS` of stored structures by id (``None`` where one lacks a field)."""
        projection = {name: 1 for name in QUERY_FIELDS} | {"atoms.numbers": 1}
        result = {}
        for doc in self.db.structures.find({"_id": {"$in": list(ids)}}, projection):
            fields = {name: doc.get(name) for name in QUERY_FIELDS}
            if FRACTION_FIELDS[1] not in doc:  # stored before the fields existed
                fields.update(halide_fractions(doc["atoms"]["numbers"]))
            result[doc["_id"]] = fields
        return result

    # structures -------------------------------------------------------------
    def add_structures(self, structures: Iterable[Atoms], role: str, parent: str | None = None) -> list[str]:
        """Insert structures and make them members of this campaign with ``role`` (idempotent).

        A structure is stored once by content (``_id``, the content hash), whichever
        campaign stored it first; ``members`` records each campaign's own role (the first it
        was stored with), index and parent, so campaigns with the same pool read, count and
        delete only their own."""
        ids, operations, memberships = [], [], []
        for atoms in structures:
            sid = structure_id(atoms)
            ids.append(sid)
            info = {"phase": atoms.info.get("phase"), "composition": atoms.info.get("composition"),
                    "pool_index": atoms.info.get("pool_index"), "parent": parent}
            doc = {"campaign": self.campaign, "role": role, "atoms": atoms_to_doc(atoms), "n_atoms": len(atoms),
                   "formula": atoms.get_chemical_formula(), **info, **halide_fractions(atoms.numbers),
                   "created": _now()}
            operations.append(UpdateOne({"_id": sid}, {"$setOnInsert": doc}, upsert=True))
            memberships.append(UpdateOne({"campaign": self.campaign, "structure_id": sid},
                                         {"$setOnInsert": {"role": role, **info, "formula": doc["formula"],
                                                           "created": _now()}},
                                         upsert=True))
        for start in range(0, len(operations), 1000):
            self.db.structures.bulk_write(operations[start:start + 1000], ordered=False)
            self.db.members.bulk_write(memberships[start:start + 1000], ordered=False)
        return ids

    def structures(self, ids: Iterable[str]) -> list[Atoms]:
        """Structures by id, with this campaign's role, phase and index where it has them."""
        ids = list(ids)
        by_id = {doc["_id"]: doc for doc in self.db.structures.find({"_id": {"$in": ids}})}
        missing = [sid for sid in ids if sid not in by_id]
        if missing:
            raise KeyError(f"structures not in the store: {missing[:5]}")
        own = {m["structure_id"]: m for m in self.db.members.find(
            {"campaign": self.campaign, "structure_id": {"$in": ids}}, {"_id": 0, "created": 0})}
        result = []
        for sid in ids:
            doc = dict(by_id[sid])
            member = own.get(sid)
            if member is not None:
                doc.update({key: member[key] for key in ("role", "phase", "composition", "pool_index", "parent")
                            if key in member})
            result.append(doc_to_atoms(doc))
        return result

    def structure_ids(self, role: str) -> list[str]:
        cursor = self.db.members.find(
            {"campaign": self.campaign, "role": role}, {"structure_id": 1}
        ).sort("pool_index", ASCENDING)
        return [doc["structure_id"] for doc in cursor]

    def set_member_roles(self, ids: list[str], role: str) -> None:
        """Make ``ids`` (members of this campaign) have ``role``, indexed in the given order;
        for a pool read from stored structures (their first role may have been another)."""
        operations = [UpdateOne({"campaign": self.campaign, "structure_id": sid},
                                {"$set": {"role": role, "pool_index": index}}) for index, sid in enumerate(ids)]
        for start in range(0, len(operations), 1000):
            self.db.members.bulk_write(operations[start:start + 1000], ordered=False)

    def label_set(self, engine: str, settings_hash: str) -> list[dict]:
        """Completed labels of one engine and settings (e.g. an imported label set) as
        ``structure_id``, ``is_dft``, ``source`` and ``role``: the structure's role in the
        campaign that stored the label."""
        docs = list(self.db.calculations.find(
            {"engine": engine, "settings_hash": settings_hash, "status": "completed"},
            {"_id": 0, "structure_id": 1, "is_dft": 1, "source": 1, "campaign": 1}))
        roles: dict[tuple[str, str], str] = {}
        for campaign in {doc.get("campaign") for doc in docs}:
            ids = [doc["structure_id"] for doc in docs if doc.get("campaign") == campaign]
            for start in range(0, len(ids), 10_000):
                for member in self.db.members.find({"campaign": campaign, "structure_id": {"$in": ids[start:start + 10_000]}},
                                                   {"structure_id": 1, "role": 1}):
                    roles[campaign, member["structure_id"]] = member.get("role")
        for doc in docs:
            doc["role"] = roles.get((doc.get("campaign"), doc["structure_id"]))
        return docs

    def member_ids(self) -> list[str]:
        """Every structure this campaign stored, in any role."""
        return list(self.db.members.distinct("structure_id", {"campaign": self.campaign}))

    def delete_campaign(self) -> dict[str, int]:
        """Delete everything of this campaign and nothing of another: its own documents and
        files, its memberships, and the structures and labels no other campaign is a member
        of. Safe to run again after a crash half-way (it starts from what is left)."""
        ids = self.member_ids()
        shared: set[str] = set()
        for start in range(0, len(ids), 10_000):
            chunk = ids[start:start + 10_000]
            shared.update(self.db.members.distinct(
                "structure_id", {"structure_id": {"$in": chunk}, "campaign": {"$ne": self.campaign}}))
        orphans = [sid for sid in ids if sid not in shared]
        removed = {"structures": 0, "calculations": 0}
        for start in range(0, len(orphans), 10_000):
            chunk = orphans[start:start + 10_000]
            removed["calculations"] += self.db.calculations.delete_many({"structure_id": {"$in": chunk}}).deleted_count
            removed["structures"] += self.db.structures.delete_many({"_id": {"$in": chunk}}).deleted_count
        for doc in self.db.features.find({"campaign": self.campaign}, {"file_id": 1}):
            self.feature_files.delete(doc["file_id"])
        for doc in self.db.models.find({"campaign": self.campaign}, {"file_id": 1}):
            self.model_files.delete(doc["file_id"])
        for collection in COLLECTIONS:
            removed[collection] = self.db[collection].delete_many({"campaign": self.campaign}).deleted_count
        return removed

    # settings ---------------------------------------------------------------
    def save_settings(self, settings: dict[str, Any]) -> None:
        self.db.campaigns.update_one({"campaign": self.campaign},
                                     {"$set": {"settings": settings, "updated": _now()},
                                      "$setOnInsert": {"created": _now()}}, upsert=True)

    def stored_settings(self) -> dict[str, Any] | None:
        doc = self.db.campaigns.find_one({"campaign": self.campaign})
        return None if doc is None else doc["settings"]

    # calculations -----------------------------------------------------------
    def find_calculation(self, sid: str, engine: str, settings_hash: str) -> dict | None:
        return self.db.calculations.find_one(
            {"structure_id": sid, "engine": engine, "settings_hash": settings_hash}
        )

    def add_calculation(self, sid: str, engine: str, settings_hash: str, result: dict[str, Any],
                        status: str = "completed", kind: str = "single_point",
                        fw_id: int | None = None, provenance: dict[str, Any] | None = None) -> bool:
        """Store one completed label; a failed label in the same (structure, engine, settings)
        slot is replaced (its ``attempts`` stay). Returns False when a completed label exists.
        ``provenance`` (default: :func:`perovflow.provenance.provenance` of this process and
        ``fw_id``) says which code, host and run folder made it."""
        doc = {
            "campaign": self.campaign, "structure_id": sid, "engine": engine,
            "settings_hash": settings_hash, "kind": kind, "status": status, "fw_id": fw_id,
            **self._query_fields([sid]).get(sid, {}), "created": _now(), **result,
            "provenance": make_provenance(fw_id) if provenance is None else provenance,
        }
        try:
            self.db.calculations.insert_one(doc)
            return True
        except DuplicateKeyError:
            doc.pop("_id", None)
            replaced = self.db.calculations.update_one(
                {"structure_id": sid, "engine": engine, "settings_hash": settings_hash, "status": "failed"},
                {"$set": {**doc, "failed_for_good": False}, "$inc": {"n_attempts": 1}})
            return replaced.modified_count == 1

    def record_failed_label(self, sid: str, engine: str, settings_hash: str, reason: str,
                            fields: dict[str, Any], max_attempts: int, fw_id: int | None = None) -> dict:
        """One more failed attempt at a label (never over a completed one): the reason goes into
        ``attempts``; after ``max_attempts`` the label is ``failed_for_good``. Returns the doc.
        The document's ``provenance`` is that of the last attempt."""
        slot = {"structure_id": sid, "engine": engine, "settings_hash": settings_hash}
        attempt = {"reason": reason, "at": _now(), "fw_id": fw_id, **{k: v for k, v in fields.items() if k == "worker"}}
        fields = {"provenance": make_provenance(fw_id), **self._query_fields([sid]).get(sid, {}), **fields}
        try:
            self.db.calculations.update_one(
                {**slot, "status": {"$ne": "completed"}},
                {"$setOnInsert": {"campaign": self.campaign, "kind": "single_point", "created": _now()},
                 "$set": {"status": "failed", "reason": reason, "fw_id": fw_id, **fields},
                 "$push": {"attempts": attempt}, "$inc": {"n_attempts": 1}},
                upsert=True)
        except DuplicateKeyError:  # completed meanwhile by another run
            return self.db.calculations.find_one(slot)
        doc = self.db.calculations.find_one(slot)
        if doc["status"] == "failed" and doc["n_attempts"] >= max_attempts and not doc.get("failed_for_good"):
            self.db.calculations.update_one({"_id": doc["_id"]}, {"$set": {"failed_for_good": True}})
            doc["failed_for_good"] = True
        return doc

    def energies(self, ids: list[str], engine: str, settings_hash: str) -> dict[str, float]:
        """Total energies per atom (eV/atom) of the completed labels among ``ids``."""
        cursor = self.db.calculations.find(
            {"structure_id": {"$in": ids}, "engine": engine, "settings_hash": settings_hash,
             "status": "completed"},
            {"structure_id": 1, "energy_per_atom": 1},
        )
        return {doc["structure_id"]: doc["energy_per_atom"] for doc in cursor}

    def forces(self, ids: list[str], engine: str, settings_hash: str) -> dict[str, np.ndarray]:
        """Forces (n_atoms, 3) in eV/Å of the completed labels among ``ids`` that stored them."""
        cursor = self.db.calculations.find(
            {"structure_id": {"$in": ids}, "engine": engine, "settings_hash": settings_hash,
             "status": "completed", "forces": {"$exists": True}},
            {"structure_id": 1, "forces": 1},
        )
        return {doc["structure_id"]: np.asarray(doc["forces"], dtype=np.float64).reshape(-1, 3) for doc in cursor}

    def labels(self, ids: list[str], engine: str, settings_hash: str,
               query: dict[str, Any] | None = None) -> dict[str, dict]:
        """Completed label documents (without ``_id``) among ``ids``, by structure id;
        ``query`` narrows them (e.g. ``{"purpose": {"$in": ["stage1", "stage2"]}}``)."""
        result: dict[str, dict] = {}
        for start in range(0, len(ids), 10_000):
            cursor = self.db.calculations.find(
                {"structure_id": {"$in": ids[start:start + 10_000]}, "engine": engine,
                 "settings_hash": settings_hash, "status": "completed", **(query or {})}, {"_id": 0})
            result.update((doc["structure_id"], doc) for doc in cursor)
        return result

    def count_labels(self, purposes: Iterable[str]) -> int:
        """Completed labels of this campaign made for any of ``purposes`` (e.g. stage1)."""
        return self.db.calculations.count_documents(
            {"campaign": self.campaign, "purpose": {"$in": list(purposes)}, "status": "completed"})

    # features ---------------------------------------------------------------
    def has_features(self, descriptor_hash: str, role: str, chunk: int) -> bool:
        return self.db.features.count_documents(
            {"campaign": self.campaign, "descriptor_hash": descriptor_hash, "role": role, "chunk": chunk},
            limit=1,
        ) > 0

    def save_features(self, descriptor_hash: str, role: str, chunk: int, ids: list[str],
                      matrix: np.ndarray, settings: dict[str, Any]) -> bool:
        if self.has_features(descriptor_hash, role, chunk):
            return False
        file_id = self.feature_files.put(
            _npz_bytes({"ids": np.asarray(ids), "features": matrix.astype(np.float64)}),
            filename=f"{self.campaign}/{descriptor_hash}/{role}/{chunk}.npz",
        )
        try:
            self.db.features.insert_one({
                "campaign": self.campaign, "descriptor_hash": descriptor_hash, "role": role,
                "chunk": chunk, "n": len(ids), "n_features": int(matrix.shape[1]),
                "settings": settings, "file_id": file_id, "created": _now(),
            })
            return True
        except DuplicateKeyError:  # another worker finished the same chunk first
            self.feature_files.delete(file_id)
            return False

    def load_features(self, descriptor_hash: str, role: str) -> tuple[list[str], np.ndarray]:
        docs = list(self.db.features.find(
            {"campaign": self.campaign, "descriptor_hash": descriptor_hash, "role": role}
        ).sort("chunk", ASCENDING))
        if not docs:
            raise LookupError(f"no {role} features for descriptor {descriptor_hash}")
        ids: list[str] = []
        blocks = []
        for doc in docs:
            arrays = _npz_load(self.feature_files.get(doc["file_id"]).read())
            ids.extend(str(i) for i in arrays["ids"])
            blocks.append(arrays["features"])
        return ids, np.vstack(blocks)

    # selections -------------------------------------------------------------
    def save_selection(self, name: str, doc: dict[str, Any]) -> None:
        self.db.selections.update_one(
            {"campaign": self.campaign, "name": name},
            {"$setOnInsert": {"campaign": self.campaign, "name": name, "created": _now(), **doc}},
            upsert=True,
        )

    def selection(self, name: str) -> dict | None:
        return self.db.selections.find_one({"campaign": self.campaign, "name": name})

    # models -----------------------------------------------------------------
    def save_model(self, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                   version: int | None = None, tag: str | None = None) -> int:
        """Store a model as .npz in GridFS plus a JSON-able metadata document; returns its version.

        Versions count up in the order models are stored. ``tag`` names what the model is
        (e.g. ``initial/batch-3``, ``final``); saving a tag that exists returns that
        model's version and stores nothing, so a re-run fit is idempotent (so is a given
        ``version``). Untagged models are tagged ``version-<n>``.
        Arrays must be numeric, boolean or unicode: an ``object`` array would need pickle to
        load, and loading never unpickles (:func:`_npz_load`). Build both parts of an
        MBTR-KRR model with :func:`perovflow.models.saved.model_record`.
        """
        json.dumps(meta)  # metadata must be plain JSON: fail before writing anything
        for name, array in arrays.items():
            if np.asarray(array).dtype.hasobject:
                raise TypeError(f"model array {name!r} has dtype object: it could only be loaded "
                                "with pickle; store numbers or strings")
        existing = self._existing_model(version, tag)
        if existing is not None:
            return existing
        file_id = self.model_files.put(_npz_bytes(arrays), filename=f"{self.campaign}/model.npz",
                                       metadata={"campaign": self.campaign})
        while True:
            if version is None:
                last = self.db.models.find_one({"campaign": self.campaign}, sort=[("version", DESCENDING)])
                chosen = 1 if last is None else last["version"] + 1
            else:
                chosen = version
            try:
                self.db.models.insert_one({
                    "campaign": self.campaign, "version": chosen, "tag": tag or f"version-{chosen}",
                    "file_id": file_id, "created": _now(), **meta,
                })
                return chosen
            except DuplicateKeyError:
                existing = self._existing_model(version, tag)
                if existing is not None:  # the same fit was stored by another run meanwhile
                    self.model_files.delete(file_id)
                    return existing

    def _existing_model(self, version: int | None, tag: str | None) -> int | None:
        query: dict[str, Any] = {"campaign": self.campaign}
        if tag is not None:
            query["tag"] = tag
        elif version is not None:
            query["version"] = version
        else:
            return None
        doc = self.db.models.find_one(query, {"version": 1})
        return None if doc is None else int(doc["version"])

    def load_model(self, version: int | None = None, descriptor: Any = None,
                   tag: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and metadata of a model by ``tag`` or ``version`` (the latest when neither).

        ``descriptor`` (an :class:`~perovflow.descriptors.mbtr.MBTRSettings`) given: the
        model must have been trained with exactly these settings, else
        :class:`~perovflow.models.saved.DescriptorMismatch` names both hashes and the
        differing fields. Nothing loaded is unpickled.
        """
        query: dict[str, Any] = {"campaign": self.campaign}
        if tag is not None:
            query["tag"] = tag
        if version is not None:
            query["version"] = version
        doc = self.db.models.find_one(query, sort=[("version", DESCENDING)])
        if doc is None:
            what = f"model {tag!r}" if tag is not None else f"model version {version or ''}".strip()
            raise LookupError(f"campaign {self.campaign!r} has no {what}")
        if descriptor is not None:
            if "descriptor" not in doc:
                raise DescriptorMismatch(f"model version {doc['version']} of campaign {self.campaign!r} "
                                         f"records no descriptor settings; expected {descriptor.hash}")
            check_descriptor(doc["descriptor"], doc.get("descriptor_hash"), descriptor)
        arrays = _npz_load(self.model_files.get(doc["file_id"]).read())
        return arrays, doc

    def latest_model_tag(self, stage: str) -> str:
        """Tag of the last model stored by ``stage`` (e.g. the initial stage's final fit)."""
        doc = self.db.models.find_one({"campaign": self.campaign, "stage": stage}, {"tag": 1},
                                      sort=[("version", DESCENDING)])
        if doc is None:
            raise LookupError(f"campaign {self.campaign!r} has no model of stage {stage!r}")
        return doc["tag"]

    def models(self) -> list[dict]:
        return list(self.db.models.find({"campaign": self.campaign}, {"file_id": 0}).sort("version", ASCENDING))

    # active learning --------------------------------------------------------
    def update_iteration(self, iteration: int, fields: dict[str, Any]) -> None:
        """Set fields of one active-learning iteration's record (created on first use)."""
        self.db.al_iterations.update_one(
            {"campaign": self.campaign, "iteration": iteration},
            {"$set": {**fields, "updated": _now()},
             "$setOnInsert": {"campaign": self.campaign, "iteration": iteration, "created": _now()}},
            upsert=True,
        )

    def iteration(self, iteration: int) -> dict | None:
        return self.db.al_iterations.find_one({"campaign": self.campaign, "iteration": iteration})

    def iterations(self) -> list[dict]:
        return list(self.db.al_iterations.find({"campaign": self.campaign}).sort("iteration", ASCENDING))

    def update_trajectory(self, key: str, fields: dict[str, Any], push_snapshot: str | None = None) -> None:
        """A relaxation trajectory run by an engine (``key`` names it within the campaign);
        ``push_snapshot`` appends one labelled snapshot's structure id."""
        update: dict[str, Any] = {
            "$set": {**fields, "updated": _now()},
            "$setOnInsert": {"campaign": self.campaign, "key": key, "created": _now()},
        }
        if push_snapshot is not None:
            update["$push"] = {"snapshot_ids": push_snapshot}
        self.db.trajectories.update_one({"campaign": self.campaign, "key": key}, update, upsert=True)

    def trajectory(self, key: str) -> dict | None:
        return self.db.trajectories.find_one({"campaign": self.campaign, "key": key})

    def finished_trajectories(self, purposes: Iterable[str]) -> list[dict]:
        """Finished engine relaxations made for any of ``purposes`` (e.g. stage1), by key."""
        return self.trajectories(purpose={"$in": list(purposes)}, finished=True)

    def trajectories(self, **query: Any) -> list[dict]:
        return list(self.db.trajectories.find({"campaign": self.campaign, **query}).sort("key", ASCENDING))

    def save_ml_relaxation(self, key: str, fields: dict[str, Any]) -> None:
        """One finished ML relaxation of a batch (``key`` names it within the campaign). The
        first stored wins: a batch run twice (its worker died after storing) keeps it."""
        self.db.ml_relaxations.update_one(
            {"campaign": self.campaign, "key": key},
            {"$setOnInsert": {**fields, "campaign": self.campaign, "key": key, "created": _now()}},
            upsert=True,
        )

    def ml_relaxations(self, keys: Iterable[str]) -> dict[str, dict]:
        """The stored ML relaxations among ``keys``, by key (absent: not run yet)."""
        keys = list(keys)
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 1000):
            for doc in self.db.ml_relaxations.find({"campaign": self.campaign, "key": {"$in": keys[start:start + 1000]}},
                                                   {"_id": 0}):
                found[doc["key"]] = doc
        return found
