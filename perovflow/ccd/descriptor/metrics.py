"""Deformation metrics of pair distances: smooth monotonic maps f(d; d0) with f(d0) = 0
and the same slope 1/d0 at the reference length d0, so that all agree for small
deformations and differ only for large ones (d -> 0 or d -> infinity).

``linear`` is the paper's simple choice (d - d0) / d0. The paper's alternatives (its
Eqs. 3-5) did not survive text extraction; the three below are the standard strain
measures that have exactly the stated properties: ``green`` (Green-Lagrange,
(d^2 - d0^2) / (2 d0^2), stiffening under stretch), ``log`` (Hencky, ln(d / d0),
diverging as d -> 0) and ``inverse`` (1 - d0 / d, bounded as d -> infinity).
"""
from __future__ import annotations

import numpy as np

METRICS: tuple[str, ...] = ("linear", "green", "log", "inverse")


def check_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"descriptor.metric: unknown deformation metric {name!r}; allowed: {list(METRICS)}")
    return name


def deformation(distances: np.ndarray, reference: np.ndarray, metric: str = "linear") -> np.ndarray:
    """Pair deformation metrics of ``distances`` against ``reference`` lengths (broadcast)."""
    check_metric(metric)
    d = np.asarray(distances, float)
    d0 = np.asarray(reference, float)
    ratio = d / d0
    if metric == "linear":
        return ratio - 1.0
    if metric == "green":
        return 0.5 * (ratio * ratio - 1.0)
    if metric == "log":
        return np.log(ratio)
    return 1.0 - 1.0 / ratio
