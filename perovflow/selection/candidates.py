"""The sparse point-centre graph of constrained k-means, kept between iterations.

Every point keeps ``width`` candidate centres (nearest by squared distance minus the
cluster's price), their squared distances, and a lower
bound on ``d(i, j) - price[j]`` over the centres it does not keep, valid for the prices
it was taken with (:meth:`CandidateGraph.bound_for` shifts it to other prices). After the centres move, only the distances to the centres that moved
are computed (all of them when most moved); the bound is carried over with the price
drift, so it stays a true lower bound and the certificate in
:mod:`perovflow.selection.constrained` remains exact.
"""
from __future__ import annotations

import numpy as np

from perovflow.selection.distances import BLOCK_ROWS, _block_sqdist

FULL_PASS_FRACTION = 0.35


class CandidateGraph:
    def __init__(self, features: np.ndarray, norms: np.ndarray, width: int, n_clusters: int):
        self.features = features
        self.norms = norms
        self.width = min(width, n_clusters)
        self.n_clusters = n_clusters
        n = features.shape[0]
        self.heads = np.zeros((n, self.width), dtype=np.int64)
        self.sqdist = np.zeros((n, self.width))
        self.bound = np.full(n, -np.inf)
        self.references = [np.zeros(n_clusters)]
        self.reference_of = np.zeros(n, dtype=np.int64)
        self.centres: np.ndarray | None = None

    # -- passes ---------------------------------------------------------------------------
    def update(self, centres: np.ndarray, prices: np.ndarray | None) -> str:
        """Bring the graph up to date with ``centres``; returns "full" or "partial"."""
        prices = np.zeros(self.n_clusters) if prices is None else prices
        if self.centres is None:
            moved = np.arange(self.n_clusters)
        else:
            moved = np.flatnonzero(np.any(centres != self.centres, axis=1))
        kind = "full" if moved.size > FULL_PASS_FRACTION * self.n_clusters else "partial"
        if kind == "full":
            self._full(centres, prices)
        elif moved.size:
            self._partial(centres, prices, moved)
        else:
            self._rebase(prices)
        self.centres = centres.copy()
        return kind

    def _full(self, centres, prices) -> None:
        k, w = self.n_clusters, self.width
        centre_norms = np.einsum("ij,ij->i", centres, centres)
        for start in range(0, self.features.shape[0], BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, self.features.shape[0])
            d = _block_sqdist(np.asarray(self.features[start:stop], dtype=np.float64), self.norms[start:stop],
                              centres, centre_norms)
            if w == k:
                idx = np.broadcast_to(np.arange(k), (stop - start, k))
                self.bound[start:stop] = np.inf
            else:
                adjusted = d - prices[None, :]
                part = np.argpartition(adjusted, w, axis=1)
                idx = part[:, :w]
                self.bound[start:stop] = np.take_along_axis(adjusted, part[:, w:w + 1], axis=1)[:, 0]
            self.heads[start:stop] = idx
            self.sqdist[start:stop] = np.take_along_axis(d, idx, axis=1)
        self._single_reference(prices)

    def _partial(self, centres, prices, moved) -> None:
        w = self.width
        position = np.full(self.n_clusters, -1)
        position[moved] = np.arange(moved.size)
        sub = centres[moved]
        sub_norms = np.einsum("ij,ij->i", sub, sub)
        shifted = self.bound_for(prices)
        for start in range(0, self.features.shape[0], BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, self.features.shape[0])
            d = _block_sqdist(np.asarray(self.features[start:stop], dtype=np.float64), self.norms[start:stop],
                              sub, sub_norms)
            heads = self.heads[start:stop]
            kept_d = self.sqdist[start:stop].copy()
            pos = position[heads]
            r, c = np.nonzero(pos >= 0)
            kept_d[r, c] = d[r, pos[r, c]]  # kept candidates that moved: new distances
            fresh = d - prices[moved][None, :]
            fresh[r, pos[r, c]] = np.inf  # already a candidate
            pool_heads = np.concatenate([heads, np.broadcast_to(moved, fresh.shape)], axis=1)
            pool_d = np.concatenate([kept_d, d], axis=1)
            pool_adj = np.concatenate([kept_d - prices[heads], fresh], axis=1)
            part = np.argpartition(pool_adj, w - 1, axis=1)
            keep, drop = part[:, :w], part[:, w:]
            self.heads[start:stop] = np.take_along_axis(pool_heads, keep, axis=1)
            self.sqdist[start:stop] = np.take_along_axis(pool_d, keep, axis=1)
            dropped = np.take_along_axis(pool_adj, drop, axis=1).min(axis=1)
            # centres never kept and not moved: old bound, shifted by the price drift
            self.bound[start:stop] = np.minimum(shifted[start:stop], dropped)
        self._single_reference(prices)

    def _rebase(self, prices) -> None:
        self.bound = self.bound_for(prices)
        self._single_reference(prices)

    def _single_reference(self, prices) -> None:
        self.references = [prices.copy()]
        self.reference_of[:] = 0

    def bound_for(self, prices: np.ndarray) -> np.ndarray:
        """Per point, a lower bound on d(i, j) - prices[j] over the centres it does not keep."""
        drift = np.array([np.max(prices - ref) for ref in self.references])
        return self.bound - drift[self.reference_of]

    # -- arcs for the flow ----------------------------------------------------------------
    def arcs(self, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat (rows, heads, sqdist): the candidates, plus every point's own centre."""
        n = self.features.shape[0]
        heads, sqdist = self.heads, self.sqdist
        if labels is not None:
            heads = np.concatenate([heads, labels[:, None]], axis=1)
            sqdist = np.concatenate([sqdist, self._own(labels)[:, None]], axis=1)
        rows = np.repeat(np.arange(n, dtype=np.int64), heads.shape[1])
        return rows, heads.ravel(), sqdist.ravel()

    def _own(self, labels: np.ndarray) -> np.ndarray:
        """Squared distance of every point to its own centre (same formula as the passes)."""
        out = np.empty(labels.size)
        centre_norms = np.einsum("ij,ij->i", self.centres, self.centres)
        for start in range(0, labels.size, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, labels.size)
            rows = np.asarray(self.features[start:stop], dtype=np.float64)
            own = self.centres[labels[start:stop]]
            d = self.norms[start:stop] + centre_norms[labels[start:stop]] - 2.0 * np.einsum("ij,ij->i", rows, own)
            out[start:stop] = np.maximum(d, 0.0)
        return out

    def refresh_rows(self, rows: np.ndarray, distances: np.ndarray, prices: np.ndarray) -> None:
        """Exact entries for ``rows`` from their distances to all centres, their bound
        taken with ``prices``."""
        w, k = self.width, self.n_clusters
        adjusted = distances - prices[None, :]
        if w == k:
            idx = np.broadcast_to(np.arange(k), distances.shape)
            bound = np.full(rows.size, np.inf)
        else:
            part = np.argpartition(adjusted, w, axis=1)
            idx = part[:, :w]
            bound = np.take_along_axis(adjusted, part[:, w:w + 1], axis=1)[:, 0]
        self.heads[rows] = idx
        self.sqdist[rows] = np.take_along_axis(distances, idx, axis=1)
        self.bound[rows] = bound
        if not any(ref is prices for ref in self.references):
            self.references.append(prices)
        self.reference_of[rows] = next(i for i, ref in enumerate(self.references) if ref is prices)
