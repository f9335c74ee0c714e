"""FHI-aims relaxations under the symmetry constraint: ASE's BFGS drives one FHI-aims single
point per step (geometry.in can express fixed atoms only).

``aims.x`` is the Lennard-Jones stand-in of :mod:`tests.aims_standin`; everything else
(inputs, custodian, handlers, the output parser, folder reuse) is the engine's own.
"""
from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from ase.constraints import FixAtoms

from perovflow.engines.aims.engine import AimsEngine
from perovflow.engines.aims.inputs import AimsSettings
from perovflow.engines.base import EngineError
from perovflow.structures import PerovskiteSystem, SymmetryConstraint
from perovflow.structures.generator import build_structure
from tests.aims_standin import LJ, runs, standin_aims

SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Br",))


@pytest.fixture
def lj_aims(tmp_path, monkeypatch):
    return standin_aims(tmp_path, monkeypatch)


def _start():
    """Pnma CsPbBr3 with Cs and Pb pushed off their sites, halides on theirs."""
    reference = build_structure(SYSTEM, "Pnma")
    atoms = reference.copy()
    rng = np.random.default_rng(3)
    free = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s != "Br"]
    atoms.positions[free] += rng.normal(scale=0.15, size=(len(free), 3))
    return atoms, reference, free


def test_symmetry_constrained_relaxation_runs_one_aims_single_point_per_step(tmp_path, species_dir, lj_aims):
    command, log = lj_aims
    engine = AimsEngine(AimsSettings(k_grid=(1, 1, 1)), command=command, species_dir=species_dir,
                        workdir=tmp_path / "runs", frozen_timeout=60.0, polling_time_step=0.05)
    atoms, reference, free = _start()
    constraint = SymmetryConstraint(atoms, reference=reference)
    atoms.set_constraint(constraint)

    relaxation = engine.relax(atoms, fmax=0.05, max_steps=8)

    steps = len(relaxation.structures)
    assert steps == len(relaxation.labels) >= 3
    assert runs(log) == steps  # one FHI-aims run per force call, nothing else
    assert len(list((tmp_path / "runs").glob("sp-*"))) == steps
    # every label is the stand-in's result for that very geometry
    for structure, label in zip(relaxation.structures, relaxation.labels):
        plain = structure.copy()
        plain.set_constraint()
        plain.calc = LennardJones(**LJ)
        assert label.engine == "fhi-aims" and label.is_dft
        assert label.energy == pytest.approx(plain.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(label.forces, plain.get_forces(), atol=1e-8)
    assert relaxation.labels[-1].energy < relaxation.labels[0].energy
    # A and B moved freely; the halides only along symmetric displacements
    first, last = relaxation.structures[0], relaxation.structures[-1]
    assert np.abs(last.positions[free] - first.positions[free]).max() > 1e-3
    halides = constraint.index
    moved = last.positions[halides] - first.positions[halides]
    np.testing.assert_allclose(constraint._symmetrise_vectors(first.cell, moved), moved, atol=1e-8)
    np.testing.assert_allclose(last.cell.array, first.cell.array)

    # a rerun (a Firework run again) reuses every finished step: no new FHI-aims run
    again = engine.relax(atoms, fmax=0.05, max_steps=8)
    assert runs(log) == steps
    assert [label.energy for label in again.labels] == [label.energy for label in relaxation.labels]


def test_fixed_atoms_still_use_aims_own_relaxer(tmp_path, species_dir, lj_aims):
    """geometry.in can hold FixAtoms: the relaxation is one FHI-aims run with relax_geometry."""
    command, log = lj_aims
    engine = AimsEngine(AimsSettings(k_grid=(1, 1, 1)), command=command, species_dir=species_dir,
                        workdir=tmp_path / "runs", frozen_timeout=60.0, polling_time_step=0.05)
    atoms, _, _ = _start()
    atoms.set_constraint(FixAtoms(indices=[0]))
    engine.relax(atoms, fmax=0.05, max_steps=8)
    folders = list((tmp_path / "runs").glob("relax-*"))
    assert len(folders) == 1 and runs(log) == 1
    control = (folders[0] / "control.in").read_text()
    assert "relax_geometry" in control and "trm 0.05" in control
    assert "constrain_relaxation .true." in (folders[0] / "geometry.in").read_text()


def test_symmetric_cell_relaxation_moves_the_cell_with_the_aims_stress(tmp_path, species_dir, lj_aims):
    command, log = lj_aims
    engine = AimsEngine(AimsSettings(k_grid=(1, 1, 1), compute_stress=True), command=command,
                        species_dir=species_dir, workdir=tmp_path / "runs", frozen_timeout=60.0,
                        polling_time_step=0.05)
    atoms, reference, _ = _start()
    atoms.set_constraint(SymmetryConstraint(atoms, reference=reference))
    relaxation = engine.relax(atoms, fmax=0.05, max_steps=3, cell="symmetric")
    assert runs(log) == len(relaxation.labels) == len(relaxation.structures)
    first = relaxation.structures[0].copy()
    first.set_constraint()
    first.calc = LennardJones(**LJ)
    # the parsed stress is the stand-in's, in ASE's Voigt order and units
    np.testing.assert_allclose(relaxation.labels[0].stress, first.get_stress(), atol=1e-7)
    end = relaxation.structures[-1]
    assert abs(end.get_volume() / first.get_volume() - 1) > 1e-4
    # without the stress the cell cannot move: the engine says so instead of relaxing at fixed cell
    plain = AimsEngine(AimsSettings(k_grid=(1, 1, 1)), command=command, species_dir=species_dir,
                       workdir=tmp_path / "plain", frozen_timeout=60.0, polling_time_step=0.05)
    with pytest.raises(EngineError, match="compute_stress: true"):
        plain.relax(atoms, fmax=0.05, max_steps=2, cell="symmetric")
