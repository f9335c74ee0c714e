"""Neural networks on collective cluster deformations (Thomas et al. 2019): cluster- and site-based
networks, a committee for uncertainty, and k-fold model selection."""
from __future__ import annotations

from perovflow.ccd.networks.committee import CCDNNCommittee
from perovflow.ccd.networks.network import ARCHITECTURES, GroupedEnsemble
from perovflow.ccd.networks.training import TrainingSchedule, train_ensemble

__all__ = ["ARCHITECTURES", "CCDNNCommittee", "GroupedEnsemble", "TrainingSchedule", "train_ensemble"]
