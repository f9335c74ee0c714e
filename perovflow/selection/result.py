"""What every clustering method returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ClusteringResult:
    """Labels (one per structure; -1 marks noise, only HDBSCAN produces it) and facts.

    ``objective`` is the k-means objective: the summed squared Euclidean distance of every
    clustered structure to the mean of its cluster, in the space that was clustered (after
    PCA when PCA was asked for).
    """

    method: str
    labels: np.ndarray
    objective: float
    centres: np.ndarray | None = None
    n_iter: int = 0
    converged: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(np.unique(self.labels[self.labels >= 0]).size)

    @property
    def sizes(self) -> np.ndarray:
        kept = self.labels[self.labels >= 0]
        return np.bincount(kept) if kept.size else np.zeros(0, dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        sizes = self.sizes
        return {
            "method": self.method,
            "n_structures": int(self.labels.size),
            "n_clusters": self.n_clusters,
            "noise": int((self.labels < 0).sum()),
            "min_cluster_size": int(sizes.min()) if sizes.size else 0,
            "max_cluster_size": int(sizes.max()) if sizes.size else 0,
            "objective": float(self.objective),
            "n_iter": int(self.n_iter),
            "converged": bool(self.converged),
            **self.info,
        }
