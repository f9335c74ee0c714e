"""Real CP2K (Debian's cp2k.psmp, one rank, one thread) on a 5-atom cubic CsPbBr3 cell."""
from __future__ import annotations

import numpy as np
import pytest
from cp2k_testkit import cspbbr3

from perovflow.engines.base import EngineError
from perovflow.engines.cp2k import Cp2kEngine, find_binary
from perovflow.engines.cp2k.settings import data_dir

pytestmark = pytest.mark.slow

if find_binary() is None:
    pytest.skip("cp2k not installed: apt-get install cp2k", allow_module_level=True)
if not (data_dir() / "BASIS_MOLOPT").is_file():
    pytest.skip(f"cp2k data files not found in {data_dir()}: apt-get install cp2k-data",
                allow_module_level=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("cp2k_runs")


@pytest.fixture(scope="module")
def converged(runs):
    return Cp2kEngine(workdir=runs).single_point(cspbbr3())


def test_single_point_converges_without_corrections(converged):
    assert np.isfinite(converged.energy) and converged.energy < 0
    assert converged.forces.shape == (5, 3) and np.all(np.isfinite(converged.forces))
    assert converged.stress.shape == (6,)
    assert converged.corrections == []
    assert converged.engine == "cp2k" and converged.is_dft
    assert converged.program_version.startswith("CP2K version ")  # read from cp2k.out
    # forces along y and z vanish by symmetry; their sum is zero
    assert np.allclose(converged.forces[:, 1:], 0, atol=1e-5)
    assert np.allclose(converged.forces.sum(axis=0), 0, atol=1e-4)


def test_forces_are_minus_the_energy_gradient(converged, runs):
    engine, step = Cp2kEngine(workdir=runs), 0.01
    energies = []
    for sign in (1, -1):
        atoms = cspbbr3()
        atoms.positions[0, 0] += sign * step
        energies.append(engine.single_point(atoms).energy)
    numeric = -(energies[0] - energies[1]) / (2 * step)
    assert converged.forces[0, 0] == pytest.approx(numeric, abs=2e-3)


def test_handler_rescues_an_unconverged_scf(converged, runs):
    label = Cp2kEngine(workdir=runs, max_scf=2, eps_scf=1e-8).single_point(cspbbr3())
    assert len(label.corrections) >= 1
    first = label.corrections[0]
    assert first["handler"] == "ScfConvergenceHandler" and first["step"] == "raise_max_scf"
    assert "SCF run NOT converged" in first["errors"][0]
    assert label.energy == pytest.approx(converged.energy, abs=1e-3)
    assert np.allclose(label.forces, converged.forces, atol=1e-3)


def test_gives_up_when_no_correction_is_allowed(tmp_path):
    # a folder of its own: in ``runs`` the label the handler rescued above (same physics:
    # max_scf is an SCF aid) would be reused without running CP2K
    engine = Cp2kEngine(workdir=tmp_path, max_scf=2, eps_scf=1e-8, max_corrections=0)
    with pytest.raises(EngineError) as caught:
        engine.single_point(cspbbr3())
    assert "SCF run NOT converged" in caught.value.reason
    assert "MaxCorrectionsPerHandlerError" in caught.value.reason
    assert caught.value.corrections == []


def test_relax_drives_single_points_and_moves_the_cell_with_cp2ks_stress(runs):
    from perovflow.structures import SymmetryConstraint

    start = cspbbr3(a=6.2, cs_shift=0.15)
    start.set_constraint(SymmetryConstraint(start, reference=cspbbr3(a=6.2, cs_shift=0.0)))
    relaxation = Cp2kEngine(workdir=runs).relax(start, fmax=0.01, max_steps=1, cell="symmetric")
    assert not relaxation.converged
    assert len(relaxation.labels) == len(relaxation.structures) == 2
    assert relaxation.labels[1].energy < relaxation.labels[0].energy
    assert not np.allclose(relaxation.structures[0].positions, relaxation.structures[1].positions)
    assert all(label.stress is not None for label in relaxation.labels)
    first, second = (np.array(s.cell) for s in relaxation.structures)
    assert abs(np.linalg.det(second) / np.linalg.det(first) - 1) > 1e-4  # the cell moved
    assert np.allclose(second, second[0, 0] * np.eye(3), atol=1e-8)  # and stayed cubic
