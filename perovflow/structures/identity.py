"""One identity for a structure: a content hash, and one tolerance test for "the same".

The hash keys structures in the store, engine run folders and label caches; rounding to
1e-5 Å means two structures that differ by less are one structure everywhere.
"""
from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

POSITION_DECIMALS = 5  # Å


def structure_id(atoms: Atoms) -> str:
    """Content hash of atomic numbers, positions and cell (rounded to 1e-5 Å), 24 hex digits."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, np.asarray(atoms.cell)):
        rounded = np.round(np.asarray(array, dtype=float), POSITION_DECIMALS) + 0.0  # +0.0 folds -0.0
        digest.update(rounded.tobytes())
    return digest.hexdigest()[:24]


def same_structure(a: Atoms, b: Atoms, tol: float = 1e-4) -> bool:
    """Same species in the same order, same periodicity and cell, and every atom within
    ``tol`` Å of its counterpart; in a periodic cell distances use the minimum image, so a
    structure whose atoms were wrapped back into the cell is still the same."""
    if len(a) != len(b) or a.get_chemical_symbols() != b.get_chemical_symbols():
        return False
    periodic = bool(a.pbc.any())
    if periodic != bool(b.pbc.any()):
        return False
    diff = a.positions - b.positions
    if periodic:
        if np.abs(a.cell.array - b.cell.array).max() > tol:
            return False
        diff, _ = find_mic(diff, a.cell, pbc=a.pbc)
    return float(np.linalg.norm(diff, axis=1).max(initial=0.0)) <= tol
