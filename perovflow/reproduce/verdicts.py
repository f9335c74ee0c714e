"""Verdicts from numbers: every row of a comparison table names a rule and its inputs, and
the verdict is that rule applied to those inputs (so anyone can recompute it from the JSON).

Verdicts: "reproduced", "not reproduced", "not comparable", each with the reason.
"""
from __future__ import annotations

import math

REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE = "reproduced", "not reproduced", "not comparable"
FACTOR = 2.0  # a saving counts as the paper's when within this factor of it
TREND = -0.5  # Spearman rho at or below which "more clusters is better" holds
STILL_DECREASING = -0.05  # log-log slope below which an error is still falling
ABSOLUTE_FACTOR = 1.5  # an absolute error on DFT labels matches the paper's within this factor

RULE_TEXT = {
    "saving": (f"reproduced when the bootstrap 95 % interval of the saving excludes 0 (lower bound > 0) "
               f"and the estimate lies within a factor {FACTOR:g} of the paper's; otherwise not reproduced"),
    "lower_than_random": ("reproduced when the bootstrap 95 % interval of (method - random) / random at the "
                          "largest training set (or the size the row names) lies below 0; otherwise not reproduced"),
    "absolute": ("an absolute error is comparable only on DFT labels at the paper's training-set size "
                 f"(then reproduced within a factor {ABSOLUTE_FACTOR:g}); on a stand-in oracle or at "
                 "another size: not comparable"),
    "trend": (f"reproduced when the Spearman rank correlation between cluster count and mean log error "
              f"is <= {TREND:g}; otherwise not reproduced"),
    "still_decreasing": (f"reproduced when the log-log slope of the error over the last doubling of data is "
                         f"< {STILL_DECREASING:g}; otherwise not reproduced"),
    "diminishing_returns": ("reproduced when the relative error drop per doubling of data over the last "
                            "doubling is less than half that between the first two sizes; otherwise not reproduced"),
}


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %" if math.isfinite(value) else str(value)


def saving(estimate: float, ci_low: float, ci_high: float, paper: float) -> tuple[str, str]:
    if ci_high < 0:
        return NOT_REPRODUCED, (f"95 % interval [{_pct(ci_low)}, {_pct(ci_high)}] lies below 0: the method needs "
                                f"more data than random")
    if not ci_low > 0:
        return NOT_REPRODUCED, f"95 % interval [{_pct(ci_low)}, {_pct(ci_high)}] does not exclude 0"
    if not paper / FACTOR <= estimate <= paper * FACTOR:
        return NOT_REPRODUCED, (f"a saving exists but {_pct(estimate)} is not within a factor {FACTOR:g} "
                                f"of the paper's {_pct(paper)}")
    return REPRODUCED, f"interval excludes 0 and {_pct(estimate)} is within a factor {FACTOR:g} of {_pct(paper)}"


def lower_than_random(estimate: float, ci_low: float, ci_high: float) -> tuple[str, str]:
    if ci_high < 0:
        return REPRODUCED, f"clustered lower by {_pct(-estimate)}, 95 % interval [{_pct(ci_low)}, {_pct(ci_high)}]"
    return NOT_REPRODUCED, f"95 % interval of the difference [{_pct(ci_low)}, {_pct(ci_high)}] does not lie below 0"


def absolute(ours: float, paper: float, oracle: str, oracle_is_dft: bool, ours_n: int, paper_n: int) -> tuple[str, str]:
    ratio = ours / paper
    if not oracle_is_dft:
        return NOT_COMPARABLE, f"labels from {oracle}, a stand-in oracle, not DFT (ours/paper = {ratio:.2f})"
    if ours_n < paper_n:
        return NOT_COMPARABLE, f"measured at {ours_n} training structures, the paper at {paper_n}"
    if 1 / ABSOLUTE_FACTOR <= ratio <= ABSOLUTE_FACTOR:
        return REPRODUCED, f"ours/paper = {ratio:.2f}"
    return NOT_REPRODUCED, f"ours/paper = {ratio:.2f}"


def trend(rho: float) -> tuple[str, str]:
    if math.isfinite(rho) and rho <= TREND:
        return REPRODUCED, f"Spearman rho = {rho:.2f} <= {TREND:g}"
    return NOT_REPRODUCED, f"Spearman rho = {rho:.2f} > {TREND:g}"


def still_decreasing(slope: float) -> tuple[str, str]:
    if slope < STILL_DECREASING:
        return REPRODUCED, f"log-log slope {slope:.2f} < {STILL_DECREASING:g}"
    return NOT_REPRODUCED, f"log-log slope {slope:.2f} >= {STILL_DECREASING:g}"


