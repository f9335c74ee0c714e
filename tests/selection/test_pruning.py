"""Pruning: as many clusters as snapshots to keep, one snapshot per cluster."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.selection import cluster, prune
from tests.selection.helpers import uneven_pool


@pytest.mark.parametrize("pick", ["random", "centre"])
def test_n_keep_distinct_indices_one_per_cluster(pick):
    features = uneven_pool(400, seed=1)
    kept = prune(features, 40, seed=2, pick=pick)
    assert kept.shape == (40,)
    assert np.unique(kept).size == 40
    assert kept.min() >= 0 and kept.max() < 400
    # the same clustering prune ran: exactly one kept snapshot in every cluster
    labels = cluster(features, 40, "constrained", min_size=1, seed=2).labels
    assert sorted(labels[kept].tolist()) == list(range(40))


def test_centre_pick_is_the_member_nearest_the_mean():
    features = uneven_pool(300, seed=4)
    kept = prune(features, 10, seed=0, pick="centre")
    labels = cluster(features, 10, "constrained", min_size=1, seed=0).labels
    for index in kept:
        members = np.flatnonzero(labels == labels[index])
        mean = features[members].mean(axis=0)
        d = ((features[members] - mean) ** 2).sum(axis=1)
        assert index == members[np.argmin(d)]


def test_deterministic_and_seed_dependent():
    features = uneven_pool(300, seed=5)
    assert np.array_equal(prune(features, 30, seed=1), prune(features, 30, seed=1))
    assert not np.array_equal(prune(features, 30, seed=1), prune(features, 30, seed=2))


def test_keeping_everything_and_bad_requests():
    features = uneven_pool(50, seed=6)
    assert np.array_equal(prune(features, 50), np.arange(50))
    with pytest.raises(ValueError, match=r"n_keep \(51\) exceeds"):
        prune(features, 51)
    with pytest.raises(ValueError, match="pick: unknown choice 'median'; allowed: random, centre"):
        prune(features, 5, pick="median")
