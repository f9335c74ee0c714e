"""MBTR-KRR: analytic forces, GP uncertainty from the same factorisation, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.structures import PHASES, PerovskiteSystem, generate_pool, generate_test_set
from tests.models.conftest import SYSTEM


@pytest.mark.parametrize("phase", PHASES)
def test_forces_are_minus_the_energy_gradient(trained, phase):
    descriptor, model, _, _ = trained
    atoms = generate_test_set(SYSTEM, phases=(phase,), per_composition=1, seed=5)[7]
    atoms.calc = MBTRKRRCalculator(model, descriptor)
    forces = atoms.get_forces()
    assert np.abs(forces.sum(axis=0)).max() < 1e-10 * max(1.0, np.abs(forces).max())
    # five-point stencil: small truncation error at a step where round-off in the
    # (large, cancelling) kernel sums stays far below the tolerance
    step = 5e-4
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(atoms), size=4, replace=False):
        for axis in range(3):
            shifted = {}
            for multiple in (-2, -1, 1, 2):
                probe = atoms.copy()
                probe.positions[atom, axis] += multiple * step
                probe.calc = MBTRKRRCalculator(model, descriptor)
                shifted[multiple] = probe.get_potential_energy()
            gradient = (shifted[-2] - 8 * shifted[-1] + 8 * shifted[1] - shifted[2]) / (12 * step)
            numerical = -gradient
            scale = max(np.abs(forces).max(), 1e-8)
            assert abs(forces[atom, axis] - numerical) / scale < 1e-6


def test_gp_mean_is_the_krr_prediction_and_sigma_is_bounded(trained):
    descriptor, model, x, y = trained
    queries = descriptor.create(generate_test_set(SYSTEM, phases=PHASES, per_composition=1, seed=2)[:30])
    factor = np.tril(model._ensure_factor())
    centred = y - y.mean()
    alpha_vec = solve_triangular(factor.T, solve_triangular(factor, centred, lower=True), lower=False)
    k = np.exp(-model.hyper.gamma * ((queries[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    gp_mean = k @ alpha_vec + y.mean()
    assert np.abs(gp_mean - model.predict(queries)).max() < 1e-8

    bound = np.sqrt(model.hyper.alpha / (1 + model.hyper.alpha)) * model.amplitude
    assert np.all(model.sigma(x) <= bound * (1 + 1e-6))
    far = x[0] + np.linspace(0, 1, 6)[:, None] * 0.5 * np.abs(x).max(axis=0)
    sigmas = model.sigma(far)
    assert np.all(np.diff(sigmas) > 0) and sigmas[-1] > 10 * sigmas[0]
    assert sigmas[-1] <= model.amplitude * (1 + 1e-9)


def test_loaded_model_predicts_identically(trained):
    _, model, x, _ = trained
    again = KernelRidgeEnergy.from_arrays(model.to_arrays())
    assert np.array_equal(again.predict(x[:5]), model.predict(x[:5]))
    assert np.allclose(again.sigma(x[:5]), model.sigma(x[:5]), rtol=1e-10, atol=1e-14)


def test_bad_inputs_fail_clearly(trained):
    descriptor, model, x, y = trained
    with pytest.raises(ValueError, match="training set is empty"):
        KernelRidgeEnergy().fit(np.zeros((0, 5)), np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        KernelRidgeEnergy().fit(np.full((2, 3), np.nan), np.zeros(2))
    with pytest.raises(ValueError, match="descriptor settings"):
        model.predict(x[:, :10])
    atoms = generate_pool(PerovskiteSystem(a="Cs", b="Sn", x=("I",)), phases=("Pm-3m",), per_composition=1)[0]
    with pytest.raises(ValueError, match="species"):
        descriptor.create([atoms])
    bad = generate_pool(SYSTEM, phases=("Pm-3m",), per_composition=1)[0]
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        descriptor.create([bad])
