"""Polynomials of the CCDs that are invariant under the cluster point group, generated
by the Reynolds operator R[m](q) = 1/|G| sum_g m(D(g) q) applied to monomials m.

D(g) is block-diagonal (one block per irreducible subspace), so the image of a degree-k
monomial involves at most (block size)^k monomials; the images are built exactly as
sparse coefficient rows and a linearly independent set is kept, in monomial order,
until it has as many members as Molien's formula says there are invariants.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
from scipy import sparse


def monomials(n: int, degree: int) -> np.ndarray:
    """Exponent-free monomials as sorted variable-index tuples, shape (N, degree)."""
    return np.array(list(itertools.combinations_with_replacement(range(n), degree)), dtype=np.int64).reshape(-1, degree)


def _codes(index_tuples: np.ndarray, n: int) -> np.ndarray:
    weights = n ** np.arange(index_tuples.shape[-1] - 1, -1, -1, dtype=np.int64)
    return index_tuples @ weights


def molien_counts(representation: np.ndarray, max_degree: int) -> list[int]:
    """Number of linearly independent invariants of each degree 0..max_degree:
    1/|G| sum_g h_k(eigenvalues of D(g)), with h_k by Newton's identities."""
    reps = np.asarray(representation, float)
    counts = []
    powers = [np.einsum("gii->g", np.linalg.matrix_power(reps, j)) for j in range(1, max_degree + 1)]
    h = [np.ones(len(reps))]
    for k in range(1, max_degree + 1):
        h.append(sum(powers[j - 1] * h[k - j] for j in range(1, k + 1)) / k)
    for k in range(max_degree + 1):
        counts.append(int(round(float(h[k].mean()))))
    return counts


def reynolds_images(representation: np.ndarray, blocks: tuple[tuple[int, ...], ...], degree: int) -> sparse.csr_matrix:
    """Row m = coefficients (over ``monomials(n, degree)``) of R[monomial m]."""
    reps = np.asarray(representation, float)
    n = reps.shape[1]
    width = max(len(b) for b in blocks)
    members = np.zeros((n, width), dtype=np.int64)
    valid = np.zeros((n, width), dtype=bool)
    for b in blocks:
        for i in b:
            members[i, : len(b)] = b
            valid[i, : len(b)] = True
    monos = monomials(n, degree)
    n_mono = len(monos)
    # variable-index tuples of every term of the expanded product, (N, width^k, k)
    grids = np.stack(np.meshgrid(*[np.arange(width)] * degree, indexing="ij"), axis=-1).reshape(-1, degree)
    idx = np.stack([members[monos[:, j]][:, grids[:, j]] for j in range(degree)], axis=-1)
    ok = np.all(np.stack([valid[monos[:, j]][:, grids[:, j]] for j in range(degree)], axis=-1), axis=-1)
    cols = np.searchsorted(_codes(monos, n), _codes(np.sort(idx, axis=-1), n))
    coeff = np.zeros((n_mono, width**degree))
    for d in reps:
        rowvals = np.where(valid, d[np.arange(n)[:, None], members], 0.0)  # (n, width)
        term = rowvals[monos[:, 0]]
        for j in range(1, degree):
            term = (term[:, :, None] * rowvals[monos[:, j]][:, None, :]).reshape(n_mono, -1)
        coeff += term
    coeff /= len(reps)
    coeff[~ok] = 0.0
    rows = np.repeat(np.arange(n_mono), width**degree)
    mat = sparse.coo_matrix((coeff.ravel(), (rows, cols.ravel())), shape=(n_mono, n_mono)).tocsr()
    mat.data[np.abs(mat.data) < 1e-12] = 0.0
    mat.eliminate_zeros()
    return mat


