"""Issue 14: a failed label is not permanent. A real tblite SCF that stops too early fails;
the next run of the job with enough SCF cycles (a numerical setting, not physics: same
settings hash) labels the structure in the failed label's place; after
``labelling.max_attempts`` failures the structure is failed for good, with every reason."""
from __future__ import annotations

from perovflow.campaign.initial import label_structures
from perovflow.engines.tblite import TBLiteEngine
from perovflow.store.store import Store
from perovflow.structures import PerovskiteSystem, generate_test_set


def _cell():
    return generate_test_set(PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br")), phases=("Pm-3m",),
                             per_composition=1, seed=5)[3]


def test_a_failed_label_is_retried_and_replaced(mongo_db):
    store = Store(mongo_db, "retry")
    store.ensure_indexes()
    [sid] = store.add_structures([_cell()], role="pool")
    hurried, patient = TBLiteEngine(max_iterations=2), TBLiteEngine(max_iterations=250)
    assert hurried.settings_hash == patient.settings_hash  # SCF cycles are not physics

    done, reused, failures = label_structures(store, hurried, [sid])
    assert (done, reused, len(failures)) == (0, 0, 1)
    [failed] = list(mongo_db.calculations.find({"structure_id": sid}))
    assert failed["status"] == "failed" and failed["n_attempts"] == 1 and "SCF" in failed["attempts"][0]["reason"]

    assert label_structures(store, patient, [sid]) == (1, 0, [])
    [label] = list(mongo_db.calculations.find({"structure_id": sid}))
    assert label["status"] == "completed" and label["energy_per_atom"] < 0
    assert label["n_attempts"] == 2 and "SCF" in label["attempts"][0]["reason"]  # the history stays
    assert label_structures(store, patient, [sid]) == (0, 1, [])  # and now it is reused


def test_a_label_is_failed_for_good_after_max_attempts(mongo_db):
    store = Store(mongo_db, "give-up")
    store.ensure_indexes()
    [sid] = store.add_structures([_cell()], role="pool")
    hurried = TBLiteEngine(max_iterations=2)
    for attempt in range(3):
        _, _, failures = label_structures(store, hurried, [sid], max_attempts=3)
        assert len(failures) == 1, attempt
    doc = mongo_db.calculations.find_one({"structure_id": sid})
    assert doc["n_attempts"] == 3 and len(doc["attempts"]) == 3 and doc["failed_for_good"] is True
    # a fourth run does not call the engine again: nothing new is recorded and nothing raised
    done, reused, failures = label_structures(store, TBLiteEngine(max_iterations=250), [sid], max_attempts=3)
    assert (done, reused, failures) == (0, 0, [])
    assert mongo_db.calculations.find_one({"structure_id": sid})["n_attempts"] == 3
