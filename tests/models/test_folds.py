"""The one k-fold splitter: the same index sets as the constructions it replaced."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.ccd.networks.model_selection import kfold
from perovflow.models.folds import kfold_parts, kfold_splits
from perovflow.models.tuning import fold_indices

CASES = [(10, 2, 0), (30, 5, 0), (31, 4, 7), (100, 10, 3), (7, 7, 11), (1234, 10, 2024)]


def old_fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """models/tuning.py's construction before the splitter was shared."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def old_kfold(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The CCD model selection's construction (kfold) before the splitter was shared."""
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(folds[i])) for i in range(k)]


@pytest.mark.parametrize(("n", "k", "seed"), CASES)
def test_parts_equal_the_old_tuning_folds(n, k, seed):
    new, old = kfold_parts(n, k, seed), old_fold_indices(n, k, seed)
    assert len(new) == len(old) == k
    for a, b in zip(new, old):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(fold_indices(n, k, seed), old):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(("n", "k", "seed"), CASES)
def test_splits_equal_the_old_ccd_folds(n, k, seed):
    new, old = kfold_splits(n, k, seed), old_kfold(n, k, seed)
    assert len(new) == len(old) == k
    for (train, val), (old_train, old_val) in zip(new, old):
        assert np.array_equal(train, old_train) and np.array_equal(val, old_val)
    for (train, val), (old_train, old_val) in zip(kfold(n, k, seed), old):
        assert np.array_equal(train, old_train) and np.array_equal(val, old_val)


@pytest.mark.parametrize(("n", "k", "seed"), CASES)
def test_splits_partition_the_rows(n, k, seed):
    parts = kfold_parts(n, k, seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    for (train, val), part in zip(kfold_splits(n, k, seed), parts):
        assert np.array_equal(val, part)
        assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == n
        assert np.all(np.diff(train) > 0)


def test_seed_changes_the_folds_and_is_reproducible():
    assert all(np.array_equal(a, b) for a, b in zip(kfold_parts(50, 5, 1), kfold_parts(50, 5, 1)))
    assert not all(np.array_equal(a, b) for a, b in zip(kfold_parts(50, 5, 1), kfold_parts(50, 5, 2)))


@pytest.mark.parametrize("k", [1, 0, -3, 6, True, 2.0, "3"])
def test_bad_fold_counts_raise(k):
    with pytest.raises(ValueError, match="k-fold split"):
        kfold_parts(5, k, 0)
    with pytest.raises(ValueError, match="k-fold split"):
        kfold_splits(5, k, 0)


def test_callers_keep_their_own_messages():
    with pytest.raises(ValueError, match="selection.folds"):
        kfold(3, 5)
    with pytest.raises(ValueError, match="cross-validation needs 2 <= folds"):
        fold_indices(3, 5, 0)
