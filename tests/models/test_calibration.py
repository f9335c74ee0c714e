"""Calibration numbers of predicted sigmas against errors, on inputs whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from perovflow.models.calibration import calibration, miscalibration_area, rmse_over_sigma


def _gaussian(scale: float, n: int = 30_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    # three sigma levels, one per tercile: within a tercile of spread-out sigmas RMSE / mean
    # sigma would exceed 1 even for calibrated errors (sqrt(mean s^2) > mean s)
    sigmas = rng.permutation(np.repeat([0.5, 1.0, 2.0], n // 3))
    return scale * sigmas * rng.normal(size=n), sigmas


def test_gaussian_errors_of_the_stated_sigma_are_calibrated():
    errors, sigmas = _gaussian(1.0)
    report = calibration(errors, sigmas)
    assert report.n == len(errors)
    assert report.miscalibration_area < 0.01
    assert report.rmse_over_sigma == pytest.approx([1.0, 1.0, 1.0], abs=0.05)
    assert report.spearman > 0.3  # larger sigmas do come with larger errors here


def test_errors_three_times_sigma_show_as_ratios_of_three():
    errors, sigmas = _gaussian(3.0)
    report = calibration(errors, sigmas)
    assert report.rmse_over_sigma == pytest.approx([3.0, 3.0, 3.0], rel=0.05)
    # observed share inside z_{(1+p)/2} sigma is P(|Z| <= z / 3), far below p
    grid = np.linspace(0, 1, 100)
    expected_area = np.mean(np.abs(2 * norm.cdf(norm.ppf(0.5 + grid / 2) / 3) - 1 - grid))
    assert report.miscalibration_area == pytest.approx(expected_area, abs=0.01)
    assert report.miscalibration_area > 0.2


def test_hand_made_terciles_and_extremes():
    sigmas = np.array([4.0, 1.0, 2.0, 4.0, 2.0, 1.0])
    errors = np.array([2.0, 1.0, 4.0, -2.0, -4.0, -1.0])
    # sorted by sigma: (1, 1) with errors 1, -1; (2, 2) with 4, -4; (4, 4) with 2, -2
    assert rmse_over_sigma(errors, sigmas) == pytest.approx([1.0, 2.0, 0.5])
    # zero errors sit inside every interval, even the empty one at p = 0: area = mean(1 - p)
    assert miscalibration_area(np.zeros(6), sigmas) == pytest.approx(0.5)
    constant = calibration(errors, np.ones(6))  # ties keep their order: (2, 1), (4, -2), (-4, -1)
    assert constant.spearman is None
    assert constant.rmse_over_sigma == pytest.approx(np.sqrt([2.5, 10.0, 8.5]))
    with pytest.raises(ValueError, match="3 errors but 2 sigmas"):
        calibration(np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="cannot make 3 sigma groups"):
        rmse_over_sigma(np.zeros(2), np.ones(2))
