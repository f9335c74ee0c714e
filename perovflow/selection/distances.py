"""Squared Euclidean distances between structures and centres, in row blocks.

Nothing here holds a full (structures x centres) matrix: rows are processed in blocks so
that the memory stays at ``block x n_clusters`` floats whatever the pool size.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

BLOCK_ROWS = 4096


def row_norms_squared(matrix: np.ndarray, block: int = BLOCK_ROWS) -> np.ndarray:
    out = np.empty(matrix.shape[0], dtype=np.float64)
    for start in range(0, matrix.shape[0], block):
        rows = np.asarray(matrix[start:start + block], dtype=np.float64)
        out[start:start + block] = np.einsum("ij,ij->i", rows, rows)
    return out


def _block_sqdist(rows: np.ndarray, norms: np.ndarray, centres: np.ndarray, centre_norms: np.ndarray) -> np.ndarray:
    d = rows @ centres.T
    d *= -2.0
    d += norms[:, None]
    d += centre_norms[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def candidate_arcs(
    features: np.ndarray,
    centres: np.ndarray,
    n_candidates: int,
    prices: np.ndarray | None = None,
    current: np.ndarray | None = None,
    feature_norms: np.ndarray | None = None,
    block: int = BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arcs from every row to its ``n_candidates`` nearest centres, nearest by squared
    distance minus the centre's price (prices default to 0), plus an arc to its
    ``current`` centre when given.

    Returns ``(rows, heads, sqdist, bound)``: the arcs (grouped by row) with their squared
    distances, and per row the smallest price-adjusted distance of a centre left out
    (``inf`` when every centre is connected).
    """
    n, k = features.shape[0], centres.shape[0]
    n_candidates = min(n_candidates, k)
    width = n_candidates + (0 if current is None else 1)
    heads = np.empty((n, width), dtype=np.int64)
    sqdist = np.empty((n, width), dtype=np.float64)
    bound = np.full(n, np.inf)
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    if feature_norms is None:
        feature_norms = row_norms_squared(features, block)
    everything = n_candidates == k
    for start in range(0, n, block):
        stop = min(start + block, n)
        d = _block_sqdist(np.asarray(features[start:stop], dtype=np.float64), feature_norms[start:stop],
                          centres, centre_norms)
        if everything:
            idx = np.broadcast_to(np.arange(k), (stop - start, k))
        else:
            adjusted = d if prices is None else d - prices[None, :]
            part = np.argpartition(adjusted, n_candidates, axis=1)
            idx = part[:, :n_candidates]
            bound[start:stop] = np.take_along_axis(adjusted, part[:, n_candidates:n_candidates + 1], axis=1)[:, 0]
        heads[start:stop, :n_candidates] = idx
        sqdist[start:stop, :n_candidates] = np.take_along_axis(d, idx, axis=1)
        if current is not None:
            own = current[start:stop].astype(np.intp)
            heads[start:stop, -1] = own
            sqdist[start:stop, -1] = d[np.arange(stop - start), own]
    rows = np.repeat(np.arange(n, dtype=np.int64), width)
    return rows, heads.ravel(), sqdist.ravel(), bound


def rows_sqdist(features: np.ndarray, centres: np.ndarray, rows: np.ndarray,
                block: int = BLOCK_ROWS) -> np.ndarray:
    """Squared distances from the given rows to every centre, shape (len(rows), n_centres)."""
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    out = np.empty((rows.size, centres.shape[0]))
    for start in range(0, rows.size, block):
        chunk = np.asarray(features[rows[start:start + block]], dtype=np.float64)
        out[start:start + block] = _block_sqdist(chunk, np.einsum("ij,ij->i", chunk, chunk), centres, centre_norms)
    return out


def cluster_means(features: np.ndarray, labels: np.ndarray, n_clusters: int,
                  previous: np.ndarray | None = None) -> np.ndarray:
    """Mean of every cluster (an empty cluster keeps its previous centre, or zeros)."""
    n = features.shape[0]
    members = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_clusters, n))
    sums = np.asarray(members @ np.asarray(features, dtype=np.float64))
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    centres = sums / np.maximum(counts, 1.0)[:, None]
    empty = counts == 0
    if empty.any() and previous is not None:
        centres[empty] = previous[empty]
    return centres


def objective(features: np.ndarray, labels: np.ndarray, centres: np.ndarray,
              block: int = BLOCK_ROWS) -> float:
    """Sum of squared distances of every row to its centre (the k-means objective)."""
    total = 0.0
    for start in range(0, features.shape[0], block):
        rows = np.asarray(features[start:start + block], dtype=np.float64)
        diff = rows - centres[labels[start:start + block]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total


def labelled_objective(features: np.ndarray, labels: np.ndarray) -> float:
    """The k-means objective of a labelling with centres at the cluster means.

    Rows with a negative label (noise, e.g. from HDBSCAN) are left out.
    """
    keep = labels >= 0
    if not keep.any():
        return 0.0
    rows = np.flatnonzero(keep)
    sub = labels[rows]
    _, dense = np.unique(sub, return_inverse=True)
    n_clusters = int(dense.max()) + 1
    chosen = np.asarray(features, dtype=np.float64)[rows] if not keep.all() else features
    centres = cluster_means(chosen, dense, n_clusters)
    return objective(chosen, dense, centres)
