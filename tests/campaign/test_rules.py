"""Acquisition and stage rules of the two-stage active learning on synthetic sigma traces."""
from __future__ import annotations

import pytest

from perovflow.selection.acquisition import (
    StageRules,
    first_crossing,
    next_stage,
    plateaued,
    stage1_acquisitions,
    stage2_acquisitions,
)


def test_first_crossing_is_the_first_step_strictly_above():
    assert first_crossing([0.1, 0.5, 0.51, 0.9], 0.5) == 2
    assert first_crossing([0.1, 0.2], 0.5) is None


def test_stage1_takes_the_trajectories_that_cross_in_the_fewest_steps_per_phase():
    traces = {
        "Pm-3m": [[0.1, 0.2, 0.6], [0.7, 0.1], [0.1, 0.1, 0.1, 0.9], [0.1, 0.8]],
        "Pnma": [[0.1] * 5, [0.2, 0.3, 0.4, 0.6]],
    }
    chosen, thresholds = stage1_acquisitions(traces, {"Pm-3m": 0.5, "Pnma": 0.5}, per_phase=2, drop=0.2)
    by_phase = {(a.phase, a.index): a.step for a in chosen}
    # Pm-3m: crossings at steps 2, 0, 3, 1 -> indices 1 (step 0) and 3 (step 1)
    assert by_phase == {("Pm-3m", 1): 0, ("Pm-3m", 3): 1, ("Pnma", 1): 3}
    # continuation starts at the crossing step, with the sigma that crossed
    assert [a.sigma_mev for a in chosen if a.phase == "Pm-3m"] == [0.7, 0.8]
    # Pm-3m had enough crossings: unchanged; Pnma had one of two: drops by 20 %
    assert thresholds == {"Pm-3m": 0.5, "Pnma": pytest.approx(0.4)}


def test_stage1_threshold_drops_repeatedly_until_crossings_appear():
    traces = {"P4/mbm": [[0.30, 0.35], [0.31, 0.36]]}
    thresholds = {"P4/mbm": 0.5}
    rounds = 0
    while True:
        chosen, thresholds = stage1_acquisitions(traces, thresholds, per_phase=2)
        rounds += 1
        if len(chosen) == 2:
            break
    assert rounds == 3  # 0.5 -> 0.4 -> 0.32: at 0.32 both cross (0.35 and 0.36 at step 1)
    assert [a.step for a in chosen] == [1, 1] and thresholds["P4/mbm"] == pytest.approx(0.32)


def test_stage1_ties_go_to_the_lower_index_and_bad_settings_are_refused():
    chosen, _ = stage1_acquisitions({"Pm-3m": [[0.9], [0.9], [0.9]]}, {"Pm-3m": 0.5}, per_phase=2)
    assert [a.index for a in chosen] == [0, 1]
    with pytest.raises(ValueError, match="threshold_drop"):
        stage1_acquisitions({"Pm-3m": [[0.9]]}, {"Pm-3m": 0.5}, drop=1.5)
    with pytest.raises(ValueError, match="no threshold for phase 'Pnma'"):
        stage1_acquisitions({"Pnma": [[0.9]]}, {"Pm-3m": 0.5})


def test_stage2_picks_the_highest_final_sigma_per_phase_from_the_last_step():
    chosen = stage2_acquisitions({"Pm-3m": [0.2, 0.9, 0.5, 0.1], "Pnma": [0.3]}, per_phase=2,
                                 final_steps={"Pm-3m": [40, 12, 33, 8], "Pnma": [20]})
    assert [(a.phase, a.index, a.step) for a in chosen] == [("Pm-3m", 1, 12), ("Pm-3m", 2, 33), ("Pnma", 0, 20)]



def test_stage2_given_convergence_skips_relaxations_that_ran_out_of_steps():
    chosen = stage2_acquisitions({"Pm-3m": [0.2, 0.9, 0.5, 0.1], "Pnma": [0.3]}, per_phase=2,
                                 final_steps={"Pm-3m": [40, 200, 33, 8], "Pnma": [200]},
                                 converged={"Pm-3m": [True, False, True, True], "Pnma": [False]})
    assert [(a.phase, a.index, a.step) for a in chosen] == [("Pm-3m", 2, 33), ("Pm-3m", 0, 40)]


def test_stage2_fills_a_phase_short_of_converged_relaxations_with_unconverged_ones():
    chosen = stage2_acquisitions({"Pm-3m": [0.2, 0.9, 0.5, 0.1], "Pnma": [0.3, 80.0, 60.0]}, per_phase=2,
                                 final_steps={"Pm-3m": [40, 200, 33, 8], "Pnma": [50, 200, 200]},
                                 converged={"Pm-3m": [True, False, True, True], "Pnma": [True, False, False]},
                                 fill_unconverged=True)
    # converged first whatever their sigma; Pnma has one, so its highest-sigma unconverged one follows
    assert [(a.phase, a.index, a.step) for a in chosen] == [("Pm-3m", 2, 33), ("Pm-3m", 0, 40),
                                                            ("Pnma", 0, 50), ("Pnma", 1, 200)]

def test_plateau_needs_a_full_window():
    assert not plateaued([5.0, 4.99], 0.1, 2)
    assert plateaued([5.0, 4.99, 4.95], 0.1, 2)
    assert not plateaued([5.0, 4.5, 4.95], 0.1, 2)


def _tests(*maes, convergence=1.0):
    return [{"mae_mev": m, "convergence": convergence} for m in maes]


def test_stage_switches_and_stop():
    rules = StageRules(stage1_iterations=10, stage2_iterations=3, plateau_mev=0.1, plateau_window=2,
                       min_convergence=0.95)
    assert next_stage("stage1", _tests(5.0, 3.0, 2.0), rules, 0) == "stage1"  # still improving
    assert next_stage("stage1", _tests(5.0, 2.0, 1.98, 1.95), rules, 0) == "stage2"  # plateau
    # a plateau while relaxations still fail to converge keeps stage 1
    assert next_stage("stage1", _tests(5.0, 2.0, 1.98, 1.95, convergence=0.8), rules, 0) == "stage1"
    assert next_stage("stage1", _tests(*range(10, 0, -1)), rules, 0) == "stage2"  # iteration limit
    # the initial model's test leads stage 1's history but is not an iteration of it
    assert next_stage("stage1", _tests(*range(11, 1, -1)), rules, 0, iterations_done=9) == "stage1"
    assert next_stage("stage2", _tests(1.0, 0.5), rules, 0) == "stage2"
    assert next_stage("stage2", _tests(1.0, 0.5, 0.3), rules, 0) == "prune"  # stage-2 limit
    budget = StageRules(label_budget=100)
    assert next_stage("stage1", _tests(5.0), budget, 100) == "prune"
    with pytest.raises(ValueError, match="stage must be one of"):
        next_stage("prune", [], rules, 0)
