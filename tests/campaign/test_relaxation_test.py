"""Relaxation-test metrics and mixing enthalpies on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.campaign.relaxation_test import (
    RelaxedEnergy,
    end_member_starts,
    halide_fractions,
    mixing_enthalpies,
    relaxation_test_metrics,
)
from perovflow.structures import PerovskiteSystem

SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))


def test_metrics_count_only_converged_ml_relaxations():
    ml = [RelaxedEnergy(-3.000, True, 40), RelaxedEnergy(-3.010, True, 60), RelaxedEnergy(-2.5, False, 200)]
    engine = [RelaxedEnergy(-3.001, True, 30), RelaxedEnergy(-3.007, True, 35), RelaxedEnergy(-3.1, True, 50)]
    metrics = relaxation_test_metrics(ml, engine)
    assert metrics["convergence"] == pytest.approx(2 / 3) and metrics["n_converged"] == 2
    assert metrics["mae_mev"] == pytest.approx(2.0) and metrics["rmse_mev"] == pytest.approx(np.sqrt(5.0))
    with pytest.raises(ValueError, match="as many ML as reference"):
        relaxation_test_metrics(ml, engine[:2])
    none_converged = relaxation_test_metrics([RelaxedEnergy(-1, False, 200)], [RelaxedEnergy(-1, True, 3)])
    assert none_converged["mae_mev"] is None and none_converged["convergence"] == 0


def test_end_members_and_mixing_enthalpy_of_a_linear_energy_vanish():
    ends = end_member_starts(SYSTEM, ["Pm-3m", "Pnma"])
    assert [(a.info["phase"], a.info["end_member"]) for a in ends] == [
        ("Pm-3m", "Cl"), ("Pm-3m", "Br"), ("Pnma", "Cl"), ("Pnma", "Br")]
    assert all(len(set(a.get_chemical_symbols()) & {"Cl", "Br"}) == 1 for a in ends)
    mixed = ends[0].copy()
    symbols = mixed.get_chemical_symbols()
    cl_sites = [i for i, s in enumerate(symbols) if s == "Cl"]
    for i in cl_sites[:6]:
        symbols[i] = "Br"
    mixed.set_chemical_symbols(symbols)
    fractions = halide_fractions(mixed, ("Cl", "Br"))
    assert fractions.tolist() == [0.75, 0.25]
    references = {"Pm-3m": {"Cl": -3.0, "Br": -2.8}}
    linear = float(fractions @ [-3.0, -2.8])
    assert mixing_enthalpies([mixed], [linear], ("Cl", "Br"), references) == [pytest.approx(0.0)]
    assert mixing_enthalpies([mixed], [linear - 0.002], ("Cl", "Br"), references) == [pytest.approx(-2.0)]
    assert mixing_enthalpies([ends[2]], [-3.0], ("Cl", "Br"), references) == [None]  # no Pnma references
