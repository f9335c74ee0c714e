"""The relaxation constraint of Homm et al. 2025 (IV.B): halides and cell keep the parent symmetry,
A and B move freely, under ASE optimizers with cell filters."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from ase.filters import FrechetCellFilter, UnitCellFilter
from ase.optimize import BFGS

from perovflow.structures import (
    PHASES,
    SPACE_GROUP_NUMBERS,
    PerovskiteSystem,
    SymmetryConstraint,
    build_structure,
    generate_pool,
    generate_relaxation_starts,
)

from .helpers import halide_space_group

SYSTEM = PerovskiteSystem("Cs", "Sn", ("Cl", "Br", "I"))
# removed halide degrees of freedom: 3 * 24 minus the free Wyckoff parameters of the X sites
REMOVED_DOF = {"Pm-3m": 72, "P4/mbm": 71, "I4/mcm": 71, "Pnma": 67}


def _start(phase: str, seed: int = 0):
    atoms = generate_relaxation_starts(SYSTEM, phases=[phase], per_phase=1, seed=seed)[0]
    # displace A and B so that the forces on the halides break the parent symmetry
    rng = np.random.default_rng(seed)
    atoms.positions[:16] += rng.normal(0.0, 0.15, (16, 3))
    return atoms


def _relax(atoms, cell_filter, steps: int = 6):
    atoms.calc = LennardJones(sigma=3.0, epsilon=0.05, rc=7.0, smooth=True)
    with warnings.catch_warnings():  # scipy's logm accuracy notes inside FrechetCellFilter
        warnings.simplefilter("ignore", RuntimeWarning)
        BFGS(cell_filter(atoms), logfile=None).run(fmax=1e-4, steps=steps)


@pytest.mark.parametrize("phase", PHASES)
def test_constraint_finds_parent_group_from_mixed_halides(phase):
    atoms = _start(phase)
    constraint = SymmetryConstraint(atoms)
    assert constraint.space_group_number == SPACE_GROUP_NUMBERS[phase]
    assert constraint.get_removed_dof(atoms) == REMOVED_DOF[phase]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("cell_filter", [FrechetCellFilter, UnitCellFilter])
def test_relaxation_keeps_halide_and_cell_symmetry_while_a_b_move(phase, cell_filter):
    atoms = _start(phase, seed=1)
    before = atoms.copy()
    atoms.set_constraint(SymmetryConstraint(atoms))
    raw = atoms.copy()
    raw.calc = LennardJones(sigma=3.0, epsilon=0.05, rc=7.0, smooth=True)
    raw_forces = raw.get_forces(apply_constraint=False)
    _relax(atoms, cell_filter)

    # the constraint had work to do: the raw halide forces are not symmetric
    projected = raw_forces.copy()
    SymmetryConstraint(before).adjust_forces(before, projected)
    assert np.abs(projected[16:] - raw_forces[16:]).max() > 1e-3
    # halides and cell keep the parent space group (tight tolerance) ...
    assert halide_space_group(atoms, symprec=1e-5) == SPACE_GROUP_NUMBERS[phase]
    assert not np.allclose(atoms.cell, before.cell, atol=1e-4)  # the cell did relax
    if phase == "Pm-3m":
        a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
        assert np.allclose([b, c], a, atol=1e-8) and np.allclose([alpha, beta, gamma], 90, atol=1e-8)
    if phase in ("P4/mbm", "I4/mcm"):
        a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
        assert b == pytest.approx(a, abs=1e-8)
        assert np.allclose([alpha, beta, gamma], 90, atol=1e-8)
    # ... while A and B moved freely (not just with the cell)
    frac_ab = atoms.get_scaled_positions(wrap=False)[:16]
    frac_ab0 = before.get_scaled_positions(wrap=False)[:16]
    shift = frac_ab - frac_ab0
    assert np.abs(shift - shift.mean(axis=0)).max() > 1e-3


def test_constraint_is_a_projection_and_keeps_symmetric_moves():
    atoms = _start("Pnma", seed=2)
    constraint = SymmetryConstraint(atoms)
    rng = np.random.default_rng(0)
    forces = rng.normal(size=(40, 3))
    once = forces.copy()
    constraint.adjust_forces(atoms, once)
    twice = once.copy()
    constraint.adjust_forces(atoms, twice)
    np.testing.assert_allclose(twice, once, atol=1e-12)
    np.testing.assert_array_equal(once[:16], forces[:16])  # A and B untouched
    stress = rng.normal(size=6)
    constraint.adjust_stress(atoms, stress)
    again = stress.copy()
    constraint.adjust_stress(atoms, again)
    np.testing.assert_allclose(again, stress, atol=1e-12)
    # a symmetric move of the halides (a larger tilt) passes through unchanged
    more = build_structure(SYSTEM, "Pnma", tilt_angles=(10.0, 9.0))
    more.set_cell(atoms.cell, scale_atoms=True)
    new = atoms.positions.copy()
    new[16:] = more.positions[16:]
    target = new.copy()
    constraint.adjust_positions(atoms, new)
    np.testing.assert_allclose(new[16:], target[16:], atol=1e-9)


def test_reference_template_for_perturbed_structures():
    template = build_structure(SYSTEM, "I4/mcm")
    atoms = generate_pool(SYSTEM, phases=["I4/mcm"], per_composition=1, seed=0,
                          compositions=[(8, 8, 8)])[0]
    constraint = SymmetryConstraint(atoms, reference=template)
    assert constraint.space_group_number == 140
    with pytest.raises(ValueError, match="reference"):
        SymmetryConstraint(atoms, reference=template[:39])
