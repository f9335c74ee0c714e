"""Greedy k-means++ seeding used by the constrained k-means warm start."""
import numpy as np
import pytest

from perovflow.selection.seeding import kmeans_plusplus


def _blobs(n_blobs=12, per_blob=40, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=50.0, size=(n_blobs, dim))
    labels = np.repeat(np.arange(n_blobs), per_blob)
    return centres[labels] + rng.normal(scale=0.1, size=(labels.size, dim)), labels


def test_seeds_are_rows_one_per_well_separated_blob():
    rows, labels = _blobs()
    seeds = kmeans_plusplus(rows, 12, seed=3)
    assert seeds.shape == (12, rows.shape[1]) and seeds.dtype == np.float64
    # every seed is one of the rows (to float32 precision) ...
    d = ((seeds[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2)
    nearest = d.argmin(axis=1)
    assert np.allclose(d.min(axis=1), 0.0, atol=1e-6)
    # ... and greedy k-means++ puts one in every blob (uniform picks would miss some)
    assert sorted(labels[nearest]) == list(range(12))


def test_same_seed_same_centres_other_seed_other_centres():
    rows, _ = _blobs(n_blobs=4, per_blob=200, seed=1)
    first = kmeans_plusplus(rows, 30, seed=7)
    assert np.array_equal(first, kmeans_plusplus(rows, 30, seed=7))
    assert not np.array_equal(first, kmeans_plusplus(rows, 30, seed=8))


def test_fewer_distinct_rows_than_clusters_still_gives_distinct_picks():
    rows = np.repeat(np.eye(3), 5, axis=0)  # 3 distinct rows, 15 in all
    seeds = kmeans_plusplus(rows, 5, seed=0)
    assert seeds.shape == (5, 3)
    assert len({tuple(s) for s in seeds}) == 3  # all three distinct rows are among the seeds


@pytest.mark.parametrize("k", [0, 16])
def test_bad_cluster_count_is_refused(k):
    rows = np.zeros((15, 2))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_plusplus(rows, k)


@pytest.mark.parametrize("n_features", [40, 3000])
def test_principal_projection_keeps_the_distances_of_low_rank_rows(n_features):
    """Rows on a 6-dimensional plane (plus tiny noise): the projection keeps 6 axes (scatter
    matrix for narrow rows, randomized SVD for wide ones) and every pair distance."""
    from perovflow.selection.seeding import principal_projection

    rng = np.random.default_rng(0)
    rows = (rng.normal(size=(400, 6)) @ rng.normal(size=(6, n_features))
            + 1e-4 * rng.normal(size=(400, n_features))).astype(np.float32)
    projected = principal_projection(rows)
    assert projected.shape == (400, 6)
    full = ((rows[:50, None, :] - rows[None, :50, :]) ** 2).sum(axis=2)
    small = ((projected[:50, None, :] - projected[None, :50, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(small, full, rtol=1e-3, atol=1e-2)
