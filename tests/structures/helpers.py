"""Shared helpers for the structure tests."""
from __future__ import annotations

import warnings

import numpy as np
import spglib
from ase import Atoms

HALIDE_NUMBERS = (9, 17, 35, 53)


def _dataset(cell, frac, numbers, symprec):
    with warnings.catch_warnings():  # spglib 2.x deprecation notice about error handling
        warnings.simplefilter("ignore", DeprecationWarning)
        return spglib.get_symmetry_dataset((np.array(cell), frac, numbers), symprec=symprec)


def space_group(atoms: Atoms, symprec: float = 1e-3) -> int:
    return int(_dataset(atoms.cell, atoms.get_scaled_positions(), atoms.numbers, symprec).number)


def halide_space_group(atoms: Atoms, symprec: float = 1e-4) -> int:
    """Space group of the halide sublattice with all halides as one species."""
    idx = [i for i, z in enumerate(atoms.numbers) if z in HALIDE_NUMBERS]
    frac = atoms.get_scaled_positions()[idx]
    return int(_dataset(atoms.cell, frac, np.ones(len(idx), int), symprec).number)
