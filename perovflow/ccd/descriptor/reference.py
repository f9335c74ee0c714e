"""The cubic perovskite reference crystal (Pm-3m, B at the origin) and its supercells.

Sites are ``(sublattice, n)`` with ``n`` an integer cell vector; positions are in units
of the cubic lattice constant. Sublattices: 0 = A at (1/2, 1/2, 1/2), 1 = B at the
origin, 2/3/4 = X at the face centres (1/2,0,0), (0,1/2,0), (0,0,1/2). The space group is
symmorphic: every operation is a cubic point operation about the B site followed by a
lattice translation.

Supercell atom order (the same as :mod:`perovflow.structures.phases` for 2x2x2): all A
(one per cell), all B, then per cell the three X along +a, +b, +c; cells are numbered
``(i * L1 + j) * L2 + k``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ase import Atoms

from perovflow.ccd.descriptor.groups import cubic_group

SUBLATTICE_BASIS = np.array(
    [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]
)
SUBLATTICE_ROLE = ("A", "B", "X", "X", "X")

Site = tuple[int, tuple[int, int, int]]


def site_position(site: Site) -> np.ndarray:
    """Position (units of the lattice constant) of ``(sublattice, n)``."""
    return SUBLATTICE_BASIS[site[0]] + np.asarray(site[1], float)


def identify_site(position: np.ndarray) -> Site:
    """The site at ``position`` (lattice units); ValueError if none is there."""
    p = np.asarray(position, float)
    for s, b in enumerate(SUBLATTICE_BASIS):
        n = p - b
        r = np.rint(n)
        if np.abs(n - r).max() < 1e-6:
            return s, (int(r[0]), int(r[1]), int(r[2]))
    raise ValueError(f"no perovskite site at {p}")


def apply_operation(rotation: np.ndarray, translation: np.ndarray, site: Site) -> Site:
    return identify_site(rotation @ site_position(site) + translation)


@dataclass(frozen=True)
class CubicPerovskite:
    """Reference crystal A B X3 with cubic lattice constant ``a0`` (Angstrom)."""

    a: str = "Cs"
    b: str = "Pb"
    x: str = "Br"
    a0: float = 5.87

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a0) and 2.0 < self.a0 < 15.0):
            raise ValueError(f"reference.a0: expected a lattice constant in (2, 15) Angstrom, got {self.a0}")

    @property
    def species(self) -> tuple[str, ...]:
        return tuple({"A": self.a, "B": self.b, "X": self.x}[r] for r in SUBLATTICE_ROLE)

    @staticmethod
    def point_operations() -> np.ndarray:
        return cubic_group()


@dataclass(frozen=True)
class ReferenceSupercell:
    """An ``L1 x L2 x L3`` supercell of the cubic reference, atoms in the documented order."""

    crystal: CubicPerovskite
    size: tuple[int, int, int] = (2, 2, 2)

    def __post_init__(self) -> None:
        if len(self.size) != 3 or any(int(v) < 1 for v in self.size):
            raise ValueError(f"supercell: expected three positive integers, got {self.size}")
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.size))

    @property
    def n_atoms(self) -> int:
        return 5 * self.n_cells

    @cached_property
    def cells(self) -> np.ndarray:
        """Cell vectors in atom-order numbering, shape (n_cells, 3)."""
        return np.array(list(itertools.product(*(range(v) for v in self.size))), dtype=int)

    def cell_index(self, n: np.ndarray) -> int:
        l1, l2, l3 = self.size
        return int((n[0] * l2 + n[1]) * l3 + n[2])

    def atom_index(self, sublattice: int, cell: int) -> int:
        nc = self.n_cells
        if sublattice == 0:
            return cell
        if sublattice == 1:
            return nc + cell
        return 2 * nc + 3 * cell + (sublattice - 2)

    def locate(self, site: Site) -> tuple[int, np.ndarray]:
        """Atom index of ``site`` in the supercell and the supercell-lattice shift of the
        periodic image it stands for."""
        n = np.asarray(site[1], int)
        size = np.asarray(self.size)
        home = np.mod(n, size)
        return self.atom_index(site[0], self.cell_index(home)), (n - home) // size

    @cached_property
    def sublattice_of_atom(self) -> np.ndarray:
        out = np.empty(self.n_atoms, dtype=int)
        for c in range(self.n_cells):
            for s in range(5):
                out[self.atom_index(s, c)] = s
        return out

    @cached_property
    def fractional_positions(self) -> np.ndarray:
        """Reference fractional coordinates of the supercell's atoms, shape (n_atoms, 3)."""
        out = np.empty((self.n_atoms, 3))
        for c, n in enumerate(self.cells):
            for s in range(5):
                out[self.atom_index(s, c)] = (SUBLATTICE_BASIS[s] + n) / np.asarray(self.size)
        return out

    @property
    def cell(self) -> np.ndarray:
        return np.diag(np.asarray(self.size, float) * self.crystal.a0)

    @cached_property
    def symbols(self) -> list[str]:
        species = self.crystal.species
        return [species[s] for s in self.sublattice_of_atom]

    def atoms(self) -> Atoms:
        """The undistorted reference supercell as ASE ``Atoms``."""
        return Atoms(self.symbols, scaled_positions=self.fractional_positions, cell=self.cell, pbc=True)
