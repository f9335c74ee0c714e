"""Extended XYZ as perovflow writes it reads back bit for bit with ASE's reader."""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.io import read

from perovflow.exchange.extxyz import Frame, frames_text
from perovflow.structures.identity import structure_id


def random_frame(rng: np.random.Generator, n: int = 10) -> Frame:
    cell = np.diag([11.2, 11.3, 11.4]) + rng.normal(scale=0.01, size=(3, 3))
    atoms = Atoms(numbers=rng.choice([55, 82, 17, 35], size=n), positions=rng.uniform(0, 11, size=(n, 3)),
                  cell=cell, pbc=True)
    info = {"phase": "P4/mbm", "composition": "Cl8Br16", "is_dft": False, "iteration": 2, "role": "snapshot",
            "structure_id": structure_id(atoms), "purpose": None}
    return Frame(atoms, info, energy=float(rng.normal(-120, 5)), forces=rng.normal(size=(n, 3)),
                 stress=rng.normal(scale=0.01, size=6))


def test_every_number_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(7)
    frames = [random_frame(rng) for _ in range(5)]
    frames.append(Frame(frames[0].atoms, {"role": "test"}, energy=-1.0))  # energy only
    path = tmp_path / "set.xyz"
    path.write_text(frames_text(frames))
    images = read(path, index=":")
    assert len(images) == len(frames)
    for frame, atoms in zip(frames, images):
        assert np.array_equal(atoms.positions, frame.atoms.positions)
        assert np.array_equal(np.asarray(atoms.cell), np.asarray(frame.atoms.cell))
        assert atoms.get_chemical_symbols() == frame.atoms.get_chemical_symbols()
        assert structure_id(atoms) == structure_id(frame.atoms)
        assert atoms.calc.results["energy"] == frame.energy
        for key in ("forces", "stress"):
            value = getattr(frame, key)
            assert (key in atoms.calc.results) == (value is not None)
            if value is not None:
                assert np.array_equal(atoms.calc.results[key], value)
        expected = {k: v for k, v in frame.info.items() if v is not None}
        assert {k: atoms.info[k] for k in expected} == expected
        assert "purpose" not in atoms.info  # None is left out, not written as a flag
