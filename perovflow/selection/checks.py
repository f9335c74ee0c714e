"""Input checks shared by every selection method: early errors that name the field."""
from __future__ import annotations

import numpy as np


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_features(features: np.ndarray, name: str = "features") -> np.ndarray:
    """A finite 2-D float64 matrix with at least one row (no copy when already one)."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D matrix (structures x features), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: empty matrix of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def check_int(name: str, value: object, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_sizes(n_samples: int, n_clusters: int, min_size: int | None,
                max_size: int | None) -> tuple[int, int]:
    """Check the cluster count and size bounds against the pool size.

    Returns ``(min_size, max_size)`` with defaults filled in (0 and ``n_samples``).
    """
    n_clusters = check_int("clusters", n_clusters, 1)
    if n_clusters > n_samples:
        raise ValueError(f"clusters ({n_clusters}) exceeds the number of structures ({n_samples})")
    low = 0 if min_size is None else check_int("min_size", min_size, 0)
    high = n_samples if max_size is None else check_int("max_size", max_size, 1)
    if high < low:
        raise ValueError(f"max_size ({high}) is smaller than min_size ({low})")
    if n_clusters * low > n_samples:
        raise ValueError(
            f"infeasible: clusters x min_size = {n_clusters} x {low} = {n_clusters * low} exceeds the "
            f"number of structures ({n_samples}); lower clusters or min_size"
        )
    if n_clusters * high < n_samples:
        raise ValueError(
            f"infeasible: clusters x max_size = {n_clusters} x {high} = {n_clusters * high} is less than "
            f"the number of structures ({n_samples}); raise clusters or max_size"
        )
    return low, min(high, n_samples)


def check_seed(seed: object) -> int:
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)
