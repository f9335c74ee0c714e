"""spglib views of a relaxed perovskite: the lattice, the halide sublattice (every halide one
species) and the whole structure with the halides as one species."""

from __future__ import annotations

import warnings

import numpy as np
import spglib
from ase import Atoms

from perovflow.structures import ALLOWED_X

SYMPREC = 1e-4


def _dataset(cell, positions, numbers, symprec=SYMPREC):
    cell = np.array(cell)
    frac = np.linalg.solve(cell.T, np.asarray(positions).T).T % 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return spglib.get_symmetry_dataset((cell, frac, np.asarray(numbers)), symprec=symprec)


def halide_indices(atoms: Atoms) -> list[int]:
    return [i for i, s in enumerate(atoms.get_chemical_symbols()) if s in ALLOWED_X]


def halide_space_group(atoms: Atoms) -> int:
    index = halide_indices(atoms)
    return int(_dataset(atoms.cell, atoms.positions[index], np.ones(len(index), int)).number)


def halide_rotations(atoms: Atoms) -> np.ndarray:
    index = halide_indices(atoms)
    return np.asarray(_dataset(atoms.cell, atoms.positions[index], np.ones(len(index), int)).rotations)


def structure_space_group(atoms: Atoms) -> int:
    """The whole structure with every halide as one species: what Cs and B break."""
    numbers = [0 if s in ALLOWED_X else z for s, z in zip(atoms.get_chemical_symbols(), atoms.numbers)]
    return int(_dataset(atoms.cell, atoms.positions, numbers).number)


def metric_keeps(rotations: np.ndarray, cell) -> float:
    """Largest relative change of the metric tensor G = L L^T under the fractional rotations:
    zero when the lattice has the point symmetry of the rotations."""
    lattice = np.array(cell)
    metric = lattice @ lattice.T
    changes = [np.abs(rot.T @ metric @ rot - metric).max() for rot in rotations]
    return float(max(changes) / np.abs(metric).max())


def assert_paper_constraint(start: Atoms, end: Atoms) -> None:
    """A cell relaxation under the paper's constraint: the volume changed, the lattice and the
    halide sublattice keep the start's space group, and Cs and B moved off their sites
    (which breaks that space group for the whole structure)."""
    assert abs(end.get_volume() / start.get_volume() - 1) > 1e-3
    assert halide_space_group(end) == halide_space_group(start)
    assert metric_keeps(halide_rotations(start), end.cell) < SYMPREC
    free = [i for i in range(len(start)) if i not in set(halide_indices(start))]
    assert np.abs(end.get_scaled_positions()[free] - start.get_scaled_positions()[free]).max() > 1e-4
    assert structure_space_group(end) != structure_space_group(start)
