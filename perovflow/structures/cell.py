"""Which degrees of freedom a relaxation moves: the atoms only, or atoms and cell.

Homm et al. 2025 (IV.B) relax the lattice parameters within the phase's space group, so
``symmetric`` (the default) hands the optimiser ASE's ``UnitCellFilter`` over the
structure; the structure's :class:`SymmetryConstraint` then keeps the cell deformation in
the parent symmetry. ``FrechetCellFilter`` reached the same minima (0.045 meV/atom apart)
in as many BFGS steps but took 40.5 ms per ML step against 23.7 (``expm_frechet`` nine
times per step; benchmarks/bench_cell_relaxation.py, 8 relaxations of 40-atom cells).
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
