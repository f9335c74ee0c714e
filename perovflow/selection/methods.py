"""Every clustering method of the selection step, chosen by name.

=====================  =====================================================================
``constrained``        perovflow's constrained k-means (size bounds, scales to 130k x 2000)
``k-means-constrained`` the reference package of the paper (same answer; dense flow graph,
                       impractical beyond ~20k x 500)
``kmeans``             ordinary k-means (scikit-learn), no size bounds
``random``             random partition into equal-sized groups: one per group per batch is
                       plain random selection
``birch``              BIRCH (scikit-learn), no size bounds
``hdbscan``            HDBSCAN (scikit-learn); finds its own number of clusters, ``min_size``
                       is its minimum cluster size, outliers get label -1 and are never picked
=====================  =====================================================================
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from perovflow.selection.checks import check_features, check_seed, check_sizes
from perovflow.selection.constrained import Progress, constrained_kmeans
from perovflow.selection.distances import cluster_means, labelled_objective, objective
from perovflow.selection.reduction import pca_reduce
from perovflow.selection.result import ClusteringResult

METHODS = ("constrained", "k-means-constrained", "kmeans", "random", "birch", "hdbscan")
SIZE_BOUNDED = ("constrained", "k-means-constrained", "random")


def _from_labels(method: str, features: np.ndarray, labels: np.ndarray, **info: Any) -> ClusteringResult:
    labels = np.asarray(labels, dtype=np.int64)
    return ClusteringResult(method=method, labels=labels, objective=labelled_objective(features, labels),
                            info=info)


def _constrained(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    return constrained_kmeans(features, n_clusters, low, high, seed, progress=progress, **options)


def _package(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    from k_means_constrained import KMeansConstrained

    model = KMeansConstrained(n_clusters=n_clusters, size_min=low or None,
                              size_max=high if high < features.shape[0] else None,
                              random_state=seed, **options)
    model.fit(features)
    labels = np.asarray(model.labels_, dtype=np.int64)
    centres = cluster_means(features, labels, n_clusters)
    return ClusteringResult(method="k-means-constrained", labels=labels,
                            objective=objective(features, labels, centres), centres=centres,
                            n_iter=int(getattr(model, "n_iter_", 0)),
                            info={"package_inertia": float(model.inertia_)})


def _kmeans(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=n_clusters, n_init=options.pop("n_init", 3), random_state=seed, **options)
    labels = model.fit_predict(features).astype(np.int64)
    return ClusteringResult(method="kmeans", labels=labels, objective=float(model.inertia_),
                            centres=model.cluster_centers_, n_iter=int(model.n_iter_))


def _random(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    if options:
        raise ValueError(f"method 'random' takes no options, got {sorted(options)}")
    n = features.shape[0]
    labels = np.empty(n, dtype=np.int64)
    labels[np.random.default_rng(seed).permutation(n)] = np.arange(n) % n_clusters
    return _from_labels("random", features, labels)


def _birch(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    """BIRCH with ``n_clusters``. Without a ``threshold`` option its default (0.5) is halved
    until BIRCH finds that many subclusters: 0.5 suits unit-variance data, while MBTR rows
    lie far closer together (the demo's CsPb(Cl/Br)3 pool needed 0.0625)."""
    import warnings

    from sklearn.cluster import Birch

    given = "threshold" in options
    threshold = options.pop("threshold", 0.5)
    for _ in range(40):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Number of subclusters found")
            labels = Birch(n_clusters=n_clusters, threshold=threshold, **options).fit_predict(features)
        found = int(np.unique(labels).size)
        if found == n_clusters or given:
            break
        threshold /= 2
    info = {"threshold": threshold}
    if found != n_clusters:
        info["note"] = f"BIRCH found {found} clusters instead of {n_clusters}: lower its threshold option"
    return _from_labels("birch", features, labels, **info)


def _hdbscan(features, n_clusters, low, high, seed, progress, **options) -> ClusteringResult:
    from sklearn.cluster import HDBSCAN

    min_cluster_size = max(2, low) if low else options.pop("min_cluster_size", 5)
    options.setdefault("copy", True)
    labels = HDBSCAN(min_cluster_size=min_cluster_size, **options).fit_predict(features)
    return _from_labels("hdbscan", features, labels, min_cluster_size=min_cluster_size,
                        note="HDBSCAN chooses its own number of clusters; label -1 marks outliers")


_FUNCTIONS: dict[str, Callable[..., ClusteringResult]] = {
    "constrained": _constrained,
    "k-means-constrained": _package,
    "kmeans": _kmeans,
    "random": _random,
    "birch": _birch,
    "hdbscan": _hdbscan,
}


def check_method(method: str) -> str:
    if method not in _FUNCTIONS:
        raise ValueError(f"method: unknown clustering method {method!r}; allowed: {', '.join(METHODS)}")
    return method


def cluster(
    features: np.ndarray,
    n_clusters: int,
    method: str = "constrained",
    min_size: int | None = None,
    max_size: int | None = None,
    seed: int = 0,
    pca: int | float | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> ClusteringResult:
    """Cluster the rows of ``features`` with the named method (see the module doc).

    ``pca`` (a number of components or a variance fraction) projects the features first;
    the explained variance is then in ``result.info["pca"]``. ``options`` go to the method
    (e.g. ``n_candidates`` for constrained, ``n_init`` for k-means-constrained,
    ``threshold`` for birch).
    """
    method = check_method(method)
    data = check_features(features)
    seed = check_seed(seed)
    low, high = check_sizes(data.shape[0], n_clusters, min_size, max_size)
    bounded = (min_size not in (None, 0) and method != "hdbscan") or max_size is not None
    if bounded and method not in SIZE_BOUNDED:
        raise ValueError(f"method {method!r} cannot enforce min_size/max_size; methods with size bounds: "
                         f"{', '.join(SIZE_BOUNDED)} (hdbscan takes min_size as its minimum cluster size)")
    info: dict[str, Any] = {}
    # One BLAS thread: with two, OpenBLAS rounds the distances differently, and on MBTR rows
    # (many near ties) k-means then forms other clusters (fig2's pool, 512 clusters). The
    # same seed must select the same structures on every machine.
    with threadpool_limits(limits=1, user_api="blas"):
        if pca is not None:
            t0 = time.perf_counter()
            data, info["pca"] = pca_reduce(data, pca, seed)
            info["pca"]["seconds"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        result = _FUNCTIONS[method](data, n_clusters, low, high, seed, progress, **options)
    result.info.update(info)
    result.info["seconds"] = round(time.perf_counter() - t0, 3)
    return result
