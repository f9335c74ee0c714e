"""Relaxation constraint of Homm et al. 2025 (IV.B): halides and lattice keep the parent phase's
symmetry while the A and B atoms move freely.

The parent space group is found with spglib from the halide sublattice with every halide
treated as one species (the undistorted single-halide template of the phase). Each
operation maps halide sites onto halide sites; halide displacements and forces, the
cell deformation and the stress are replaced by their averages over the group, which
is the orthogonal projection onto the symmetric subspace. A and B are left untouched.
Works with any ASE optimizer and with ``FrechetCellFilter`` / ``UnitCellFilter``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import spglib
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

from perovflow.structures.system import ALLOWED_X


class SymmetryConstraint:
    """Keep the ``indices`` (default: every halide) and the cell in the parent symmetry.

    ``reference``: structure whose halide sublattice defines the parent symmetry and the
    site mapping (default: ``atoms`` itself, which must then be undistorted, such as the
    relaxation starting structures). Atom order must be the same in both.
    """

    def __init__(
        self,
        atoms: Atoms,
        indices: Sequence[int] | None = None,
        reference: Atoms | None = None,
        symprec: float = 1e-3,
    ) -> None:
        if not symprec > 0:
            raise ValueError(f"symprec: expected a positive tolerance, got {symprec!r}")
        ref = atoms if reference is None else reference
        if len(ref) != len(atoms):
            raise ValueError(
                f"reference: has {len(ref)} atoms but atoms has {len(atoms)}; allowed: the same structure"
            )
        if indices is None:
            symbols = atoms.get_chemical_symbols()
            indices = [i for i, s in enumerate(symbols) if s in ALLOWED_X]
        self.index = np.asarray(indices, dtype=int)
        if self.index.size == 0:
            raise ValueError("indices: no halide atoms to constrain")
        self.symprec = float(symprec)
        frac = ref.cell.scaled_positions(ref.positions[self.index]) % 1.0
        lattice = np.array(ref.cell)
        try:
            with warnings.catch_warnings():  # spglib 2.x notice about its error handling
                warnings.simplefilter("ignore", DeprecationWarning)
                data = spglib.get_symmetry_dataset(
                    (lattice, frac, np.ones(len(frac), dtype=int)), symprec=self.symprec
                )
        except Exception:  # spglib.error.SpglibError with the new error handling
            data = None
        if data is None:
            raise ValueError("reference: spglib could not find the symmetry of the halide sublattice")
        self.space_group_number = int(data.number)
        self.international = str(data.international)
        self.rotations = np.asarray(data.rotations, dtype=float)  # fractional, column convention
        self.translations = np.asarray(data.translations, dtype=float)
        self.maps = self._site_maps(frac, lattice)

    def _site_maps(self, frac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
        """maps[g, i] = j: operation g sends halide i onto halide j."""
        maps = np.empty((len(self.rotations), len(frac)), dtype=int)
        for g, (rot, trans) in enumerate(zip(self.rotations, self.translations)):
            image = frac @ rot.T + trans
            diff = image[:, None, :] - frac[None, :, :]
            diff -= np.round(diff)
            dist = np.linalg.norm(diff @ lattice, axis=-1)
            maps[g] = np.argmin(dist, axis=1)
            if dist[np.arange(len(frac)), maps[g]].max() > 10 * self.symprec + 1e-6 or len(
                set(maps[g].tolist())
            ) != len(frac):
                raise ValueError("reference: a symmetry operation does not map halide sites onto each other")
        return maps

    def _cartesian_rotations(self, cell: np.ndarray) -> np.ndarray:
        # x = L^T f (L rows are lattice vectors), so R_cart = L^T R (L^T)^-1
        lt = np.asarray(cell).T
        return lt @ self.rotations @ np.linalg.inv(lt)

    def _symmetrise_vectors(self, cell: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        rc = self._cartesian_rotations(cell)  # (G, 3, 3)
        rotated = np.einsum("gab,ib->gia", rc, vectors)
        out = np.zeros_like(vectors)
        for g in range(len(rc)):
            np.add.at(out, self.maps[g], rotated[g])
        return out / len(rc)

    def _symmetrise_tensor(self, cell: np.ndarray, tensor: np.ndarray) -> np.ndarray:
        rc = self._cartesian_rotations(cell)
        return np.einsum("gab,bc,gdc->ad", rc, tensor, rc) / len(rc)

    # ASE constraint interface -------------------------------------------------------
    def adjust_positions(self, atoms: Atoms, new: np.ndarray) -> None:
        step = new[self.index] - atoms.positions[self.index]
        new[self.index] = atoms.positions[self.index] + self._symmetrise_vectors(atoms.cell, step)

    def adjust_forces(self, atoms: Atoms, forces: np.ndarray) -> None:
        forces[self.index] = self._symmetrise_vectors(atoms.cell, forces[self.index])

    def adjust_momenta(self, atoms: Atoms, momenta: np.ndarray) -> None:
        self.adjust_forces(atoms, momenta)

    def adjust_cell(self, atoms: Atoms, cell) -> None:
        current = np.array(atoms.cell)
        target = np.array(cell)
        # rows: target = current @ F; in Cartesian column form the deformation is F^T
        deformation = np.linalg.solve(current, target).T - np.eye(3)
        deformation = self._symmetrise_tensor(current, deformation)
        cell.array[:] = current @ (np.eye(3) + deformation).T

    def adjust_stress(self, atoms: Atoms, stress: np.ndarray) -> None:
        full = voigt_6_to_full_3x3_stress(stress)
        stress[:] = full_3x3_to_voigt_6_stress(self._symmetrise_tensor(atoms.cell, full))

    def get_removed_dof(self, atoms: Atoms) -> int:
        """Degrees of freedom removed: 3 n - trace of the projector onto symmetric displacements."""
        rc = self._cartesian_rotations(atoms.cell)
        fixed = self.maps == np.arange(self.maps.shape[1])[None, :]
        trace = float((fixed.sum(axis=1) * np.trace(rc, axis1=1, axis2=2)).sum() / len(rc))
        return int(round(3 * self.index.size - trace))

    def index_shuffle(self, atoms: Atoms, ind) -> None:
        raise NotImplementedError("SymmetryConstraint cannot follow a reordering of atoms")

    def copy(self) -> SymmetryConstraint:
        import copy

        return copy.deepcopy(self)

    def todict(self) -> dict:
        return {"name": type(self).__name__,
                "kwargs": {"indices": self.index.tolist(), "symprec": self.symprec}}

    def __repr__(self) -> str:
        return (f"SymmetryConstraint({self.international} ({self.space_group_number}), "
                f"{self.index.size} atoms, {len(self.rotations)} operations)")
