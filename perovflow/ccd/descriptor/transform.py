"""Symmetry-adapted transformation of pair deformations into collective cluster
deformations (CCDs), q = Q e, and the appendix's optimised (whitened, truncated) CCDs.

``Q`` block-diagonalises the permutation representation Gamma(g) of the cluster point
group on the pairs: its rows span irreducible subspaces, found per pair orbit by the
character projectors of the group's own (computed) character table. The CCDs are
grouped by irreducible representation; D(g) = Q Gamma(g) Q^T is their representation.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from perovflow.ccd.descriptor.clusters import ClusterOrbit
from perovflow.ccd.descriptor.groups import CharacterTable, character_table, irreducible_blocks
from perovflow.ccd.descriptor.metrics import deformation


@dataclass(frozen=True)
class CCDBasis:
    """Rows of ``matrix`` (n_ccd, n_pairs) map pair deformations to CCDs."""

    matrix: np.ndarray
    irreps: tuple[str, ...]  # label of each CCD
    blocks: tuple[tuple[int, ...], ...]  # CCD indices of each irreducible block
    representation: np.ndarray  # (m, n_ccd, n_ccd): q' = D(g) q
    table: CharacterTable
    eigenvalues: np.ndarray | None = None  # optimised CCDs: variance of each CCD before whitening

    @property
    def n_ccd(self) -> int:
        return self.matrix.shape[0]

    def decomposition(self) -> dict[str, int]:
        """Irreducible label -> how many times it occurs among the blocks."""
        out: dict[str, int] = {}
        for block in self.blocks:
            label = self.irreps[block[0]]
            out[label] = out.get(label, 0) + 1
        return out


def pair_orbits_of(rep: np.ndarray) -> list[list[int]]:
    """Pairs grouped into orbits of the point group (connected by the permutations)."""
    n = rep.shape[1]
    seen, orbits = set(), []
    for p in range(n):
        if p in seen:
            continue
        images = sorted({int(np.argmax(rep[g][:, p])) for g in range(len(rep))})
        seen.update(images)
        orbits.append(images)
    return orbits


def _gram_schmidt(columns: np.ndarray, rank: int) -> np.ndarray:
    basis: list[np.ndarray] = []
    for v in columns.T:
        w = v - sum((b @ v) * b for b in basis) if basis else v.copy()
        norm = np.linalg.norm(w)
        if norm > 1e-8:
            basis.append(w / norm)
        if len(basis) == rank:
            break
    return np.array(basis)


def _fix_sign(row: np.ndarray) -> np.ndarray:
    nz = np.flatnonzero(np.abs(row) > 1e-9)
    return -row if len(nz) and row[nz[0]] < 0 else row


@lru_cache(maxsize=64)
def symmetry_adapted_basis(orbit: ClusterOrbit) -> CCDBasis:
    """The orthogonal symmetry-adapted transformation of ``orbit``'s pair deformations."""
    rotations, _ = orbit.point_group
    rep = orbit.pair_representation
    table = character_table(rotations)
    rows: list[np.ndarray] = []
    labels: list[str] = []
    blocks: list[tuple[int, ...]] = []
    porbits = pair_orbits_of(rep)
    for irrep in range(len(table.labels)):
        for pairs in porbits:
            sub = rep[:, pairs][:, :, pairs]
            chi = np.trace(sub, axis1=1, axis2=2)
            mult = int(table.multiplicities(chi)[irrep])
            if mult == 0:
                continue
            projector = table.projector(irrep, sub)
            dim = table.dimensions[irrep]
            span = _gram_schmidt(projector, mult * dim)  # (mult*dim, len(pairs))
            if mult == 1:
                pieces = [span]
            else:
                restricted = np.einsum("ai,gij,bj->gab", span, sub, span)
                pieces = [(b.T @ span) for b in irreducible_blocks(restricted)]
            for piece in pieces:
                start = len(rows)
                for r in piece:
                    full = np.zeros(rep.shape[1])
                    full[pairs] = r
                    rows.append(_fix_sign(full) if len(piece) == 1 else full)
                    labels.append(table.labels[irrep])
                blocks.append(tuple(range(start, len(rows))))
    matrix = np.array(rows)
    if matrix.shape[0] != rep.shape[1]:
        raise RuntimeError("symmetry-adapted basis is incomplete")
    representation = np.einsum("ai,gij,bj->gab", matrix, rep, matrix)
    return CCDBasis(matrix=matrix, irreps=tuple(labels), blocks=tuple(blocks),
                    representation=representation, table=table)


