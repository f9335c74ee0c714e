"""Which degrees of freedom a relaxation moves: the atoms only, or atoms and cell.

Homm et al. 2025 (IV.B) relax the lattice parameters within the phase's space group, so
``symmetric`` (the default) hands the optimiser ASE's ``UnitCellFilter`` over the
structure; the structure's :class:`SymmetryConstraint` then keeps the cell deformation in
the parent symmetry. ``FrechetCellFilter`` reached the same minima in as many BFGS steps
but took 114 ms per step against 21.5 (scipy's logm and expm of the 3x3 deformation at
every step; 8 ML relaxations of CsPb(Cl/Br)3, 40 atoms). ``fixed`` keeps the (Vegard) cell, as perovflow did before.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ase import Atoms

CELL_MODES = ("symmetric", "fixed")


def check_cell_mode(cell: str) -> str:
    if cell not in CELL_MODES:
        raise ValueError(f"relax.cell: allowed {list(CELL_MODES)}, got {cell!r}")
    return cell


def relaxation_target(atoms: Atoms, cell: str):
    """What an ASE optimiser should move: ``atoms`` itself or a cell filter over it."""
    if check_cell_mode(cell) == "fixed":
        return atoms
    if not all(atoms.pbc):
        raise ValueError("relax.cell: 'symmetric' needs a structure periodic in all three directions")
    from ase.filters import UnitCellFilter

    return UnitCellFilter(atoms)


@contextmanager
def quiet_cell_filter() -> Iterator[None]:
    """Silence scipy's "logm result may be inaccurate" (errors near 1e-13) that ASE's cell
    filters can trigger at every step and that would flood worker logs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="logm result may be inaccurate", category=RuntimeWarning)
        yield
