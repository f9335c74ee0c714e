"""Model selection: the feature bank of all candidates and k-fold cross-validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from perovflow.ccd.descriptor import CCDDescriptor, ClusterSet, CubicPerovskite
from perovflow.ccd.networks import TrainingSchedule
from perovflow.ccd.networks.model_selection import Candidate, FeatureBank, cross_validate, kfold
from tests.ccd.networks.helpers import A0, SETTINGS, toy_data

torch.set_num_threads(1)


def test_feature_bank_subset_equals_own_descriptor():
    structures, _, _ = toy_data(4, seed=2)
    cands = [Candidate(ClusterSet(2, 0, True), 2, "cluster", (4,)), Candidate(ClusterSet(4, 1, True), 4, "site", (4,))]
    bank = FeatureBank(CubicPerovskite(a0=A0), cands)
    bank.add(structures)
    for c in cands:
        own = CCDDescriptor(CubicPerovskite(a0=A0), bank.settings_for(c)).cluster_features(structures)
        for a, b in zip(bank.subset(c), own):
            assert np.allclose(a, b, atol=1e-12)


def test_cross_validation_reports_every_fold():
    structures, feats, y = toy_data(30, seed=3)
    cand = Candidate(SETTINGS.clusters, 2, "cluster", (4,))
    bank = FeatureBank(CubicPerovskite(a0=A0), [cand])
    bank.add(structures)
    out = cross_validate(bank, y, cand, 5, TrainingSchedule(batch_sizes=(10,), epochs=(3,)))
    assert len(out["fold_rmse"]) == 5 and out["cv_rmse"] > 0
    folds = kfold(30, 5)
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(30))
    with pytest.raises(ValueError, match="selection.folds"):
        kfold(3, 5)
