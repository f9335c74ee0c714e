"""The one k-fold splitter of perovflow: KRR tuning (:mod:`perovflow.models.tuning`) and the
model selection of the CCD campaign cut the same folds.

A seeded permutation of the rows cut by ``np.array_split`` into ``k`` nearly equal parts,
each part sorted. The construction is fixed: the demo's numbers depend on these index sets.
Callers check ``k`` first and name their own setting in the error; the check here is a
backstop with a generic message.
"""
from __future__ import annotations

import operator

import numpy as np


def kfold_parts(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint sorted index arrays covering ``range(n)``: the validation parts."""
    if isinstance(k, bool):
        raise ValueError(f"k-fold split needs an integer 2 <= k <= n, got k={k!r} for n={n}")
    try:
        k = operator.index(k)
    except TypeError:
        raise ValueError(f"k-fold split needs an integer 2 <= k <= n, got k={k!r} for n={n}") from None
    if not 2 <= k <= n:
        raise ValueError(f"k-fold split needs an integer 2 <= k <= n, got k={k!r} for n={n}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def kfold_splits(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) sorted index pairs; validation ``i`` is ``kfold_parts(n, k, seed)[i]``
    and its train rows are all the others."""
    parts = kfold_parts(n, k, seed)
    return [(np.sort(np.concatenate(parts[:i] + parts[i + 1:])), parts[i]) for i in range(len(parts))]
