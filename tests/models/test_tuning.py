"""Hyperparameter tuning with BOSS on k-fold CV of real MBTR features."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.models.tuning import TuningBounds, TuningResult, cross_validation_mae, fold_indices, tune_krr
from perovflow.structures import PHASES, PerovskiteSystem, generate_pool

SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))
SPECIES = ("Cs", "Pb", "Cl", "Br")
# a deliberately poor starting point: the kernel is nearly flat at this gamma
POOR = KRRHyperparameters(alpha=1e-3, gamma=1e-4)


@pytest.fixture(scope="module")
def problem():
    pool = generate_pool(SYSTEM, phases=PHASES, per_composition=1, seed=21)
    x = MBTRDescriptor(MBTRSettings(species=SPECIES)).create(pool)
    projection = np.random.default_rng(5).normal(size=x.shape[1])
    z = x @ projection
    y = -3.0 + 0.05 * np.tanh(z / np.abs(z).max())  # smooth synthetic energy per atom
    return pool, x, y


def test_cross_validation_matches_explicit_fits(problem):
    _, x, y = problem
    hyper = KRRHyperparameters(alpha=1e-5, gamma=4.279e-2)
    errors = []
    for held in fold_indices(len(y), 4, seed=1):
        train = np.setdiff1d(np.arange(len(y)), held)
        model = KernelRidgeEnergy(hyper).fit(x[train], y[train])
        errors.append(model.predict(x[held]) - y[held])
    expected = np.abs(np.concatenate(errors)).mean()
    assert cross_validation_mae(x, y, hyper, folds=4, seed=1) == pytest.approx(expected, rel=1e-9)


def test_tuning_beats_the_defaults_is_deterministic_and_writes_no_files(problem, tmp_path, monkeypatch):
    _, x, y = problem
    monkeypatch.chdir(tmp_path)
    state = np.random.get_state()
    first = tune_krr(x, y, default=POOR, folds=4, initpts=3, iterpts=4, seed=7)
    assert list(tmp_path.iterdir()) == []  # BOSS's output went to a removed temporary folder
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG left as it was
    second = tune_krr(x, y, default=POOR, folds=4, initpts=3, iterpts=4, seed=7)
    assert first.as_dict() | {"seconds": 0} == second.as_dict() | {"seconds": 0}

    assert first.n_evaluations == len(first.evaluations) == 1 + 3 + 4
    assert first.evaluations[0]["log10_gamma"] == pytest.approx(math.log10(POOR.gamma))
    assert first.default_cv_mae == pytest.approx(cross_validation_mae(x, y, POOR, folds=4, seed=7))
    # the reported error is that of the reported hyperparameters, recomputed independently
    assert first.cv_mae == pytest.approx(cross_validation_mae(x, y, first.hyperparameters, folds=4, seed=7),
                                         rel=1e-9)
    assert first.cv_mae < 0.5 * first.default_cv_mae  # BO found a clearly better region
    assert first.cv_mae == min(e["cv_mae"] for e in first.evaluations)
    for e in first.evaluations:
        assert TuningBounds().log10_alpha[0] <= e["log10_alpha"] <= TuningBounds().log10_alpha[1]
    record = json.loads(json.dumps(first.as_dict()))
    assert TuningResult.from_dict(record) == first
    assert record["bounds"] == {"log10_gamma": [-4.0, 1.0], "log10_alpha": [-10.0, -1.0]}


def test_tuning_the_mbtr_broadening_refeaturizes(problem):
    pool, _, y = problem
    pool, y = pool[:48], y[:48]
    asked: list[float] = []

    def features_for(sigma: float) -> np.ndarray:
        asked.append(sigma)
        return MBTRDescriptor(MBTRSettings(species=SPECIES, sigma=sigma)).create(pool)

    result = tune_krr(features_for, y, folds=3, initpts=2, iterpts=2, seed=1)
    assert result.dimensions == ["log10_gamma", "log10_alpha", "log10_sigma"]
    assert asked[0] == pytest.approx(4.279e-2) and len(set(asked)) == result.n_evaluations == 5
    assert 10 ** -2.0 <= result.sigma <= 10 ** -0.7
    again = cross_validation_mae(features_for(result.sigma), y, result.hyperparameters, folds=3, seed=1)
    assert result.cv_mae == pytest.approx(again, rel=1e-9) and result.cv_mae <= result.default_cv_mae


def test_tuning_refuses_bad_inputs(problem):
    _, x, y = problem
    with pytest.raises(ValueError, match="empty"):
        tune_krr(np.zeros((0, 5)), np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        tune_krr(np.where(np.arange(x.shape[1]) == 3, np.nan, x), y, initpts=1, iterpts=0)
    with pytest.raises(ValueError, match="folds"):
        cross_validation_mae(x[:3], y[:3], KRRHyperparameters(), folds=5)
    with pytest.raises(ValueError, match="bounds"):
        TuningBounds(log10_gamma=(1.0, -1.0))
