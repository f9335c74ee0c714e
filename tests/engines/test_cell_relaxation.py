"""Engine relaxations under the paper's constraint with the cell free within the phase's
space group (Homm et al. 2025, IV.B): CHGNet's stress through ASE, every step's stress kept."""

from __future__ import annotations

import numpy as np
import pytest

from perovflow.structures import PHASES, PerovskiteSystem, SymmetryConstraint, generate_relaxation_starts
from tests.symmetry_checks import assert_paper_constraint

SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))


@pytest.fixture(scope="module")
def chgnet():
    from perovflow.engines.chgnet import CHGNetEngine

    return CHGNetEngine()


@pytest.mark.parametrize("phase", PHASES)
def test_chgnet_symmetric_cell_relaxation(chgnet, phase):
    start = generate_relaxation_starts(SYSTEM, phases=(phase,), per_phase=1, seed=9)[0]
    work = start.copy()
    work.set_constraint(SymmetryConstraint(work))
    relaxation = chgnet.relax(work, fmax=1e-4, max_steps=6, cell="symmetric")
    assert len(relaxation.labels) == 7 and all(label.stress is not None for label in relaxation.labels)
    assert_paper_constraint(start, relaxation.structures[-1])


def test_chgnet_fixed_cell_relaxation_keeps_the_cell(chgnet):
    start = generate_relaxation_starts(SYSTEM, phases=("Pnma",), per_phase=1, seed=9)[0]
    start.set_constraint(SymmetryConstraint(start))
    relaxation = chgnet.relax(start, fmax=1e-4, max_steps=2)
    assert np.array_equal(np.array(relaxation.structures[-1].cell), np.array(start.cell))
    assert all(label.stress is None for label in relaxation.labels)
