"""ML relaxations with the sigma trace, under the structures' symmetry constraint."""
from __future__ import annotations

import numpy as np

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.relaxation import ml_relax
from perovflow.structures import SymmetryConstraint, generate_relaxation_starts
from tests.models.conftest import SYSTEM


def test_relaxation_records_energy_force_and_sigma_per_step(trained):
    descriptor, model, _, _ = trained
    start = generate_relaxation_starts(SYSTEM, phases=("Pnma",), per_phase=1, seed=4)[0]
    start.rattle(0.05, seed=1)
    calculator = MBTRKRRCalculator(model, descriptor)
    trace = ml_relax(start, calculator, fmax=0.05, max_steps=25, constraint=SymmetryConstraint(start))
    n = len(trace.energies)
    assert n == len(trace.max_forces) == len(trace.sigmas) == len(trace.structures) >= 2
    assert trace.energies[-1] < trace.energies[0]
    assert all(s >= 0 for s in trace.sigmas)
    assert trace.converged == (trace.max_forces[-1] < 0.05)
    assert trace.final_fmax == trace.max_forces[-1]  # cell fixed: the optimizer sees the atoms' forces only
    threshold = float(np.median(trace.sigmas))
    crossing = trace.first_crossing(threshold)
    assert crossing is None or trace.sigmas[crossing] > threshold
    assert trace.first_crossing(max(trace.sigmas) + 1) is None


def test_step_limit_is_respected(trained):
    descriptor, model, _, _ = trained
    start = generate_relaxation_starts(SYSTEM, phases=("Pm-3m",), per_phase=1, seed=2)[0]
    start.rattle(0.1, seed=3)
    trace = ml_relax(start, MBTRKRRCalculator(model, descriptor), fmax=1e-6, max_steps=3, track_sigma=False)
    assert trace.steps <= 3 and not trace.converged and trace.sigmas == []


def test_sigma_trace_is_the_exact_sigma_of_every_recorded_structure(trained):
    descriptor, model, _, _ = trained
    start = generate_relaxation_starts(SYSTEM, phases=("I4/mcm",), per_phase=1, seed=6)[0]
    start.rattle(0.04, seed=2)
    trace = ml_relax(start, MBTRKRRCalculator(model, descriptor), fmax=1e-6, max_steps=6)
    each = [model.sigma(descriptor.create([atoms]))[0] * 1000 for atoms in trace.structures]
    assert np.allclose(trace.sigmas, each, rtol=1e-9, atol=0)
    assert len(set(np.round(trace.sigmas, 12))) > 1  # the structures did move


def test_sigma_after_forces_reuses_the_features(trained, monkeypatch):
    descriptor, model, _, _ = trained
    atoms = generate_relaxation_starts(SYSTEM, phases=("Pnma",), per_phase=1, seed=8)[0]
    calls = []
    import perovflow.models.calculator as calculator_module

    original = calculator_module.k2_derivatives
    monkeypatch.setattr(calculator_module, "k2_derivatives", lambda *a: calls.append(1) or original(*a))
    calculator = MBTRKRRCalculator(model, descriptor)
    atoms.calc = calculator
    atoms.get_forces()
    sigma = calculator.get_property("sigma", atoms)
    assert len(calls) == 1 and sigma == model.sigma(calculator.features[None, :])[0]
    atoms.positions[0, 0] += 0.01  # a new structure: everything is computed again
    calculator.get_property("sigma", atoms)
    assert len(calls) == 2
