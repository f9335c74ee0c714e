"""Dataset pruning (Homm et al. 2025, Secs. II.D and III.C).

The relaxation snapshots are clustered into as many clusters as snapshots to keep, and one
snapshot is kept per cluster. The paper says the step works "similarly to step 1", where the
structures are picked at random from each cluster, so the default pick is ``"random"``;
``"centre"`` keeps the member nearest to the cluster mean instead.
"""
from __future__ import annotations

import numpy as np

from perovflow.selection.checks import check_features, check_int, check_seed
from perovflow.selection.methods import cluster

PICKS = ("random", "centre")


def prune(features: np.ndarray, n_keep: int, seed: int = 0, pick: str = "random",
          method: str = "constrained") -> np.ndarray:
    """Indices (ascending) of ``n_keep`` rows of ``features``, one from each of ``n_keep`` clusters.

    Every cluster has at least one member (the clustering is run with ``min_size=1``), so
    the indices are always ``n_keep`` distinct rows. Deterministic for a given seed.
    """
    data = check_features(features)
    n = data.shape[0]
    n_keep = check_int("n_keep", n_keep, 1)
    seed = check_seed(seed)
    if n_keep > n:
        raise ValueError(f"n_keep ({n_keep}) exceeds the number of snapshots ({n})")
    if pick not in PICKS:
        raise ValueError(f"pick: unknown choice {pick!r}; allowed: {', '.join(PICKS)}")
    if n_keep == n:
        return np.arange(n)
    result = cluster(data, n_keep, method=method, min_size=1 if method != "kmeans" else None, seed=seed)
    labels = result.labels
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_keep))
    ends = np.append(starts[1:], n)
    kept = np.empty(n_keep, dtype=np.int64)
    for c in range(n_keep):
        members = order[starts[c]:ends[c]]
        if members.size == 0:
            raise RuntimeError(f"cluster {c} is empty; cannot keep one snapshot from it")
        if pick == "random":
            kept[c] = members[rng.integers(members.size)]
        else:
            centre = data[members].mean(axis=0)
            kept[c] = members[np.argmin(((data[members] - centre) ** 2).sum(axis=1))]
    return np.sort(kept)
