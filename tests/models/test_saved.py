"""Model versions through the real store: complete records, identical predictions, no
code execution on load, and a clear error when the descriptor settings differ."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.saved import DescriptorMismatch, model_from_record, model_record
from perovflow.models.tuning import tune_krr
from perovflow.store.store import Store
from perovflow.structures import PHASES, generate_test_set
from tests.models.conftest import SYSTEM

SETTINGS = MBTRSettings(species=("Cs", "Pb", "Cl", "Br"))


@pytest.fixture(scope="module")
def tuning(trained):
    _, _, x, y = trained
    return tune_krr(x, y, folds=3, initpts=2, iterpts=1, seed=0)


def _queries(descriptor):
    return descriptor.create(generate_test_set(SYSTEM, phases=PHASES, per_composition=1, seed=9)[:20])


def test_saved_version_is_complete_and_predicts_identically(trained, tuning, mongo_db):
    descriptor, model, _, _ = trained
    store = Store(mongo_db, "m1")
    store.ensure_indexes()
    metrics = {"test_energy_mae_mev_per_atom": 0.5}
    ids = [f"s{i}" for i in range(len(model.weights))]
    arrays, meta = model_record(model, SETTINGS, metrics=metrics, tuning=tuning, training_ids=ids,
                                extra={"stage": "initial"})
    version = store.save_model(arrays, meta)

    loaded_arrays, doc = store.load_model(version, descriptor=SETTINGS)
    saved = model_from_record(loaded_arrays, doc, expected=SETTINGS)
    queries = _queries(descriptor)
    assert np.array_equal(saved.model.predict(queries), model.predict(queries))
    assert np.allclose(saved.model.sigma(queries), model.sigma(queries), rtol=1e-10, atol=1e-15)
    assert np.array_equal(loaded_arrays["x_train"], model.x_train)
    assert np.array_equal(loaded_arrays["weights"], model.weights)
    assert [str(i) for i in loaded_arrays["training_ids"]] == ids
    assert saved.species == ["Cs", "Pb", "Cl", "Br"] and doc["species"] == saved.species
    assert doc["descriptor"] == SETTINGS.as_dict() and doc["descriptor_hash"] == SETTINGS.hash
    assert json.loads(str(loaded_arrays["descriptor_json"])) == SETTINGS.as_dict()
    assert doc["hyperparameters"] == {"alpha": 1e-5, "gamma": 4.279e-2, "sigma": SETTINGS.sigma}
    assert doc["metrics"] == metrics and saved.metrics == metrics and doc["stage"] == "initial"
    assert doc["tuning"] == tuning.as_dict() and saved.tuning["n_evaluations"] == tuning.n_evaluations
    assert saved.settings == SETTINGS

    atoms = generate_test_set(SYSTEM, phases=("Pnma",), per_composition=1, seed=3)[4]
    atoms.calc = saved.calculator()
    reference = atoms.copy()
    from perovflow.models.calculator import MBTRKRRCalculator

    reference.calc = MBTRKRRCalculator(model, descriptor)
    assert atoms.get_potential_energy() == reference.get_potential_energy()
    assert np.array_equal(atoms.get_forces(), reference.get_forces())


def test_loading_with_other_descriptor_settings_names_hashes_and_fields(trained, mongo_db):
    _, model, _, _ = trained
    store = Store(mongo_db, "m2")
    store.ensure_indexes()
    store.save_model(*model_record(model, SETTINGS))
    other = MBTRSettings(species=("Cs", "Pb", "Cl", "Br"), sigma=0.05, r_cut=6.0)
    with pytest.raises(DescriptorMismatch) as caught:
        store.load_model(descriptor=other)
    message = str(caught.value)
    assert SETTINGS.hash in message and other.hash in message
    assert "sigma" in message and "r_cut" in message and "n_grid" not in message
    arrays, doc = store.load_model()
    with pytest.raises(DescriptorMismatch, match=other.hash):
        model_from_record(arrays, doc, expected=other)
    saved = model_from_record(arrays, doc)
    with pytest.raises(DescriptorMismatch, match="species"):
        saved.calculator(MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Br", "Cl"))))
    tampered = dict(arrays, descriptor_json=np.array(json.dumps(other.as_dict())))
    with pytest.raises(DescriptorMismatch, match="hash"):
        model_from_record(tampered, {})


def test_loading_never_unpickles(trained, mongo_db):
    _, model, _, _ = trained
    store = Store(mongo_db, "m3")
    store.ensure_indexes()
    with pytest.raises(TypeError, match="pickle"):
        store.save_model({"weights": np.array([object()], dtype=object)}, {"kind": "bad"})
    assert mongo_db.models.count_documents({"campaign": "m3"}) == 0
    # a blob that needs pickle, written behind the store's back, is refused on load
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.array([{"payload": 1}], dtype=object))
    file_id = store.model_files.put(buffer.getvalue(), filename="m3/model.npz")
    mongo_db.models.insert_one({"campaign": "m3", "version": 1, "file_id": file_id})
    with pytest.raises(ValueError, match="pickle"):
        store.load_model(1)


def test_records_without_settings_or_with_bad_arrays_are_refused(trained):
    _, model, _, _ = trained
    arrays, meta = model_record(model, SETTINGS)
    with pytest.raises(ValueError, match="no descriptor settings"):
        model_from_record(model.to_arrays(), {})
    with pytest.raises(ValueError, match="lack"):
        model_from_record({k: v for k, v in arrays.items() if k != "weights"}, meta)
    with pytest.raises(DescriptorMismatch, match="inconsistent"):
        model_from_record(arrays, dict(meta, descriptor_hash="0123456789abcdef"))
    with pytest.raises(ValueError, match="training ids"):
        model_record(model, SETTINGS, training_ids=["a"])
