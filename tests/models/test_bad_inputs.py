"""Bad inputs fail early and say what was wrong."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.models.relaxation import ml_relax
from perovflow.structures import PerovskiteSystem, generate_pool, generate_relaxation_starts
from tests.models.conftest import SYSTEM


def test_species_the_model_does_not_know(trained):
    descriptor, model, _, _ = trained
    iodide = generate_pool(PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "I")), phases=("Pm-3m",),
                           per_composition=1)[5]
    iodide.calc = MBTRKRRCalculator(model, descriptor)
    with pytest.raises(ValueError, match=r"species \['I'\]"):
        iodide.get_potential_energy()
    with pytest.raises(ValueError, match=r"species \['I'\].*model species"):
        ml_relax(iodide, MBTRKRRCalculator(model, descriptor), max_steps=2)
    five = MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Cl", "Br", "I")))
    with pytest.raises(ValueError, match="trained on 500 features but the descriptor makes 750"):
        MBTRKRRCalculator(model, five)


def test_nan_positions(trained):
    descriptor, model, x, _ = trained
    start = generate_relaxation_starts(SYSTEM, phases=("Pm-3m",), per_phase=1, seed=1)[0]
    start.positions[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        ml_relax(start, MBTRKRRCalculator(model, descriptor), max_steps=2)
    start.calc = MBTRKRRCalculator(model, descriptor)
    with pytest.raises(ValueError, match="non-finite"):
        start.get_forces()
    bad = x[:2].copy()
    bad[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.sigma(bad)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)


def test_empty_training_set_and_unfitted_model():
    with pytest.raises(ValueError, match="training set is empty"):
        KernelRidgeEnergy().fit(np.zeros((0, 750)), np.zeros(0))
    with pytest.raises(ValueError, match="training set is empty"):
        KernelRidgeEnergy().fit(np.zeros((3, 0)), np.zeros(3))
    with pytest.raises(ValueError, match="3 feature rows but 2 energies"):
        KernelRidgeEnergy().fit(np.zeros((3, 4)), np.zeros(2))
    with pytest.raises(RuntimeError, match="not fitted"):
        KernelRidgeEnergy().predict(np.zeros((1, 4)))
