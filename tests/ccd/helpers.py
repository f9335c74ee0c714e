"""Shared helpers of the CCD tests: random rotations and cubic images of supercells."""
from __future__ import annotations

import numpy as np
from ase import Atoms


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def cubic_image(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """The distortion of ``atoms`` mapped by the cubic point operation ``rotation`` (about
    the B site at the origin), expressed again in a cell whose vectors point along +x, +y, +z
    (the same lattice, another basis), so that the atoms land on *other* reference sites."""
    cell = atoms.cell.array @ rotation.T
    basis = np.zeros((3, 3))
    for axis in range(3):
        k = int(np.argmax(np.abs(cell[:, axis])))
        basis[axis] = np.sign(cell[k, axis]) * cell[k]
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions @ rotation.T, cell=basis, pbc=True)
    out.wrap()
    return out


def distorted(base: Atoms, seed: int, displacement: float = 0.08, strain: float = 0.01) -> Atoms:
    rng = np.random.default_rng(seed)
    out = base.copy()
    e = rng.normal(0, strain, (3, 3))
    out.set_cell(base.cell.array @ (np.eye(3) + 0.5 * (e + e.T)), scale_atoms=True)
    out.positions += rng.normal(0, displacement, out.positions.shape)
    return out
