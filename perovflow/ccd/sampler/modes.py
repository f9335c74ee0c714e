"""Symmetry-adapted displacement modes of the 2x2x2 reference supercell and
symmetry-adapted homogeneous strains of the cubic cell.

The displacement representation of the supercell's symmetry group (the 48 cubic point
operations about a B site times the 8 translations of the supercell) is split into
irreducible subspaces with the same machinery as the CCDs; the three uniform translations
are removed. Strains are split into the A1g (volume), Eg (tetragonal/orthorhombic) and
T2g (shear) subspaces of m-3m.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from perovflow.ccd.descriptor.groups import character_table, cubic_group, irreducible_blocks
from perovflow.ccd.descriptor.reference import CubicPerovskite, ReferenceSupercell


def displacement_representation(supercell: ReferenceSupercell) -> np.ndarray:
    """Matrices (|G|, 3N, 3N) with u' = Gamma(g) u (atoms in reference order)."""
    ref = supercell.fractional_positions * np.asarray(supercell.size)  # lattice units
    size = np.asarray(supercell.size)
    mats = []
    for r in cubic_group():
        for t in supercell.cells:
            image = ref @ r.T + t
            perm = np.empty(len(ref), dtype=int)
            for i, p in enumerate(image):
                diff = (p[None] - ref) / size
                diff -= np.rint(diff)
                perm[i] = int(np.argmin(np.abs(diff).sum(axis=1)))
            g = np.zeros((3 * len(ref), 3 * len(ref)))
            for i, j in enumerate(perm):
                g[3 * j:3 * j + 3, 3 * i:3 * i + 3] = r
            mats.append(g)
    return np.array(mats)


@lru_cache(maxsize=4)
def displacement_modes(size: tuple[int, int, int] = (2, 2, 2)) -> tuple[np.ndarray, ...]:
    """Orthonormal bases (3N, d) of the irreducible displacement subspaces, translations removed."""
    supercell = ReferenceSupercell(CubicPerovskite(), size)
    rep = displacement_representation(supercell)
    n = rep.shape[1]
    translation = np.zeros((n, 3))
    for k in range(3):
        translation[k::3, k] = 1.0
    # the orthogonal complement of the uniform translations is itself invariant
    q, _ = np.linalg.qr(np.hstack([translation, np.eye(n)]))
    complement = q[:, 3:n]
    m = complement.shape[1]
    tmp = (rep.reshape(-1, n) @ complement).reshape(len(rep), n, m)  # Gamma C
    restricted = (complement.T @ tmp.transpose(1, 0, 2).reshape(n, -1)).reshape(m, len(rep), m).transpose(1, 0, 2)
    out = [complement @ block for block in irreducible_blocks(restricted, seed=1)]
    return tuple(out)


# strain vector (e_xx, e_yy, e_zz, e_yz, e_xz, e_xy) bases of the m-3m strain irreps
STRAIN_SUBSPACES: dict[str, np.ndarray] = {
    "A1g": np.array([[1, 1, 1, 0, 0, 0]]) / np.sqrt(3.0),
    "Eg": np.array([[1, -1, 0, 0, 0, 0], [1, 1, -2, 0, 0, 0]]) / np.array([[np.sqrt(2.0)], [np.sqrt(6.0)]]),
    "T2g": np.eye(6)[3:],
}


def strain_tensor(vector: np.ndarray) -> np.ndarray:
    """Symmetric 3x3 strain from (e_xx, e_yy, e_zz, e_yz, e_xz, e_xy)."""
    v = np.asarray(vector, float)
    return np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])


def strain_irreps() -> dict[str, int]:
    """Check of the strain split by character projection: label -> multiplicity."""
    ops = cubic_group()
    table = character_table(ops)
    chi = []
    for r in ops:
        basis = [strain_tensor(e) for e in np.eye(6)]
        images = [r @ b @ r.T for b in basis]
        vec = np.array([[m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]] for m in images])
        # the metric on strain vectors: shear components count twice
        w = np.array([1, 1, 1, 2, 2, 2.0])
        chi.append(float(np.trace((vec * w) @ np.linalg.inv(np.diag(w)))))
    mult = table.multiplicities(np.array(chi))
    return {label: int(m) for label, m in zip(table.labels, mult) if m}


def canonical_strain(tensor: np.ndarray) -> tuple:
    """A representative of the cubic orbit of a strain (for wedge sampling/uniqueness)."""
    return max(tuple(np.round((r @ tensor @ r.T).ravel(), 8)) for r in cubic_group())
