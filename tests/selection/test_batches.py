"""Batches of one random structure per cluster: deterministic, never repeating."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.selection import batches_one_per_cluster


def _labels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 9, size=12)
    labels = np.repeat(np.arange(12), sizes)
    return labels[rng.permutation(labels.size)]


def test_one_per_cluster_per_batch_and_never_twice():
    labels = _labels()
    batches = batches_one_per_cluster(labels, 4, seed=3)
    assert len(batches) == 4
    picked = [i for batch in batches for i in batch]
    assert len(picked) == len(set(picked))
    for batch in batches:
        assert sorted(labels[batch].tolist()) == list(range(12))  # min size 3 >= ... every cluster
        break
    for b, batch in enumerate(batches):
        clusters = labels[batch]
        assert len(set(clusters.tolist())) == len(batch)
        assert set(clusters.tolist()) == {c for c in range(12) if (labels == c).sum() > b}


def test_deterministic_under_a_seed_and_seed_dependent():
    labels = _labels(1)
    assert batches_one_per_cluster(labels, 5, seed=7) == batches_one_per_cluster(labels, 5, seed=7)
    assert batches_one_per_cluster(labels, 5, seed=7) != batches_one_per_cluster(labels, 5, seed=8)


def test_more_batches_than_members_stop_when_every_cluster_is_used_up():
    labels = _labels(2)
    batches = batches_one_per_cluster(labels, 100, seed=0)
    assert len(batches) == np.bincount(labels).max()
    assert sorted(i for batch in batches for i in batch) == list(range(labels.size))


def test_outliers_are_never_picked():
    labels = np.array([0, 0, -1, 1, 1, -1, 2, 2])
    picked = [i for batch in batches_one_per_cluster(labels, 5, seed=0) for i in batch]
    assert 2 not in picked and 5 not in picked
    assert sorted(picked) == [0, 1, 3, 4, 6, 7]


def test_bad_batch_count_is_refused():
    with pytest.raises(ValueError, match="batches"):
        batches_one_per_cluster(np.zeros(4, dtype=int), -1)
