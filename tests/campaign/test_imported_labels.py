"""A campaign that trains from imported labels (``labelling.engine: imported``): the test
writes an extended XYZ training and test file with energies of its own making, imports them
with ``perovflow import``, runs the initial-dataset part of a campaign on them, and checks
that every model was fitted on exactly those labels and that no engine ran."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.initial import label_structures
from perovflow.campaign.local import run_local
from perovflow.cli import main
from perovflow.engines import make_engine
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.settings import CampaignError, parse_campaign
from perovflow.store.store import Store
from perovflow.structures import generate_pool, generate_test_set
from perovflow.structures.identity import structure_id
from tests.campaign.helpers import small_campaign

LABELS = "paper-dft"


def _made_up_energy(atoms, rng) -> float:
    """eV: a smooth function of the Br share plus noise, nothing any engine would compute."""
    symbols = atoms.get_chemical_symbols()
    x_br = symbols.count("Br") / (symbols.count("Br") + symbols.count("Cl"))
    return len(atoms) * (-3.1 + 0.2 * x_br - 0.05 * x_br ** 2 + rng.normal(scale=2e-3))


def _write(path, structures, rng) -> dict[str, float]:
    """Write ``structures`` as ASE does (extended XYZ, 8 decimals); energies by the stored id."""
    images = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=_made_up_energy(atoms, rng))
        images.append(atoms)
    write(path, images, format="extxyz")
    return {structure_id(back): back.get_potential_energy() / len(back) for back in read(path, index=":")}


def _settings(name: str, **labelling):
    return parse_campaign(small_campaign(name, phases=["Pm-3m"], selection={"clusters": 6, "batches": 2, "min_size": 2},
                                         labelling={"engine": "imported", "group_size": 20,
                                                    "options": {"labels": LABELS, **labelling}}))


@pytest.fixture
def imported(target, mongo_db, tmp_path):
    perovskite = _settings("x").system.perovskite()
    rng = np.random.default_rng(7)
    train = _write(tmp_path / "sp_train_set.xyz", generate_pool(perovskite, phases=("Pm-3m",), per_composition=1,
                                                                 seed=11), rng)
    test = _write(tmp_path / "sp_test_set.xyz", generate_test_set(perovskite, phases=("Pm-3m",), per_composition=1,
                                                                   seed=12)[::2], rng)
    assert main(["import", str(tmp_path / "sp_train_set.xyz"), str(tmp_path / "sp_test_set.xyz"), "--campaign",
                 "dft", "--labels", LABELS, "--dft", "--uri", target.uri, "--database", target.database]) == 0
    return train, test


@pytest.mark.parametrize("campaign", ["dft", "other"])  # the importing campaign itself, and another one
def test_initial_dataset_is_fitted_on_exactly_the_imported_labels(mongo_db, imported, campaign):
    train, test = imported
    labels_before = list(mongo_db.calculations.find({}, {"_id": 1}))
    settings = _settings(campaign)
    store = Store(mongo_db, campaign)
    run = run_local(settings, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    assert run.by_step("imported_pool")[0].record == {"pool": len(train), "test": len(test)}
    # no engine ran: the only labels are the imported ones
    assert list(mongo_db.calculations.find({}, {"_id": 1})) == labels_before
    assert set(store.structure_ids("pool")) == set(train) and set(store.structure_ids("test")) == set(test)

    models = store.models()
    assert [m["tag"] for m in models] == ["initial/batch-0", "initial/batch-1"]
    descriptor = CampaignContext(settings, store).descriptor
    for model in models:
        assert model["engine"] == LABELS and model["is_dft"] is True
        ids = [str(sid) for sid in model["training_ids"]]
        assert len(ids) == 6 * (model["batch"] + 1) and set(ids) <= set(train)
        arrays, _ = store.load_model(tag=model["tag"])
        # the same fit, from features computed here and the energies this test wrote
        x = descriptor.create(store.structures(ids))
        again = KernelRidgeEnergy(KRRHyperparameters(alpha=settings.model.alpha, gamma=settings.model.gamma))
        again.fit(x, np.array([train[sid] for sid in ids]))
        assert np.allclose(again.to_arrays()["weights"], arrays["weights"], rtol=0, atol=1e-10)
        # its test error is against the imported test energies
        predicted = again.predict(descriptor.create(store.structures(list(test))))
        mae = np.abs(predicted - np.array(list(test.values()))).mean() * 1000
        assert model["metrics"]["n_test"] == len(test)
        assert model["metrics"]["test_energy_mae_mev_per_atom"] == pytest.approx(mae, rel=1e-8)


def test_a_structure_without_an_imported_label_is_a_clear_error(mongo_db, imported):
    train, _ = imported
    store = Store(mongo_db, "dft")
    ctx = CampaignContext(_settings("dft"), store)
    stranger = generate_pool(_settings("dft").system.perovskite(), phases=("Pnma",), per_composition=1, seed=5)[0]
    [sid] = store.add_structures([stranger], role="pool")
    done, reused, failures = label_structures(store, ctx.engine, [next(iter(train)), sid])
    assert (done, reused) == (0, 1)
    assert failures == [f"{sid}: structure {sid} has no label in the imported label set {LABELS!r}; a campaign "
                        f"with labelling.engine imported only uses labels stored by `perovflow import --labels "
                        f"{LABELS}`"]
    failed = mongo_db.calculations.find_one({"structure_id": sid})
    assert failed["status"] == "failed" and "has no label in the imported label set" in failed["reason"]


def test_a_missing_label_set_or_a_wrong_declaration_stops_before_anything_is_written(mongo_db, imported):
    for settings, message in ((_settings("c1", labels="nope"), "labelling.options.labels: no label set 'nope'"),
                              (_settings("c2", is_dft=False), "labelling.options.is_dft: false, but label set"),
                              (parse_campaign(small_campaign("c3", system={"a": "Cs", "b": "Pb", "x": ["Cl", "I"]},
                                                             phases=["Pm-3m"], selection={"clusters": 6, "min_size": 2},
                                                             labelling={"engine": "imported",
                                                                        "options": {"labels": LABELS}})),
                               f"system: label set {LABELS!r} has Br, which the campaign's system")):
        run = run_local(settings, Store(mongo_db, settings.name))
        [outcome] = run.outcomes
        assert outcome.state == "failed" and message in outcome.reason, outcome.reason
        assert mongo_db.members.count_documents({"campaign": settings.name}) == 0


def test_settings_refuse_what_imported_labels_cannot_do():
    with pytest.raises(CampaignError, match=r"^active.enabled: imported labels cannot relax"):
        parse_campaign(small_campaign("a", labelling={"engine": "imported", "options": {"labels": LABELS}},
                                      active={"enabled": True}))
    with pytest.raises(CampaignError, match=r"^labelling.options: .*labels"):
        parse_campaign(small_campaign("a", labelling={"engine": "imported"}))
    with pytest.raises(CampaignError, match=r"^labelling.options: labels must name an imported label set"):
        parse_campaign(small_campaign("a", labelling={"engine": "imported", "options": {"labels": " "}}))
    assert make_engine("imported", labels=LABELS).settings_hash != make_engine("imported", labels="b").settings_hash


def test_the_same_campaign_on_rlaunch_workers(target, mongo_db, imported, tmp_path):
    train, test = imported
    labels_before = mongo_db.calculations.count_documents({})
    path = tmp_path / "imported.yaml"
    path.write_text(yaml.safe_dump(small_campaign(
        "fw", phases=["Pm-3m"], selection={"clusters": 6, "batches": 2, "min_size": 2},
        labelling={"engine": "imported", "group_size": 20, "options": {"labels": LABELS}})))
    out = subprocess.run([str(Path(sys.executable).parent / "perovflow"), "run", str(path), "--uri", target.uri,
                          "--database", target.database, "--workers", "2", "--quiet", "--run-dir",
                          str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert mongo_db.calculations.count_documents({}) == labels_before
    store = Store(mongo_db, "fw")
    assert set(store.structure_ids("pool")) == set(train) and set(store.structure_ids("test")) == set(test)
    models = store.models()
    assert [m["tag"] for m in models] == ["initial/batch-0", "initial/batch-1"]
    assert all(set(map(str, m["training_ids"])) <= set(train) and m["engine"] == LABELS for m in models)


def test_clusters_that_do_not_fit_the_imported_pool_are_refused(mongo_db, imported):
    train, _ = imported
    settings = parse_campaign(small_campaign("big", phases=["Pm-3m"], selection={"clusters": 6, "min_size": 5},
                                             labelling={"engine": "imported", "options": {"labels": LABELS}}))
    [outcome] = run_local(settings, Store(mongo_db, "big")).outcomes
    assert outcome.state == "failed" and outcome.reason.startswith("ImportedPoolError: selection.min_size: "), \
        outcome.reason
    assert f"allowed: min_size <= {len(train) // 6}" in outcome.reason
    assert mongo_db.members.count_documents({"campaign": "big"}) == 0
