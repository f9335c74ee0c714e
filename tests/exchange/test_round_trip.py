"""Issue 18's round trip: a finished campaign exported (paper layout) and imported into a
fresh database gives back, fitted with each exported model's hyperparameters and training
ids, that model's weights to 1e-10; the files read with ``ase.io.read`` and carry energy,
forces and stress; the README's load_model example runs on the export."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from ase.io import read
from pymongo import MongoClient

import perovflow
from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.exchange.imports import labels_hash
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.store.store import Store
from tests.exchange.conftest import CALIBRATION
from tests.exchange.conftest import perovflow as run_cli

REPO = Path(__file__).resolve().parents[2]
# the paper's three files and the campaign's calibration set (which the paper's dataset lacks)
PAPER_FILES = ("sp_train_set.xyz", "sp_test_set.xyz", "al_data.xyz", "calibration_set.xyz")


@pytest.fixture(scope="module")
def exported(finished_campaign, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "export"
    out = run_cli("export", "exchange", "-o", folder, "--layout", "paper", "--models", "all",
                  *finished_campaign.options())
    assert out.returncode == 0, out.stderr
    print(f"campaign: {finished_campaign.seconds:.1f} s; export:\n{out.stdout}")
    return folder


def test_paper_layout_reads_back_with_energy_forces_and_stress(finished_campaign, exported):
    store = finished_campaign.store
    models = store.models()
    assert sorted(p.name for p in exported.iterdir()) == sorted(
        [*PAPER_FILES, *(f"model_{m['tag'].replace('/', '-')}{ext}" for m in models for ext in (".npz", ".json"))])
    sets = {name: read(exported / name, index=":") for name in PAPER_FILES}
    initial = store.load_model(tag=store.latest_model_tag("initial"))[1]
    assert [a.info["structure_id"] for a in sets["sp_train_set.xyz"]] == initial["training_ids"]
    assert len(sets["sp_test_set.xyz"]) == initial["metrics"]["n_test"] > 0
    assert len(sets["al_data.xyz"]) > 0
    assert len(sets["calibration_set.xyz"]) == CALIBRATION == initial["metrics"]["sigma_calibration_rows"]
    engine, digest = models[-1]["engine"], models[-1]["engine_settings_hash"]
    for name, images in sets.items():
        ids = [a.info["structure_id"] for a in images]
        labels = store.labels(ids, engine, digest)
        for atoms, sid in zip(images, ids):
            label = labels[sid]
            assert atoms.get_potential_energy() == label["energy"]
            assert np.array_equal(atoms.get_forces(), np.asarray(label["forces"]))
            assert np.array_equal(atoms.get_stress(), np.asarray(label["stress"]))
            assert atoms.info["engine"] == "chgnet" and atoms.info["is_dft"] is False
            assert atoms.info["phase"] == "Pnma" and re.fullmatch(r"(Cl\d+)?(Br\d+)?", atoms.info["composition"])
        roles = {a.info["role"] for a in images}
        if name == "al_data.xyz":
            assert roles <= {"snapshot", "al_continuation", "al_start"}  # step 0: the start itself
            assert {a.info["purpose"] for a in images} <= {"stage1", "stage2"}
            assert all(a.info["iteration"] >= 1 for a in images)
        else:
            assert roles == {"sp_train_set.xyz": {"pool"}, "sp_test_set.xyz": {"test"},
                             "calibration_set.xyz": {"calibration"}}[name]


def test_model_cards_say_what_each_model_is(finished_campaign, exported):
    for doc in finished_campaign.store.models():
        stem = "model_" + doc["tag"].replace("/", "-")
        card = json.loads((exported / f"{stem}.json").read_text())
        assert card["tag"] == doc["tag"] and card["version"] == doc["version"] and card["file"] == f"{stem}.npz"
        assert card["descriptor"] == doc["descriptor"] and card["hyperparameters"] == doc["hyperparameters"]
        assert card["training_ids"] == doc["training_ids"] and card["engine"] == "chgnet"
        assert card["metrics"]["test_energy_mae_mev_per_atom"] == doc["metrics"]["test_energy_mae_mev_per_atom"]
        assert set(card["calibration"]) >= {"calibration_spearman", "calibration_rmse_over_sigma_terciles"}
        assert set(card["exported_with"]) >= {"perovflow", "ase", "dscribe", "numpy"}


def test_export_import_fit_gives_the_same_weights(finished_campaign, exported, mongo_uri):
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True)
    options = ["--uri", mongo_uri, "--database", name]
    files = [exported / f for f in PAPER_FILES]
    try:
        first = run_cli("import", *files, "--campaign", "again", "--labels", "chgnet-export", "--no-dft", *options)
        assert first.returncode == 0, first.stderr
        counts = {c: client[name][c].count_documents({}) for c in ("structures", "members", "calculations")}
        second = run_cli("import", *files, "--campaign", "again", "--labels", "chgnet-export", "--no-dft", *options)
        assert second.returncode == 0, second.stderr
        assert " 0 new labels" in second.stdout and "already stored" in second.stdout
        assert {c: client[name][c].count_documents({}) for c in counts} == counts  # idempotent

        imported = Store(client[name], "again")
        checked = 0
        for card_path in sorted(exported.glob("model_*.json")):
            card = json.loads(card_path.read_text())
            ids = card["training_ids"]
            descriptor = MBTRSettings(**{**card["descriptor"], "species": tuple(card["descriptor"]["species"])})
            x = MBTRDescriptor(descriptor).create(imported.structures(ids))
            energies = imported.energies(ids, "chgnet-export", labels_hash("chgnet-export"))
            y = np.array([energies[sid] for sid in ids])
            rows = card["sigma_calibration_rows"]
            hyper = KRRHyperparameters(alpha=card["hyperparameters"]["alpha"], gamma=card["hyperparameters"]["gamma"])
            model = KernelRidgeEnergy(hyper).fit(x, y, calibration_rows=None if rows == len(ids) else np.arange(rows))
            if card["amplitude_rule"] == "holdout":  # sigma from the imported calibration set
                held_out = imported.structure_ids("calibration")
                labels = imported.energies(held_out, "chgnet-export", labels_hash("chgnet-export"))
                assert rows == len(held_out) == CALIBRATION
                model.calibrate_on_held_out(MBTRDescriptor(descriptor).create(imported.structures(held_out)),
                                            np.array([labels[sid] for sid in held_out]))
            with np.load(exported / card["file"], allow_pickle=False) as original:
                assert np.array_equal(x, original["x_train"]), card["tag"]
                assert np.max(np.abs(model.weights - original["weights"])) <= 1e-10, card["tag"]
                assert model.offset == pytest.approx(float(original["offset"]), abs=1e-12)
                assert model.amplitude == pytest.approx(float(original["amplitude"]), rel=1e-9)
            checked += 1
        assert checked == len(finished_campaign.store.models()) >= 2
        assert {json.loads(p.read_text())["amplitude_rule"] for p in exported.glob("model_*.json")} == {"holdout"}
    finally:
        client.drop_database(name)
        client.close()


def test_an_imported_campaign_takes_sigma_from_the_exported_calibration_set(exported, target, mongo_db):
    """The exported files imported into a fresh database; a campaign on those labels holds the
    calibration structures out of its pool and sets every model's sigma on them."""
    from perovflow.campaign.local import run_local
    from perovflow.settings import parse_campaign
    from tests.campaign.helpers import small_campaign

    files = [exported / f for f in PAPER_FILES]
    out = run_cli("import", *files, "--campaign", "again", "--labels", "chgnet-export", "--no-dft", "--uri",
                  target.uri, "--database", target.database)
    assert out.returncode == 0, out.stderr
    settings = parse_campaign(small_campaign(
        "again", phases=["Pnma"], selection={"clusters": 6, "batches": 1, "min_size": 2},
        labelling={"engine": "imported", "group_size": 20, "options": {"labels": "chgnet-export", "is_dft": False}}))
    store = Store(mongo_db, "again")
    run = run_local(settings, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]
    held_out = set(store.structure_ids("calibration"))
    assert len(held_out) == CALIBRATION and not held_out & set(store.structure_ids("pool"))
    for record in store.models():
        assert record["amplitude_rule"] == "holdout" and not held_out & set(record["training_ids"])
        assert record["metrics"]["sigma_calibration_rows"] == CALIBRATION


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- load_model example -->\n```python\n(.*?)```", text, re.S)
    assert block, "README lost its load_model example"
    return block.group(1)