def _independent_rows(mat: sparse.csr_matrix, target: int) -> tuple[list[int], np.ndarray]:
    """Greedy, in row order: the first rows that are linearly independent, up to ``target``."""
    chosen: list[int] = []
    basis = np.zeros((0, mat.shape[1]))
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    seen: set[bytes] = set()
    for i in np.flatnonzero(norms > 1e-10):
        if len(chosen) == target:
            break
        v = mat.getrow(i).toarray().ravel() / norms[i]
        nz = np.flatnonzero(np.abs(v) > 1e-9)
        v = v if v[nz[0]] > 0 else -v
        key = np.round(v, 8).tobytes()
        if key in seen:
            continue
        seen.add(key)
        w = v - basis.T @ (basis @ v) if len(basis) else v
        norm = np.linalg.norm(w)
        if norm > 1e-7:
            chosen.append(int(i))
            basis = np.vstack([basis, w / norm])
    return chosen, basis


@dataclass(frozen=True)
class InvariantPolynomials:
    """Invariant polynomials of n variables up to ``max_degree`` (degree >= 1)."""

    n_variables: int
    max_degree: int
    monomials: tuple[np.ndarray, ...]  # per degree 1..K: (N_k, k)
    coefficients: tuple[sparse.csr_matrix, ...]  # per degree: (n_inv_k, N_k)
    generators: tuple[np.ndarray, ...]  # per degree: generating monomial of each invariant

    @property
    def n_features(self) -> int:
        return sum(c.shape[0] for c in self.coefficients)

    @property
    def degrees(self) -> np.ndarray:
        return np.concatenate([np.full(c.shape[0], k + 1) for k, c in enumerate(self.coefficients)])

    def evaluate(self, q: np.ndarray) -> np.ndarray:
        """Invariants of CCD vectors ``q`` (..., n) -> (..., n_features)."""
        q = np.asarray(q, float)
        lead = q.shape[:-1]
        flat = q.reshape(-1, self.n_variables)
        out = []
        for monos, coeff in zip(self.monomials, self.coefficients):
            if coeff.shape[0] == 0:
                continue
            values = np.prod(flat[:, monos], axis=-1)  # (S, N_k)
            out.append(np.asarray((coeff @ values.T).T))
        result = np.concatenate(out, axis=1) if out else np.zeros((len(flat), 0))
        return result.reshape(lead + (result.shape[1],))

    def checksum(self) -> str:
        h = hashlib.sha256()
        for c in self.coefficients:
            h.update(np.round(c.toarray(), 10).tobytes())
        return h.hexdigest()[:16]


def invariant_polynomials(representation: np.ndarray, blocks: tuple[tuple[int, ...], ...],
                          max_degree: int) -> InvariantPolynomials:
    """Reynolds-operator basis of the invariants of degree 1..``max_degree``."""
    if isinstance(max_degree, bool) or not isinstance(max_degree, int) or not 1 <= max_degree <= 6:
        raise ValueError(f"descriptor.order: expected an integer polynomial order in 1..6, got {max_degree!r}")
    n = np.asarray(representation).shape[1]
    counts = molien_counts(representation, max_degree)
    monos, coeffs, gens = [], [], []
    for k in range(1, max_degree + 1):
        images = reynolds_images(representation, blocks, k)
        chosen, _ = _independent_rows(images, counts[k])
        if len(chosen) != counts[k]:
            raise RuntimeError(f"Reynolds operator gave {len(chosen)} invariants of degree {k}, Molien says {counts[k]}")
        rows = images[chosen]
        scale = np.abs(rows).max(axis=1).toarray().ravel() if rows.shape[0] else np.ones(0)
        rows = sparse.diags(1.0 / np.where(scale > 0, scale, 1.0)) @ rows
        all_monos = monomials(n, k)
        monos.append(all_monos)
        coeffs.append(sparse.csr_matrix(rows))
        gens.append(all_monos[chosen])
    return InvariantPolynomials(n_variables=n, max_degree=max_degree, monomials=tuple(monos),
                                coefficients=tuple(coeffs), generators=tuple(gens))
