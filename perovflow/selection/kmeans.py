"""Plain k-means clustering and batch selection of one structure per cluster."""
from __future__ import annotations

import numpy as np


def kmeans_labels(features: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    if n_clusters < 1:
        raise ValueError(f"selection.clusters must be >= 1, got {n_clusters}")
    if n_clusters > len(features):
        raise ValueError(
            f"selection.clusters ({n_clusters}) exceeds the pool size ({len(features)})"
        )
    model = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed)
    return model.fit_predict(np.asarray(features, dtype=np.float64))


def batches_one_per_cluster(labels: np.ndarray, n_batches: int, seed: int = 0) -> list[list[int]]:
    """``n_batches`` batches, each with one random member of every cluster not yet used up.

    A structure is never picked twice; deterministic for a given seed. Rows labelled -1
    (outliers of HDBSCAN) belong to no cluster and are never picked. Batches stop early when
    every cluster is used up.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected one label per structure (1-D), got shape {labels.shape}")
    if isinstance(n_batches, bool) or not isinstance(n_batches, (int, np.integer)) or n_batches < 0:
        raise ValueError(f"batches: expected an integer >= 0, got {n_batches!r}")
    rng = np.random.default_rng(seed)
    members = {c: rng.permutation(np.flatnonzero(labels == c)).tolist()
               for c in np.unique(labels) if c >= 0}
    batches = []
    for batch in range(n_batches):
        picked = [int(members[c][batch]) for c in sorted(members) if batch < len(members[c])]
        if not picked:
            break
        batches.append(picked)
    return batches
