"""The saving rule's reasons: an interval wholly below 0 says the method needed more data
than random, one that straddles 0 says it does not exclude 0; neither reproduces."""
from perovflow.reproduce.verdicts import NOT_REPRODUCED, REPRODUCED, judge


def _saving(low: float, high: float, estimate: float, paper: float = 0.5) -> tuple[str, str]:
    return judge("saving", {"estimate": estimate, "ci_low": low, "ci_high": high, "paper": paper})


def test_interval_below_zero_says_the_method_needs_more_data():
    verdict, reason = _saving(-10.6, -0.66, -1.57)
    assert verdict == NOT_REPRODUCED
    assert "lies below 0" in reason and "more data than random" in reason


def test_interval_across_zero_does_not_exclude_it():
    verdict, reason = _saving(-0.5, 0.3, -0.1)
    assert verdict == NOT_REPRODUCED
    assert "does not exclude 0" in reason


def test_interval_above_zero_near_the_paper_reproduces():
    assert _saving(0.2, 0.6, 0.4)[0] == REPRODUCED