def test_readme_load_model_example_relaxes_a_structure(exported, monkeypatch, capsys):
    code = readme_example()
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(exported.parent)
    start = read("export/sp_test_set.xyz", index=0)
    start.calc = perovflow.load_model("export/model_final.npz")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    relaxed = namespace["atoms"]
    assert relaxed.get_potential_energy() < start.get_potential_energy()
    assert np.abs(relaxed.get_forces()).max() < np.abs(start.get_forces()).max()
    assert capsys.readouterr().out.strip().endswith("eV/atom")


def test_load_model_from_files_and_from_the_database_agree(finished_campaign, exported):
    start = read(exported / "sp_test_set.xyz", index=0)
    energies = []
    for calculator in (perovflow.load_model(exported / "model_final.npz"),
                       perovflow.load_model(exported / "model_final.json"),
                       perovflow.load_model(finished_campaign.store, tag="final"),
                       perovflow.load_model(campaign="exchange", tag="final", uri=finished_campaign.target.uri,
                                            database=finished_campaign.target.database)):
        atoms = start.copy()
        atoms.calc = calculator
        energies.append((atoms.get_potential_energy(), atoms.get_forces().copy(), atoms.get_stress().copy()))
        assert calculator.record["tag"] == "final"
    for energy, forces, stress in energies[1:]:
        assert energy == energies[0][0]
        assert np.array_equal(forces, energies[0][1]) and np.array_equal(stress, energies[0][2])


