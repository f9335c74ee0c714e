"""MBTR k=2 with the paper's settings (Table S1 of Homm et al. 2025): feature count, a
settings hash that follows every setting, and analytic derivatives that match finite
differences (the forces of the KRR model rest on them)."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.structures import PerovskiteSystem, generate_test_set


@pytest.fixture(scope="module")
def structure():
    system = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))
    return generate_test_set(system, phases=("Pnma",), per_composition=1, seed=2)[7]


def test_feature_count_is_grid_points_times_species_pairs():
    five = MBTRDescriptor(MBTRSettings(species=("Cs", "Sn", "Cl", "Br", "I")))
    assert five.n_features == 50 * 15 == 750  # the paper's 750 features for CsSn(Cl/Br/I)3
    assert MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Cl", "Br"))).n_features == 50 * 10


def test_settings_hash_follows_every_setting():
    base = MBTRSettings(species=("Cs", "Pb", "Cl", "Br"))
    assert base.hash == MBTRSettings(species=("Cs", "Pb", "Cl", "Br")).hash
    changed = [MBTRSettings(species=("Cs", "Pb", "Cl", "Br"), **{key: value})
               for key, value in [("sigma", 0.05), ("r_cut", 6.0), ("n_grid", 40), ("w_cut", 1e-2)]]
    assert len({base.hash, *(s.hash for s in changed)}) == 1 + len(changed)


def test_analytic_derivatives_match_finite_differences(structure):
    descriptor = MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Cl", "Br")))
    features, derivatives = descriptor.create_with_derivatives(structure)
    assert derivatives.shape == (len(structure), 3, descriptor.n_features)
    np.testing.assert_allclose(features, descriptor.create([structure])[0], rtol=1e-10, atol=1e-12)
    step = 1e-5
    for atom, axis in [(0, 0), (5, 2), (len(structure) - 1, 1)]:
        plus, minus = structure.copy(), structure.copy()
        plus.positions[atom, axis] += step
        minus.positions[atom, axis] -= step
        numeric = (descriptor.create([plus])[0] - descriptor.create([minus])[0]) / (2 * step)
        scale = np.abs(numeric).max()
        assert scale > 0
        np.testing.assert_allclose(derivatives[atom, axis], numeric, atol=1e-5 * scale)