def deformation_dof(n_sites: int) -> int:
    """Internal degrees of freedom of an n-site cluster in 3D (3n - 6; 1 for a pair, 3 for
    a non-collinear triplet)."""
    return {1: 0, 2: 1, 3: 3}.get(n_sites, 3 * n_sites - 6)


def correlation_matrix(orbit: ClusterOrbit, metric: str, sigma_fraction: float = 0.15,
                       n_samples: int = 20000, seed: int = 0) -> np.ndarray:
    """Overlap Lambda_pq = <e_p e_q> of the pair deformation metrics over isotropic normal
    displacements of the sites (std ``sigma_fraction`` x the shortest pair length),
    sampled (seeded) and symmetrised with the cluster point group."""
    if not 0 < sigma_fraction < 1:
        raise ValueError(f"descriptor.optimised_sigma: expected a fraction in (0, 1), got {sigma_fraction}")
    rng = np.random.default_rng(seed)
    ref = orbit.positions
    sigma = sigma_fraction * orbit.reference_lengths.min()
    x = ref[None] + rng.normal(0.0, sigma, (n_samples,) + ref.shape)
    j, k = np.array(orbit.pairs).T
    d = np.linalg.norm(x[:, k] - x[:, j], axis=-1)
    e = deformation(d, orbit.reference_lengths[None], metric)
    lam = e.T @ e / n_samples
    rep = orbit.pair_representation
    return np.einsum("gij,jk,glk->il", rep, lam, rep) / len(rep)


@lru_cache(maxsize=64)
def optimised_basis(orbit: ClusterOrbit, metric: str = "linear", sigma_fraction: float = 0.15,
                    truncate: bool = True, n_samples: int = 20000, seed: int = 0) -> CCDBasis:
    """The appendix's optimised CCDs: Q_opt = Lambda_diag^(-1/2) V^T, with V the eigenvectors
    of the correlation matrix, found inside each isotypic component so that the result
    stays block-diagonal; ordered by decreasing eigenvalue and, with ``truncate``, cut to
    the first 3N-6 CCDs (whole irreducible blocks)."""
    base = symmetry_adapted_basis(orbit)
    lam = base.matrix @ correlation_matrix(orbit, metric, sigma_fraction, n_samples, seed) @ base.matrix.T
    entries = []  # (eigenvalue, rows in sa coords (d, n), label)
    for label in dict.fromkeys(base.irreps):
        idx = [i for i, l in enumerate(base.irreps) if l == label]
        dim = base.table.dimensions[base.table.labels.index(label)]
        values, vectors = np.linalg.eigh(lam[np.ix_(idx, idx)])
        order = np.argsort(values)[::-1]
        for start in range(0, len(idx), dim):
            cols = order[start:start + dim]
            rows = np.zeros((dim, base.n_ccd))
            rows[:, idx] = vectors[:, cols].T
            entries.append((float(values[cols].mean()), rows, label))
    entries.sort(key=lambda t: -t[0])
    keep = len(entries)
    if truncate:
        target, count = deformation_dof(orbit.n_sites), 0
        for keep, (_, rows, _) in enumerate(entries, start=1):
            count += len(rows)
            if count >= target:
                break
    entries = entries[:keep]
    u = np.vstack([rows / np.sqrt(max(value, 1e-300)) for value, rows, _ in entries])  # sa coords
    uinv = np.vstack([rows * np.sqrt(max(value, 1e-300)) for value, rows, _ in entries])
    representation = np.einsum("ab,gbc,dc->gad", u, base.representation, uinv)
    labels, blocks, eig = [], [], []
    for value, rows, label in entries:
        start = len(labels)
        labels += [label] * len(rows)
        eig += [value] * len(rows)
        blocks.append(tuple(range(start, len(labels))))
    return CCDBasis(matrix=u @ base.matrix, irreps=tuple(labels), blocks=tuple(blocks),
                    representation=representation, table=base.table, eigenvalues=np.array(eig))


def cluster_ccds(positions: np.ndarray, orbit: ClusterOrbit, basis: CCDBasis, a0: float,
                 metric: str = "linear") -> np.ndarray:
    """CCDs of clusters with site ``positions`` (..., n_sites, 3) in Angstrom."""
    pairs = np.array(orbit.pairs)
    diff = positions[..., pairs[:, 1], :] - positions[..., pairs[:, 0], :]
    d = np.linalg.norm(diff, axis=-1)
    e = deformation(d, orbit.reference_lengths * a0, metric)
    return e @ basis.matrix.T


__all__ = ["CCDBasis", "symmetry_adapted_basis", "optimised_basis", "correlation_matrix",
           "cluster_ccds", "deformation_dof", "pair_orbits_of"]
