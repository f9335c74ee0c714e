"""Shared fixture: a small MBTR-KRR model of CsPb(Cl/Br)3 with smooth synthetic energies."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.structures import PHASES, PerovskiteSystem, generate_pool

SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))


@pytest.fixture(scope="session")
def trained():
    descriptor = MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Cl", "Br")))
    pool = generate_pool(SYSTEM, phases=PHASES, per_composition=1, seed=11)
    x = descriptor.create(pool)
    # a smooth synthetic energy of the geometry (a fixed random projection of the
    # features), so the model has something with real forces to learn without an oracle
    projection = np.random.default_rng(1).normal(size=x.shape[1])
    y = -3.0 + 0.05 * np.tanh(x @ projection / np.abs(x @ projection).max())
    model = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-5, gamma=4.279e-2)).fit(x, y)
    return descriptor, model, x, y