def diminishing_returns(first_gain: float, last_gain: float) -> tuple[str, str]:
    if last_gain < first_gain / 2:
        return REPRODUCED, f"drop per doubling {_pct(last_gain)} at the end vs {_pct(first_gain)} at the start"
    return NOT_REPRODUCED, f"drop per doubling {_pct(last_gain)} at the end vs {_pct(first_gain)} at the start"


RULES = {"saving": saving, "lower_than_random": lower_than_random, "absolute": absolute, "trend": trend,
         "still_decreasing": still_decreasing, "diminishing_returns": diminishing_returns}


def judge(rule: str, inputs: dict) -> tuple[str, str]:
    """(verdict, reason) of ``rule`` on ``inputs``."""
    return RULES[rule](**inputs)


def row(quantity: str, paper: str, ours: str, rule: str, inputs: dict) -> dict:
    """A table row: the verdict comes from the rule, never from the caller."""
    verdict, reason = judge(rule, inputs)
    return {"quantity": quantity, "paper": paper, "ours": ours, "verdict": verdict, "reason": reason,
            "rule": rule, "inputs": inputs}


# rules of the relaxation test (fig7) and of the CsPbBr3 CCD paper (ccd) ---------------------
DROP = 0.5  # an error "drops" when its final value is at most this fraction of the initial one
SIMILAR = 1.5  # test and training errors are "similar" when test / train is at most this
PATH_SHARE = 0.1  # a model "follows" a path when its RMSE is at most this share of the path's energy range

RULE_TEXT.update({
    "unstated": "the paper states no number for this in its text (only a figure shows it): not comparable",
    "all_converged": "reproduced when every ML relaxation of the test converged (share = 100 %); otherwise not reproduced",
    "drops": (f"reproduced when the final error is at most {DROP:g} x the initial one; otherwise not reproduced "
              "(and not comparable when either is missing)"),
    "similar": f"reproduced when test RMSE / training RMSE <= {SIMILAR:g}; otherwise not reproduced",
    "lowest_best": ("reproduced when the lowest-energy quarter of the test set (by oracle energy) has the smallest "
                    "RMSE of the four quarters; otherwise not reproduced"),
    "follows_path": (f"reproduced when the model's RMSE along the path is at most {100 * PATH_SHARE:g} % of the "
                     "oracle's energy range along it; otherwise not reproduced"),
})


def unstated(ours: float, oracle: str) -> tuple[str, str]:
    return NOT_COMPARABLE, f"no number in the paper's text; ours on {oracle} labels ({ours:.3g})"


def all_converged(share: float) -> tuple[str, str]:
    if share >= 1.0:
        return REPRODUCED, "every test relaxation converged"
    return NOT_REPRODUCED, f"{_pct(share)} of the test relaxations converged"


def drops(initial: float | None, final: float | None) -> tuple[str, str]:
    if initial is None or final is None or not initial > 0:
        shown = ["none" if v is None else f"{v:.3g}" for v in (initial, final)]
        return NOT_COMPARABLE, f"initial {shown[0]}, final {shown[1]}: no ratio (no converged relaxation)"
    ratio = final / initial
    if ratio <= DROP:
        return REPRODUCED, f"final / initial = {ratio:.2f} <= {DROP:g}"
    return NOT_REPRODUCED, f"final / initial = {ratio:.2f} > {DROP:g}"


def similar(test: float, train: float) -> tuple[str, str]:
    ratio = test / train
    if ratio <= SIMILAR:
        return REPRODUCED, f"test / train = {ratio:.2f} <= {SIMILAR:g}"
    return NOT_REPRODUCED, f"test / train = {ratio:.2f} > {SIMILAR:g}"


def lowest_best(quarters: list[float]) -> tuple[str, str]:
    best = int(min(range(len(quarters)), key=lambda i: quarters[i]))
    if best == 0:
        return REPRODUCED, "the lowest-energy quarter has the smallest RMSE"
    return NOT_REPRODUCED, f"quarter {best + 1} of {len(quarters)} (low to high energy) has the smallest RMSE"


def follows_path(rmse: float, span: float) -> tuple[str, str]:
    share = rmse / span if span > 0 else math.inf
    if share <= PATH_SHARE:
        return REPRODUCED, f"RMSE is {100 * share:.1f} % of the range <= {100 * PATH_SHARE:g} %"
    return NOT_REPRODUCED, f"RMSE is {100 * share:.1f} % of the range > {100 * PATH_SHARE:g} %"


RULES.update({"unstated": unstated, "all_converged": all_converged, "drops": drops, "similar": similar,
              "lowest_best": lowest_best, "follows_path": follows_path})
