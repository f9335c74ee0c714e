"""One identity for a structure: the content hash and the same-structure check.

The same-structure check decides whether an FHI-aims output belongs to the requested
structure and whether a restart re-evaluated the last geometry of the previous run. A
restart writes positions as FHI-aims printed them, and FHI-aims may wrap an atom back
into the cell: plain position differences then see a move of a whole lattice vector.
"""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from perovflow.structures.identity import same_structure, structure_id

A = 5.9  # Å, cubic CsPbBr3


def cspbbr3() -> Atoms:
    # the Cs atom sits right at the cell corner, so a tiny move takes it across the boundary
    return Atoms("CsPbBr3", cell=[A, A, A], pbc=True,
                 positions=[[1e-3, 1e-3, 1e-3], [A / 2, A / 2, A / 2], [A / 2, A / 2, 0.0],
                            [A / 2, 0.0, A / 2], [0.0, A / 2, A / 2]])


def test_an_atom_wrapped_across_the_cell_boundary_is_still_one_structure():
    a = cspbbr3()
    b = a.copy()
    b.positions[0] -= 2e-3           # Cs now at -1e-3 Å: just outside the cell
    b.wrap()                         # ... and wrapped back: at A - 1e-3 Å
    assert np.abs(b.positions[0] - a.positions[0]).max() > A - 0.01  # a lattice vector apart
    c = a.copy()
    c.positions[0] -= 2e-3
    assert same_structure(a, c, tol=5e-3)
    assert same_structure(a, b, tol=5e-3)  # without the minimum image this would be ~A Å apart
    assert same_structure(b, a, tol=5e-3)
    b.positions[0, 1] += 1e-2        # the wrapped atom moved for real
    assert not same_structure(a, b, tol=5e-3)


def test_a_whole_lattice_vector_shift_of_one_atom_is_still_one_structure():
    a = cspbbr3()
    b = a.copy()
    b.positions[2] += a.cell[0] - a.cell[2]
    assert same_structure(a, b)


def test_a_move_larger_than_tol_makes_another_structure():
    a = cspbbr3()
    b = a.copy()
    b.positions[1, 2] += 2e-4
    assert not same_structure(a, b, tol=1e-4)
    assert same_structure(a, b, tol=3e-4)
    c = a.copy()
    c.positions[1, 2] += 5e-5
    assert same_structure(a, c, tol=1e-4)


def test_different_cells_species_or_periodicity_are_different_structures():
    a = cspbbr3()
    strained = a.copy()
    strained.set_cell(a.cell * 1.001, scale_atoms=False)
    assert not same_structure(a, strained)
    swapped = a.copy()
    swapped.symbols[2] = "I"
    assert not same_structure(a, swapped)
    reordered = a[[1, 0, 2, 3, 4]]
    reordered.positions[:2] = a.positions[:2]  # same positions, species in another order
    assert not same_structure(a, reordered)
    fewer = a[:4]
    assert not same_structure(a, fewer)
    molecule = a.copy()
    molecule.pbc = False
    assert not same_structure(a, molecule)


def test_molecules_compare_plain_positions():
    water = Atoms("H2O", positions=[[0.76, 0.59, 0.0], [-0.76, 0.59, 0.0], [0.0, 0.0, 0.0]])
    moved = water.copy()
    moved.positions[0, 0] += 5e-5
    assert same_structure(water, moved)
    moved.positions[0, 0] += 1e-3
    assert not same_structure(water, moved)


def test_structure_id_ignores_negative_zero_and_sub_rounding_noise():
    a = cspbbr3()
    a.positions[4, 0] = 0.0
    negative_zero = a.copy()
    negative_zero.positions[4, 0] = -0.0
    assert np.signbit(negative_zero.positions[4, 0]) and not np.signbit(a.positions[4, 0])
    assert structure_id(negative_zero) == structure_id(a)

    noisy = a.copy()
    noisy.positions += np.random.default_rng(0).uniform(-2e-6, 2e-6, size=noisy.positions.shape)
    assert structure_id(noisy) == structure_id(a)


def test_structure_id_changes_with_a_move_species_or_cell():
    a = cspbbr3()
    sid = structure_id(a)
    assert len(sid) == 24 and int(sid, 16) >= 0
    moved = a.copy()
    moved.positions[1, 0] += 1e-3
    assert structure_id(moved) != sid
    swapped = a.copy()
    swapped.symbols[2] = "I"
    assert structure_id(swapped) != sid
    strained = a.copy()
    strained.set_cell(a.cell * 1.001, scale_atoms=False)
    assert structure_id(strained) != sid


@pytest.mark.parametrize("noise", [1e-7, 4e-6])
def test_structure_id_is_stable_for_noise_well_below_1e_5(noise):
    a = cspbbr3()
    a.positions = np.round(a.positions, 5) + 0.0  # sit on the rounding grid
    b = a.copy()
    b.positions[1] += noise
    assert structure_id(b) == structure_id(a)