def test_a_card_that_does_not_match_its_file_is_refused(exported, tmp_path):
    card = json.loads((exported / "model_final.json").read_text())
    (tmp_path / "model_final.npz").write_bytes((exported / "model_final.npz").read_bytes())
    (tmp_path / "model_final.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(ValueError, match="do not belong together"):
        perovflow.load_model(tmp_path / "model_final.npz")


def test_ase_db_format(finished_campaign, tmp_path):
    from ase.db import connect

    out = run_cli("export", "exchange", "-o", tmp_path / "db", "--format", "ase-db", "--models", "none",
                  *finished_campaign.options())
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "db").iterdir()) == ["al_data.db", "calibration_set.db", "test_set.db",
                                                                 "train_set.db"]
    with connect(tmp_path / "db" / "train_set.db") as db:
        rows = list(db.select())
        read_count = len(rows)
        assert all(row.phase == "Pnma" and row.engine == "chgnet" and not row.is_dft for row in rows)
        atoms = rows[0].toatoms()
        assert atoms.get_potential_energy() and atoms.get_forces().shape == (len(atoms), 3)
        assert atoms.get_stress().shape == (6,)
    store = finished_campaign.store
    xyz = len(store.load_model(tag=store.latest_model_tag("initial"))[1]["training_ids"])
    assert read_count == xyz


def test_refusals_write_nothing(finished_campaign, tmp_path):
    options = finished_campaign.options()
    missing = run_cli("export", "nosuch", "-o", tmp_path / "a", *options)
    assert missing.returncode == 2 and "no campaign 'nosuch'" in missing.stderr and "exchange" in missing.stderr
    assert not (tmp_path / "a").exists()
    bad_format = run_cli("export", "exchange", "-o", tmp_path / "a", "--format", "cif", *options)
    assert bad_format.returncode == 2 and "extxyz" in bad_format.stderr and "ase-db" in bad_format.stderr
    bad_tag = run_cli("export", "exchange", "-o", tmp_path / "a", "--models", "nosuch", *options)
    assert bad_tag.returncode == 2 and "no model nosuch" in bad_tag.stderr and "final" in bad_tag.stderr
    assert not (tmp_path / "a").exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    refused = run_cli("export", "exchange", "-o", full, *options)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert [p.name for p in full.iterdir()] == ["notes.txt"]
    forced = run_cli("export", "exchange", "-o", full, "--force", "--models", "none", *options)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in full.iterdir()) == ["al_data.xyz", "calibration_set.xyz", "notes.txt",
                                                      "test_set.xyz", "train_set.xyz"]
    assert not [p for p in full.iterdir() if p.name.startswith(".")]  # no temporary file left
