"""The relaxation test and the exploration as batch jobs: how starts split into batches, keys
and the stage rule. A campaign whose stored tests and explorations equal the serial ones is
in tests/campaign/test_local.py (it shares the local runner's campaign)."""
from __future__ import annotations

import pytest

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.ml_batches import (
    AUTO_BATCHES,
    candidate_step,
    gathered,
    relaxation_key,
    split_batches,
)
from perovflow.settings import CampaignError, parse_campaign
from perovflow.store.store import Store
from tests.campaign.helpers import ACTIVE_SHORT, active_campaign, small_campaign

IDS = [f"s{i}" for i in range(10)]


def test_automatic_batches_split_the_starts_in_order():
    chunks = split_batches(IDS, 0)
    assert len(chunks) == AUTO_BATCHES == 4
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [sid for chunk in chunks for sid in chunk] == IDS


@pytest.mark.parametrize("size, lengths", [(1, [1] * 10), (4, [4, 4, 2]), (10, [10]), (50, [10])])
def test_a_batch_size_gives_batches_of_that_size(size, lengths):
    chunks = split_batches(IDS, size)
    assert [len(c) for c in chunks] == lengths
    assert [sid for chunk in chunks for sid in chunk] == IDS


def test_no_starts_no_batches_and_bad_sizes_are_refused():
    assert split_batches([], 0) == [] and split_batches([], 3) == []
    for bad in (-1, 1.5, True, "4"):
        with pytest.raises(ValueError, match="active.ml_batch_size"):
            split_batches(IDS, bad)


def test_the_setting_is_checked_with_the_others():
    with pytest.raises(CampaignError, match="active.ml_batch_size"):
        active_campaign("bad", {**ACTIVE_SHORT, "ml_batch_size": -2})
    assert active_campaign("good", {**ACTIVE_SHORT, "ml_batch_size": 3}).active.ml_batch_size == 3
    assert active_campaign("default").active.ml_batch_size == 0


def test_keys_name_purpose_iteration_model_and_start():
    assert relaxation_key("test", "final", "abc") == "test:final:abc"
    assert relaxation_key("explore", "active/iteration-1", "abc", 2) == "explore2:active/iteration-1:abc"
    with pytest.raises(ValueError, match="purpose"):
        relaxation_key("relax", "final", "abc")


def test_candidate_step_follows_the_stage_rule():
    sigmas = [0.1, 0.3, 0.7, 0.9, 0.2]
    assert candidate_step(sigmas, 4, "stage1", 0.5) == 2
    assert candidate_step(sigmas, 4, "stage1", 1.0) is None
    assert candidate_step(sigmas, 4, "stage2", None) == 4
    with pytest.raises(ValueError, match="threshold"):
        candidate_step(sigmas, 4, "stage1", None)
    with pytest.raises(ValueError, match="stage"):
        candidate_step(sigmas, 4, "prune", 0.5)


def test_gathering_before_a_batch_finished_names_what_is_missing(mongo_db):
    ctx = CampaignContext(parse_campaign(small_campaign("unfinished")), Store(mongo_db, "unfinished"))
    with pytest.raises(RuntimeError, match="2 of 2 ML relaxations"):
        gathered(ctx, "test", "final", ["a", "b"])
