"""Which pool structures a training set of n takes, per selection scheme.

- ``random``: the first n of a random permutation of the pool.
- ``clusters=k``: the pool's MBTR rows in k constrained k-means clusters (kept fixed),
  then batches of one random member per cluster (as the paper's workflow labels them);
  a training set of n is the first n of these batches, each batch in random order.
- ``one cluster per structure``: for every n the pool is clustered into n clusters and one
  random member of each is taken.
"""
from __future__ import annotations

import numpy as np

from perovflow.selection import batches_one_per_cluster, cluster

MAX_MIN_SIZE = 20  # the paper's minimum cluster size for CsSn(Cl/Br/I)3


def min_size_for(n_pool: int, n_clusters: int) -> int:
    """Half the mean cluster size, at most :data:`MAX_MIN_SIZE` and at least 1."""
    return int(max(1, min(MAX_MIN_SIZE, n_pool // (2 * n_clusters))))


def random_order(n_pool: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 1]).permutation(n_pool)


def cluster_order(features: np.ndarray, n_clusters: int, seed: int) -> tuple[np.ndarray, dict]:
    """Pool rows in batch order for k fixed clusters, and what the clustering found."""
    result = cluster(features, n_clusters, method="constrained",
                     min_size=min_size_for(len(features), n_clusters), seed=seed)
    rng = np.random.default_rng([seed, 2])
    batches = batches_one_per_cluster(result.labels, len(features), seed=seed)
    order = np.concatenate([rng.permutation(batch) for batch in batches]).astype(np.intp)
    info = {"clusters": int(result.n_clusters), "min_size": int(result.sizes.min()),
            "max_size": int(result.sizes.max()), "seconds": float(result.info.get("seconds", 0.0))}
    return order, info


def one_per_cluster(features: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n rows, one random member of each of n constrained k-means clusters."""
    result = cluster(features, n, method="constrained", min_size=1, seed=seed)
    batch = batches_one_per_cluster(result.labels, 1, seed=seed)[0]
    return np.asarray(batch, dtype=np.intp)
