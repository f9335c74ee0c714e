"""The store on the real server: ids, the one-label rule, GridFS arrays, model versions."""
from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from perovflow.store.store import Store
from perovflow.structures.identity import structure_id


def _cell(shift: float = 0.0):
    atoms = bulk("NaCl", "rocksalt", a=5.6) * (2, 1, 1)
    atoms.positions[0, 0] += shift
    return atoms


def test_structure_id_is_a_content_hash():
    assert structure_id(_cell()) == structure_id(_cell())
    assert structure_id(_cell()) == structure_id(_cell(1e-7))  # below the rounding
    assert structure_id(_cell()) != structure_id(_cell(1e-3))


def test_structures_round_trip_and_insert_is_idempotent(mongo_db):
    store = Store(mongo_db, "c1")
    store.ensure_indexes()
    atoms = [_cell(0.01 * i) for i in range(3)]
    ids = store.add_structures(atoms, role="pool")
    assert store.add_structures(atoms, role="pool") == ids
    assert mongo_db.structures.count_documents({"campaign": "c1"}) == 3
    back = store.structures(ids)
    assert np.allclose(back[1].positions, atoms[1].positions)
    assert np.allclose(back[1].cell, atoms[1].cell)
    with pytest.raises(KeyError):
        store.structures(["nope"])


def test_one_label_per_structure_engine_and_settings(mongo_db):
    store = Store(mongo_db, "c1")
    store.ensure_indexes()
    sid = store.add_structures([_cell()], role="pool")[0]
    result = {"energy": -1.0, "energy_per_atom": -0.25}
    assert store.add_calculation(sid, "chgnet", "h1", result) is True
    assert store.add_calculation(sid, "chgnet", "h1", {"energy": -2.0, "energy_per_atom": -0.5}) is False
    assert store.add_calculation(sid, "chgnet", "other-settings", result) is True
    assert mongo_db.calculations.count_documents({"structure_id": sid, "settings_hash": "h1"}) == 1
    assert store.energies([sid], "chgnet", "h1") == {sid: -0.25}


def test_features_stored_once_per_descriptor_chunk(mongo_db):
    store = Store(mongo_db, "c1")
    store.ensure_indexes()
    matrix = np.arange(12.0).reshape(3, 4)
    assert store.save_features("d1", "pool", 0, ["a", "b", "c"], matrix, {"sigma": 1})
    assert not store.save_features("d1", "pool", 0, ["a", "b", "c"], matrix + 1, {"sigma": 1})
    store.save_features("d1", "pool", 1, ["d"], np.ones((1, 4)), {"sigma": 1})
    ids, loaded = store.load_features("d1", "pool")
    assert ids == ["a", "b", "c", "d"]
    assert np.array_equal(loaded[:3], matrix)
    with pytest.raises(LookupError):
        store.load_features("other", "pool")


def test_models_are_npz_plus_json_and_versions_count_up(mongo_db):
    store = Store(mongo_db, "c1")
    store.ensure_indexes()
    weights = np.linspace(0, 1, 5)
    assert store.save_model({"weights": weights}, {"kind": "test", "metrics": {"mae": 1.0}}) == 1
    assert store.save_model({"weights": weights * 2}, {"kind": "test"}) == 2
    assert store.save_model({"weights": weights * 3}, {"kind": "test"}, version=2) == 2  # idempotent re-run
    arrays, doc = store.load_model(1)
    assert np.array_equal(arrays["weights"], weights) and doc["metrics"]["mae"] == 1.0
    arrays, doc = store.load_model()
    assert doc["version"] == 2 and np.array_equal(arrays["weights"], weights * 2)
    with pytest.raises(TypeError):  # metadata must be JSON: refused before anything is written
        store.save_model({"w": weights}, {"bad": object()})
    assert mongo_db.models.count_documents({}) == 2
    stored = mongo_db["model_files.files"].find_one({})
    assert stored["filename"].endswith(".npz")
