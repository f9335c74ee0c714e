"""Query fields: halide fractions and phase on structures, repeated on their calculations,
indexed, and given to documents stored before they existed (idempotently)."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from perovflow.store.store import MIGRATIONS, QUERY_FIELDS, QUERY_FIELDS_MIGRATION, Store
from perovflow.structures.fractions import FRACTION_FIELDS, halide_fractions


def _perovskite(n_cl: int, n_br: int, n_i: int, shift: float = 0.0) -> Atoms:
    symbols = ["Cs"] * 8 + ["Pb"] * 8 + ["Cl"] * n_cl + ["Br"] * n_br + ["I"] * n_i
    rng = np.random.default_rng(len(symbols) + n_cl * 7 + n_br)
    atoms = Atoms(symbols, positions=rng.uniform(0, 11, (len(symbols), 3)), cell=[11.5] * 3, pbc=True)
    atoms.positions[0, 0] += shift
    return atoms


def test_fractions_are_shares_of_the_halide_sites():
    assert halide_fractions(_perovskite(6, 12, 6).numbers) == {"x_F": 0.0, "x_Cl": 0.25, "x_Br": 0.5, "x_I": 0.25}
    assert halide_fractions(Atoms("CsPb").numbers) == dict.fromkeys(FRACTION_FIELDS)


def test_structures_and_calculations_carry_the_query_fields(mongo_db):
    store = Store(mongo_db, "q")
    store.ensure_indexes()
    atoms = _perovskite(0, 6, 18)
    atoms.info.update(phase="Pnma", composition="Br6I18")
    [sid] = store.add_structures([atoms], role="pool")
    doc = mongo_db.structures.find_one({"_id": sid})
    assert (doc["phase"], doc["x_Br"], doc["x_I"], doc["x_Cl"], doc["x_F"]) == ("Pnma", 0.25, 0.75, 0.0, 0.0)
    store.add_calculation(sid, "chgnet", "h1", {"energy": -1.0, "energy_per_atom": -1.0 / len(atoms)})
    store.record_failed_label(sid, "tblite", "h2", "SCF not converged", {}, max_attempts=3)
    for calc in mongo_db.calculations.find({"structure_id": sid}):
        assert {name: calc[name] for name in QUERY_FIELDS} == {name: doc[name] for name in QUERY_FIELDS}
    found = mongo_db.calculations.find({"phase": "Pnma", "x_I": {"$gte": 0.5}, "status": "completed"})
    assert [c["engine"] for c in found] == ["chgnet"]
    indexed = {tuple(k for k, _ in index["key"].items()) for index in mongo_db.calculations.list_indexes()}
    assert {("phase",), ("x_I",), ("x_Cl",), ("x_Br",), ("x_F",)} <= indexed


@pytest.mark.parametrize("runs", [1, 2])
def test_documents_stored_before_get_the_fields_once(mongo_db, runs):
    store = Store(mongo_db, "old")
    old = [_perovskite(24 - k, k, 0, shift=0.01 * k) for k in (0, 8, 24)]
    for atoms, k in zip(old, (0, 8, 24)):
        atoms.info.update(phase="Pm-3m", composition=f"Cl{24 - k}Br{k}")
    ids = store.add_structures(old, role="pool")
    for sid in ids:
        store.add_calculation(sid, "chgnet", "h", {"energy": -2.0})
    # make them look like documents of a database written before the query fields
    fields = dict.fromkeys(QUERY_FIELDS[2:], "")
    mongo_db.structures.update_many({}, {"$unset": fields})
    mongo_db.calculations.update_many({}, {"$unset": {**fields, "phase": "", "composition": ""}})
    assert mongo_db.calculations.count_documents({"x_Cl": {"$exists": True}}) == 0

    counts = [store.backfill_query_fields() for _ in range(runs)]
    assert counts[0] == {"structures": 3, "calculations": 3}
    assert all(later == {"structures": 0, "calculations": 0} for later in counts[1:])
    for sid, atoms in zip(ids, old):
        expected = {"phase": "Pm-3m", "composition": atoms.info["composition"], **halide_fractions(atoms.numbers)}
        for collection, key in ((mongo_db.structures, "_id"), (mongo_db.calculations, "structure_id")):
            doc = collection.find_one({key: sid})
            assert {name: doc[name] for name in QUERY_FIELDS} == expected
    assert mongo_db.calculations.count_documents({"x_Br": {"$gt": 0.3, "$lt": 0.4}}) == 1


def test_ensure_indexes_backfills_once_per_database(mongo_db):
    store = Store(mongo_db, "old")
    old = [_perovskite(24 - k, k, 0, shift=0.02 * k) for k in (4, 12)]
    ids = store.add_structures(old, role="pool")
    stripped = dict.fromkeys(QUERY_FIELDS[2:], "")

    def strip():
        mongo_db.structures.update_many({"_id": {"$in": ids}}, {"$unset": stripped})

    def backfilled():
        return mongo_db.structures.count_documents({"_id": {"$in": ids}, "x_Cl": {"$exists": True}})

    mongo_db[MIGRATIONS].delete_many({})  # a database from before the query fields
    strip()
    store.ensure_indexes()
    assert backfilled() == len(ids)
    assert mongo_db[MIGRATIONS].find_one({"_id": QUERY_FIELDS_MIGRATION})["counts"]["structures"] >= len(ids)
    strip()
    store.ensure_indexes()  # the migration is recorded: no second scan
    assert backfilled() == 0
    mongo_db[MIGRATIONS].delete_many({})
    store.ensure_indexes()
    assert backfilled() == len(ids)
