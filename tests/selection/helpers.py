"""Shared data and baselines for the selection tests."""
from __future__ import annotations

import numpy as np


def blobs(sizes: list[int], dim: int = 6, spread: float = 10.0, seed: int = 0) -> np.ndarray:
    """Gaussian blobs of the given sizes (unit width) around centres ``spread`` apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(len(sizes), dim))
    return np.vstack([c + rng.normal(size=(s, dim)) for c, s in zip(centres, sizes)])


def uneven_pool(n: int = 900, dim: int = 8, seed: int = 0) -> np.ndarray:
    """Dense core plus sparse halo: plain k-means leaves many small clusters in the halo."""
    rng = np.random.default_rng(seed)
    core = rng.normal(scale=0.5, size=(int(0.8 * n), dim))
    halo = rng.normal(scale=4.0, size=(n - len(core), dim))
    return np.vstack([core, halo])


def kmeans_objective(features: np.ndarray, labels: np.ndarray) -> float:
    total = 0.0
    for c in np.unique(labels):
        rows = features[labels == c]
        total += float(((rows - rows.mean(axis=0)) ** 2).sum())
    return total


def kmeans_with_repair(features: np.ndarray, n_clusters: int, min_size: int, seed: int = 0) -> np.ndarray:
    """Baseline: plain k-means, then greedily move into every undersized cluster the
    nearest points of clusters that can spare them."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(features)
    labels = model.labels_.copy()
    centres = model.cluster_centers_
    while True:
        sizes = np.bincount(labels, minlength=n_clusters)
        short = np.flatnonzero(sizes < min_size)
        if short.size == 0:
            return labels
        c = short[np.argmin(sizes[short])]
        donors = np.flatnonzero(sizes[labels] > min_size)
        d = ((features[donors] - centres[c]) ** 2).sum(axis=1)
        labels[donors[np.argmin(d)]] = c
