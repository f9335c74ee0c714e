"""Selection of structures: constrained k-means and alternatives, batches, pruning.

Science code only: arrays in, arrays out; no FireWorks or database imports.
"""
from __future__ import annotations

from perovflow.selection.checks import check_sizes
from perovflow.selection.constrained import constrained_kmeans, warm_start
from perovflow.selection.kmeans import batches_one_per_cluster, kmeans_labels
from perovflow.selection.methods import METHODS, SIZE_BOUNDED, check_method, cluster
from perovflow.selection.pruning import PICKS, prune
from perovflow.selection.reduction import pca_reduce
from perovflow.selection.result import ClusteringResult

__all__ = [
    "METHODS", "PICKS", "SIZE_BOUNDED", "ClusteringResult", "batches_one_per_cluster", "check_method",
    "check_sizes", "cluster", "constrained_kmeans", "kmeans_labels", "pca_reduce", "prune", "warm_start",
]
