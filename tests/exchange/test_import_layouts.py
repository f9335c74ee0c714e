"""``perovflow import`` of both published layouts, written here by the test: the paper's
extended XYZ (energy, forces, stress) and the earlier CsPb(Cl/Br)3 per-phase
``structures.xyz`` + ``etot.dat`` (energies only)."""
from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from perovflow.exchange.imports import labels_hash
from perovflow.structures.identity import structure_id
from tests.exchange.conftest import perovflow


def cubic(rng: np.random.Generator, halides: list[str]) -> Atoms:
    """A 5-atom CsPbX3 cell with rattled atoms."""
    atoms = Atoms(["Cs", "Pb", *halides], cell=np.eye(3) * 5.8, pbc=True,
                  scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    atoms.positions += rng.normal(scale=0.05, size=(5, 3))
    return atoms


def options(target) -> list[str]:
    return ["--uri", target.uri, "--database", target.database]


def test_paper_layout_with_forces_and_stress_is_imported_once(target, mongo_db, tmp_path):
    rng = np.random.default_rng(1)
    images = []
    for halides in (["Cl", "Cl", "Br"], ["Br", "Br", "Br"], ["Cl", "Br", "Br"]):
        atoms = cubic(rng, halides)
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal(-17, 1)), forces=rng.normal(size=(5, 3)),
                                           stress=rng.normal(scale=1e-3, size=6))
        images.append(atoms)
    path = tmp_path / "sp_train_set.xyz"
    write(path, images, format="extxyz")  # as ASE writes it (8 decimals), like a published file

    out = perovflow("import", path, "--campaign", "dft", "--labels", "aims-pbe", "--dft", *options(target))
    assert out.returncode == 0, out.stderr
    assert "3 structures, 3 new labels, 0 already stored" in out.stdout
    labels = list(mongo_db.calculations.find({"engine": "aims-pbe"}))
    assert len(labels) == 3 and {c["settings_hash"] for c in labels} == {labels_hash("aims-pbe")}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for label, atoms in zip(sorted(labels, key=lambda c: c["source"]["index"]), images):
        assert label["is_dft"] is True and label["status"] == "completed" and label["imported"] is True
        assert label["source"]["file"] == "sp_train_set.xyz" and label["source"]["sha256"] == digest
        assert label["energy"] == atoms.get_potential_energy()
        assert label["energy_per_atom"] == atoms.get_potential_energy() / 5
        assert np.allclose(label["forces"], atoms.get_forces(), atol=1e-8)
        assert np.allclose(label["stress"], atoms.get_stress(), atol=1e-8)
    members = list(mongo_db.members.find({"campaign": "dft"}))
    assert {m["role"] for m in members} == {"pool"}  # the paper's training set
    assert sorted(m["composition"] for m in members) == ["Br3", "Cl1Br2", "Cl2Br1"]

    again = perovflow("import", path, "--campaign", "dft", "--labels", "aims-pbe", "--dft", *options(target))
    assert again.returncode == 0, again.stderr
    assert "0 new labels, 3 already stored" in again.stdout
    assert mongo_db.calculations.count_documents({}) == 3 and mongo_db.structures.count_documents({}) == 3


def test_per_phase_layout_with_energies_only(target, mongo_db, tmp_path):
    rng = np.random.default_rng(2)
    written = {}
    for phase, folder in (("Pm-3m", "cubic"), ("Pnma", "Pnma")):
        (tmp_path / "set" / folder).mkdir(parents=True)
        images = [cubic(rng, ["Cl", "Br", "Br"]) for _ in range(3)]
        energies = rng.normal(-17, 1, size=3)
        write(tmp_path / "set" / folder / "structures.xyz", images, format="extxyz")
        (tmp_path / "set" / folder / "etot.dat").write_text("".join(f"{float(e)!r}\n" for e in energies))
        written[phase] = (read(tmp_path / "set" / folder / "structures.xyz", index=":"), energies)

    out = perovflow("import", tmp_path / "set", "--campaign", "old", "--labels", "pbe-2022", "--dft",
                    *options(target))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(per-phase,") == 2
    for phase, (images, energies) in written.items():
        for atoms, energy in zip(images, energies):
            label = mongo_db.calculations.find_one({"structure_id": structure_id(atoms)})
            assert label["energy"] == energy and label["is_dft"] is True and "forces" not in label
            assert label["source"]["layout"] == "per-phase" and label["source"]["file"] == "structures.xyz"
            member = mongo_db.members.find_one({"structure_id": structure_id(atoms)})
            assert member["phase"] == phase and member["role"] == "imported"

    again = perovflow("import", tmp_path / "set", "--campaign", "old", "--labels", "pbe-2022", "--dft",
                      *options(target))
    assert again.returncode == 0 and again.stdout.count("0 new labels") == 2
    assert mongo_db.calculations.count_documents({}) == 6


def test_bad_files_and_undeclared_dft_store_nothing(target, mongo_db, tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "Pnma").mkdir()
    write(tmp_path / "Pnma" / "structures.xyz", [cubic(rng, ["Br"] * 3) for _ in range(2)], format="extxyz")
    (tmp_path / "Pnma" / "etot.dat").write_text("-17.0\n")
    no_energy = tmp_path / "plain.xyz"
    write(no_energy, [cubic(rng, ["Br"] * 3)], format="extxyz")
    good = tmp_path / "good.xyz"
    atoms = cubic(rng, ["Cl"] * 3)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
    write(good, [atoms], format="extxyz")

    short = perovflow("import", good, tmp_path / "Pnma", "--campaign", "c", "--labels", "x", "--dft",
                      *options(target))
    assert short.returncode == 2 and "2 structures but etot.dat has 1 energies" in short.stderr
    missing = perovflow("import", good, no_energy, "--campaign", "c", "--labels", "x", "--no-dft", *options(target))
    assert missing.returncode == 2 and "frame 0 has no energy" in missing.stderr
    undeclared = perovflow("import", good, "--campaign", "c", "--labels", "x", *options(target))
    assert undeclared.returncode == 2 and "--dft" in undeclared.stderr
    assert mongo_db.calculations.count_documents({}) == 0 and mongo_db.structures.count_documents({}) == 0
