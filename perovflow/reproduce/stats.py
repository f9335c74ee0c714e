"""Data savings from learning curves, with bootstrap intervals over repetitions.

The saving of a method against random selection at random's final error E* (its mean error
at its largest training set N): the method's mean curve is interpolated in log-log, n* is
the smallest n at which it reaches E* (extrapolated from its last two points in log-log when
it never does), and the saving is 1 - n*/N. The 95 % interval: the 2.5th and 97.5th
percentiles over bootstrap resamples of the repetitions (each method resampled on its own).
"""
from __future__ import annotations

import numpy as np

BOOTSTRAP = 2000


def size_to_reach(sizes: np.ndarray, errors: np.ndarray, target: float) -> float:
    """Smallest n at which the log-log interpolation of (sizes, errors) reaches target."""
    log_n, log_e, goal = np.log(sizes), np.log(errors), np.log(target)
    if log_e[0] <= goal:
        if len(sizes) < 2 or log_e[1] == log_e[0]:
            return float(sizes[0])
        slope = (log_e[1] - log_e[0]) / (log_n[1] - log_n[0])
        return float(np.exp(log_n[0] + (goal - log_e[0]) / slope)) if slope < 0 else float(sizes[0])
    for i in range(1, len(sizes)):
        if log_e[i] <= goal:
            t = (goal - log_e[i - 1]) / (log_e[i] - log_e[i - 1])
            return float(np.exp(log_n[i - 1] + t * (log_n[i] - log_n[i - 1])))
    slope = (log_e[-1] - log_e[-2]) / (log_n[-1] - log_n[-2])
    if slope >= 0:
        return float("inf")
    return float(np.exp(log_n[-1] + (goal - log_e[-1]) / slope))


def saving(sizes: np.ndarray, method: np.ndarray, random: np.ndarray) -> float:
    """1 - n*/N for the mean curves (repetitions x sizes) of a method and random selection."""
    reference = random.mean(axis=0)
    n_star = size_to_reach(sizes, method.mean(axis=0), reference[-1])
    return float(1.0 - n_star / sizes[-1]) if np.isfinite(n_star) else float("-inf")


def bootstrap_saving(sizes, method, random, seed: int = 0, samples: int = BOOTSTRAP) -> dict:
    """The saving, its bootstrap 95 % interval, and the resamples used."""
    sizes = np.asarray(sizes, dtype=float)
    method = np.asarray(method, dtype=float)
    random = np.asarray(random, dtype=float)
    rng = np.random.default_rng(seed)
    draws = np.empty(samples)
    for b in range(samples):
        m = method[rng.integers(0, len(method), len(method))]
        r = random[rng.integers(0, len(random), len(random))]
        draws[b] = saving(sizes, m, r)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"estimate": saving(sizes, method, random), "ci95": [float(low), float(high)],
            "bootstrap_samples": samples, "repetitions": [len(method), len(random)]}


def bootstrap_relative_difference(method, random, seed: int = 0, samples: int = BOOTSTRAP) -> dict:
    """(mean method - mean random) / mean random at the final size, with a bootstrap 95 % interval."""
    method = np.asarray(method, dtype=float)
    random = np.asarray(random, dtype=float)
    rng = np.random.default_rng(seed)
    draws = np.empty(samples)
    for b in range(samples):
        m = method[rng.integers(0, len(method), len(method))].mean()
        r = random[rng.integers(0, len(random), len(random))].mean()
        draws[b] = m / r - 1.0
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"estimate": float(method.mean() / random.mean() - 1.0), "ci95": [float(low), float(high)]}


def loglog_slope(sizes, errors, last: int = 2) -> float:
    """Slope of log(error) against log(n) over the last ``last`` points (least squares)."""
    x = np.log(np.asarray(sizes, dtype=float)[-last:])
    y = np.log(np.asarray(errors, dtype=float)[-last:])
    return float(np.polyfit(x, y, 1)[0])


def half_index(sizes) -> int:
    """Index of the size nearest half the largest (the start of the last doubling), never the last."""
    sizes = np.asarray(sizes, dtype=float)
    return int(min(np.argmin(np.abs(np.log(sizes / (sizes[-1] / 2)))), len(sizes) - 2))


def gain_per_doubling(n0: float, e0: float, n1: float, e1: float) -> float:
    """Relative error drop per doubling of data between (n0, e0) and (n1, e1), power law between."""
    return float(1.0 - (e1 / e0) ** (np.log(2.0) / np.log(n1 / n0)))


def extrapolate(sizes, errors, target_n: float, last: int = 3) -> float:
    """Power law through the last ``last`` points, evaluated at target_n."""
    x = np.log(np.asarray(sizes, dtype=float)[-last:])
    y = np.log(np.asarray(errors, dtype=float)[-last:])
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.exp(intercept + slope * np.log(target_n)))


def spearman(a, b) -> float:
    """Spearman rank correlation (ties get average ranks)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
