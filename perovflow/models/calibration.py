"""How well predicted standard deviations describe the errors they come with.

Three numbers for a test set of errors e_i and sigmas s_i (any one unit):

- the Spearman rank correlation of s with |e| (does a larger sigma mean a larger error?);
- RMSE / mean sigma in each sigma tercile (sorted by sigma, three equal-size groups): 1 where
  sigma is the RMS error it claims to be, 2.5 where the errors are 2.5 times larger;
- the miscalibration area of Tran et al. 2020 (uncertainty-toolbox) for Gaussian predictive
  distributions: for expected proportions p on a grid in [0, 1], the observed share of
  points with |e| <= s z_{(1+p)/2}; the area is the mean |observed - expected| over the
  grid (0 when calibrated, at most 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, spearmanr

GROUPS = 3  # sigma terciles
GRID_POINTS = 100  # expected proportions of the miscalibration area, as uncertainty-toolbox


@dataclass(frozen=True)
class Calibration:
    spearman: float | None  # None when sigma or |error| is constant
    rmse_over_sigma: list[float]  # one ratio per sigma group, smallest sigmas first
    miscalibration_area: float
    n: int

    def as_metrics(self) -> dict[str, Any]:
        return {"calibration_spearman": self.spearman,
                "calibration_rmse_over_sigma_terciles": list(self.rmse_over_sigma),
                "calibration_miscalibration_area": self.miscalibration_area,
                "calibration_n": self.n}


def _checked(errors: np.ndarray, sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if errors.shape != sigmas.shape:
        raise ValueError(f"{errors.size} errors but {sigmas.size} sigmas")
    if not (np.all(np.isfinite(errors)) and np.all(np.isfinite(sigmas))) or np.any(sigmas < 0):
        raise ValueError("errors and sigmas must be finite and sigmas >= 0")
    return errors, sigmas


def rmse_over_sigma(errors: np.ndarray, sigmas: np.ndarray, groups: int = GROUPS) -> list[float]:
    """RMSE / mean sigma per group of points sorted by sigma (equal sizes, up to one)."""
    errors, sigmas = _checked(errors, sigmas)
    if len(errors) < groups:
        raise ValueError(f"{len(errors)} points cannot make {groups} sigma groups")
    order = np.argsort(sigmas, kind="stable")
    ratios = []
    for group in np.array_split(order, groups):
        mean_sigma = sigmas[group].mean()
        rmse = np.sqrt(np.mean(errors[group] ** 2))
        ratios.append(float(rmse / mean_sigma) if mean_sigma > 0 else float("inf"))
    return ratios


def miscalibration_area(errors: np.ndarray, sigmas: np.ndarray, points: int = GRID_POINTS) -> float:
    """Mean |observed - expected| share inside the central Gaussian intervals (see the module)."""
    errors, sigmas = _checked(errors, sigmas)
    expected = np.linspace(0.0, 1.0, points)
    half_width = norm.ppf(0.5 + expected / 2)  # z_{(1+p)/2}; inf at p = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        # |e| / s <= z; a zero sigma covers only a zero error
        scaled = np.where(sigmas > 0, np.abs(errors) / sigmas, np.where(errors == 0, 0.0, np.inf))
    observed = (scaled[None, :] <= half_width[:, None]).mean(axis=1)
    return float(np.mean(np.abs(observed - expected)))


def calibration(errors: np.ndarray, sigmas: np.ndarray) -> Calibration:
    """The three numbers of the module for one test set."""
    errors, sigmas = _checked(errors, sigmas)
    absolute = np.abs(errors)
    spearman = None
    if np.ptp(sigmas) > 0 and np.ptp(absolute) > 0:
        spearman = float(spearmanr(sigmas, absolute).statistic)
    return Calibration(spearman=spearman, rmse_over_sigma=rmse_over_sigma(errors, sigmas),
                       miscalibration_area=miscalibration_area(errors, sigmas), n=len(errors))
