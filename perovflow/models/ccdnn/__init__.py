"""Neural networks on collective cluster deformations (seed 003): cluster- and site-based
networks, a committee for uncertainty, and k-fold model selection."""
from __future__ import annotations

from perovflow.models.ccdnn.committee import CCDNNCommittee
from perovflow.models.ccdnn.network import ARCHITECTURES, GroupedEnsemble
from perovflow.models.ccdnn.training import TrainingSchedule, train_ensemble

__all__ = ["ARCHITECTURES", "CCDNNCommittee", "GroupedEnsemble", "TrainingSchedule", "train_ensemble"]
