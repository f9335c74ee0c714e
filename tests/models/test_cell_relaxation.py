"""Cell relaxations with the MBTR-KRR model under the paper's constraint (Homm et al. 2025,
IV.B): the model's stress is the strain derivative of its energy, and a relaxation changes
the volume while the lattice and the halide sublattice keep the phase's space group and
Cs and Pb move freely."""

from __future__ import annotations

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.descriptors.mbtr_strain import k2_derivatives
from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.models.relaxation import ml_relax
from perovflow.structures import PHASES, SymmetryConstraint, generate_pool, generate_relaxation_starts
from tests.models.conftest import SYSTEM
from tests.symmetry_checks import assert_paper_constraint

SPECIES = ("Cs", "Pb", "Cl", "Br")


def _distorted(phase: str, seed: int):
    atoms = generate_relaxation_starts(SYSTEM, phases=(phase,), per_phase=1, seed=seed)[0]
    atoms.rattle(0.05, seed=seed)
    strain = np.eye(3) + 0.01 * np.random.default_rng(seed).normal(size=(3, 3))
    atoms.set_cell(np.array(atoms.cell) @ strain.T, scale_atoms=True)
    return atoms


def _model(normalization: str):
    descriptor = MBTRDescriptor(MBTRSettings(species=SPECIES, normalization=normalization))
    pool = generate_pool(SYSTEM, phases=("Pm-3m", "Pnma"), per_composition=1, seed=11)
    x = descriptor.create(pool)
    projection = np.random.default_rng(1).normal(size=x.shape[1])
    y = -3.0 + 0.05 * np.tanh(x @ projection / np.abs(x @ projection).max())
    return descriptor, KernelRidgeEnergy(KRRHyperparameters(alpha=1e-5, gamma=4.279e-2)).fit(x, y)


@pytest.mark.parametrize("normalization", ["n_atoms", "none"])
def test_features_and_derivatives_match_dscribe_and_the_strain_derivative_finite_differences(normalization):
    settings = MBTRSettings(species=SPECIES, normalization=normalization)
    atoms = _distorted("Pnma", 3)
    terms = k2_derivatives(atoms, settings)
    features, strain = terms.features, terms.strain
    reference, positions = MBTRDescriptor(settings).create_with_derivatives(atoms)
    assert np.abs(features - reference).max() <= 1e-12 * np.abs(reference).max()
    assert np.abs(terms.positions - positions).max() <= 1e-10 * np.abs(positions).max()
    h, eps = 1e-6, np.zeros((3, 3))
    eps[0, 2] = eps[2, 0] = h / 2
    plus, minus = atoms.copy(), atoms.copy()
    plus.set_cell(np.array(atoms.cell) @ (np.eye(3) + eps).T, scale_atoms=True)
    minus.set_cell(np.array(atoms.cell) @ (np.eye(3) - eps).T, scale_atoms=True)
    numeric = (MBTRDescriptor(settings).create([plus])[0] - MBTRDescriptor(settings).create([minus])[0]) / h
    analytic = strain[0, 2] + strain[2, 0]
    assert np.abs(numeric - analytic).max() <= 1e-6 * np.abs(analytic).max()


@pytest.mark.parametrize("normalization", ["n_atoms", "none", "valle_oganov"])
def test_ml_stress_is_the_strain_derivative_of_the_ml_energy(normalization, trained):
    descriptor, model = (trained[0], trained[1]) if normalization == "n_atoms" else _model(normalization)
    atoms = _distorted("I4/mcm", 5)
    atoms.calc = MBTRKRRCalculator(model, descriptor)
    stress = atoms.get_stress()
    volume, h = atoms.get_volume(), 1e-5
    numeric = np.zeros(6)
    for k, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            strained = atoms.copy()
            strained.set_cell(np.array(atoms.cell) @ (np.eye(3) + eps).T, scale_atoms=True)
            strained.calc = MBTRKRRCalculator(model, descriptor)
            energies.append(strained.get_potential_energy())
        numeric[k] = (energies[0] - energies[1]) / (2 * h * volume)
    assert np.abs(stress).max() > 1e-4  # the check is not between two zeros
    assert np.abs(stress - numeric).max() <= 1e-4 * np.abs(numeric).max()


def _relax(trained, phase: str, cell: str, steps: int):
    descriptor, model, _, _ = trained
    start = generate_relaxation_starts(SYSTEM, phases=(phase,), per_phase=1, seed=4)[0]
    trace = ml_relax(start, MBTRKRRCalculator(model, descriptor), fmax=1e-4, max_steps=steps, track_sigma=False,
                     constraint=SymmetryConstraint(start), cell=cell)
    return start, trace


@pytest.mark.parametrize("phase", PHASES)
def test_symmetric_cell_relaxation_keeps_the_phase_and_frees_cs_and_pb(phase, trained):
    start, trace = _relax(trained, phase, "symmetric", 8)
    assert_paper_constraint(start, trace.structures[-1])
    # the optimizer's final force includes the cell's stress terms
    assert trace.final_fmax >= 1e-4 and not trace.converged


def test_fixed_cell_relaxation_keeps_the_cell(trained):
    start, trace = _relax(trained, "Pnma", "fixed", 4)
    assert np.array_equal(np.array(trace.structures[-1].cell), np.array(start.cell))
    with pytest.raises(ValueError, match="relax.cell: allowed \\['symmetric', 'fixed'\\]"):
        ml_relax(start, MBTRKRRCalculator(trained[1], trained[0]), max_steps=1, cell="free")
