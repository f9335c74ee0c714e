"""Single-structure moves (Hartigan's criterion) within size bounds."""
import numpy as np
import pytest
from sklearn.cluster import KMeans

from perovflow.selection.hartigan import refine

from .helpers import kmeans_objective, uneven_pool


def _lloyd_fixed_point(features, k, seed):
    model = KMeans(n_clusters=k, n_init=1, random_state=seed, algorithm="lloyd", tol=0).fit(features)
    return model.labels_.astype(np.int64)


def _all_candidates(n, k):
    return np.broadcast_to(np.arange(k), (n, k)).copy()


def test_moves_lower_a_lloyd_fixed_point_and_return_exact_means():
    features = uneven_pool(600, seed=5)
    start = _lloyd_fixed_point(features, 25, seed=5)
    labels, centres, stats = refine(features, start, 25, 0, 600, _all_candidates(600, 25),
                                    max_passes=20, min_relative_gain=0)
    assert stats["moves"] > 0  # Lloyd's fixed points are not Hartigan's
    before, after = kmeans_objective(features, start), kmeans_objective(features, labels)
    assert after < before
    assert before - after == pytest.approx(stats["gain"], rel=1e-6)  # each gain was the exact change
    for c in range(25):
        np.testing.assert_allclose(centres[c], features[labels == c].mean(axis=0), atol=1e-12)


def test_sizes_stay_within_the_bounds():
    features = uneven_pool(600, seed=6)
    start = _lloyd_fixed_point(features, 20, seed=6)
    sizes = np.bincount(start, minlength=20)
    low, high = int(sizes.min()), int(sizes.max())  # every cluster starts inside [low, high]
    labels, _, stats = refine(features, start, 20, low, high, _all_candidates(600, 20),
                              max_passes=20, min_relative_gain=0)
    after = np.bincount(labels, minlength=20)
    assert after.min() >= low and after.max() <= high
    assert stats["moves"] > 0
    tight, _, tight_stats = refine(features, start, 20, int(sizes.max()), 600, _all_candidates(600, 20))
    # low at the largest size: no cluster can give a point away
    assert tight_stats["moves"] == 0 and np.array_equal(tight, start)


def test_moves_only_to_the_given_candidates():
    features = uneven_pool(400, seed=7)
    start = _lloyd_fixed_point(features, 10, seed=7)
    own_only = start[:, None]  # every point's only candidate is its own cluster
    labels, _, stats = refine(features, start, 10, 0, 400, own_only)
    assert stats["moves"] == 0 and np.array_equal(labels, start)
