"""The acquisition and stage rules of active learning, under the campaign's name for them;
they are pure science and live in :mod:`perovflow.selection.acquisition` (reproductions
use them without a store)."""
from perovflow.selection.acquisition import (  # noqa: F401
    STAGES,
    Acquisition,
    StageRules,
    first_crossing,
    next_stage,
    plateaued,
    stage1_acquisitions,
    stage2_acquisitions,
)
