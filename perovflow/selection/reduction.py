"""Optional PCA before clustering, with the explained variance reported."""
from __future__ import annotations

from typing import Any

import numpy as np


def pca_reduce(features: np.ndarray, components: int | float, seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Project ``features`` on their leading principal components.

    ``components`` is either a number of components (an integer >= 1, below the number of
    features) or the fraction of the variance to keep (a float in (0, 1)). Returns the
    projected matrix and ``{"components", "explained_variance"}`` (the kept fraction).
    """
    from sklearn.decomposition import PCA

    n, d = features.shape
    if isinstance(components, bool):
        raise ValueError(f"pca: expected an integer >= 1 or a variance fraction in (0, 1), got {components!r}")
    if isinstance(components, (int, np.integer)):
        if not 1 <= components <= min(n, d):
            raise ValueError(f"pca: number of components must lie in [1, {min(n, d)}], got {components}")
        model = PCA(n_components=int(components), svd_solver="randomized" if components < d // 2 else "full",
                    random_state=seed)
    elif isinstance(components, float):
        if not 0.0 < components < 1.0:
            raise ValueError(f"pca: a variance fraction must lie in (0, 1), got {components}")
        model = PCA(n_components=components, svd_solver="full", random_state=seed)
    else:
        raise ValueError(f"pca: expected an integer >= 1 or a variance fraction in (0, 1), got {components!r}")
    reduced = model.fit_transform(np.asarray(features, dtype=np.float64))
    info = {"components": int(model.n_components_),
            "explained_variance": float(model.explained_variance_ratio_.sum())}
    return np.ascontiguousarray(reduced), info


def parse_pca(text: str | None) -> int | float | None:
    """``"50"`` -> 50 components, ``"0.99"`` -> keep 99 % of the variance, None/"" -> no PCA."""
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"pca: expected an integer number of components or a variance fraction "
                         f"in (0, 1), got {text!r}") from None
