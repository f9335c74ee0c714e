"""Helpers of the energy-and-force learning curves: labels to reach an error, projections per curve."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.reproduce.force_learning import Projections, labels_to_reach


def test_labels_to_reach_interpolates_log_log():
    n, mae = [100, 400], [4.0, 1.0]  # mae = 400 / n
    assert labels_to_reach(n, mae, 2.0) == pytest.approx(200.0)
    assert labels_to_reach(n, mae, 5.0) == 100.0  # already at the first size
    assert labels_to_reach(n, mae, 0.5) is None  # never reached


def test_projections_take_the_first_directions_of_the_chosen_structures():
    vectors = np.arange(3 * 4 * 2, dtype=float).reshape(3, 4, 2)
    targets = np.arange(12, dtype=float).reshape(3, 4)
    obs = Projections(vectors, targets).observations(np.array([2, 0]), 3)
    assert obs.rows.tolist() == [0, 0, 0, 1, 1, 1]  # rows index the training subset
    assert obs.targets.tolist() == [8, 9, 10, 0, 1, 2]
    assert np.array_equal(obs.directions[3], vectors[0, 0])
