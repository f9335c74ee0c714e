"""``model.tune`` makes the initial fits use BOSS-tuned hyperparameters, recorded with the model."""
from __future__ import annotations

import json

import numpy as np

from perovflow.campaign.fitting import hyperparameters_for
from perovflow.settings import parse_campaign
from tests.campaign.helpers import small_campaign


def _data():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(80, 6))
    return x, -3.0 + 0.02 * np.sin(x[:, 0]) + 0.01 * x[:, 1] ** 2


def test_tuning_off_keeps_the_campaigns_values():
    campaign = parse_campaign(small_campaign("fixed", model={"alpha": 1e-4, "gamma": 0.1}))
    hyper, record = hyperparameters_for(campaign, *_data())
    assert (hyper.alpha, hyper.gamma) == (1e-4, 0.1) and record is None


def test_tuning_on_is_no_worse_than_the_defaults_and_is_plain_json():
    campaign = parse_campaign(small_campaign("tuned", model={"tune": True, "tune_folds": 3, "tune_iterations": 3,
                                                             "alpha": 1e-5, "gamma": 4.279e-2}))
    hyper, record = hyperparameters_for(campaign, *_data(), seed=1)
    data = record.as_dict()
    json.dumps(data)
    assert data["cv_mae"] <= data["default_cv_mae"] and data["n_evaluations"] >= 5
    assert (hyper.alpha, hyper.gamma) != (1e-5, 4.279e-2) or data["cv_mae"] == data["default_cv_mae"]
