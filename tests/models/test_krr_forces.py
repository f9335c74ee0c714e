"""Energy-and-force kernel regression: kernel blocks against finite differences through the
real MBTR descriptor, a toy potential with known forces, storage and the ASE calculator."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.models.krr_forces import (
    ForceObservations,
    KernelRidgeEnergyForces,
    KRRForcesHyperparameters,
    force_observations,
    observation_kernel,
    project,
    random_directions,
)
from perovflow.models.saved import model_from_record, model_record
from perovflow.structures import PHASES, generate_pool, generate_test_set
from tests.models.conftest import SYSTEM

GAMMA = 4.279e-2


@pytest.fixture(scope="module")
def descriptor():
    return MBTRDescriptor(MBTRSettings(species=("Cs", "Pb", "Cl", "Br")))


def _kernel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.exp(-GAMMA * np.sum((a - b) ** 2)))


def _moved(descriptor, atoms, unit, t):
    probe = atoms.copy()
    probe.positions += t * unit.reshape(-1, 3)
    return descriptor.create([probe])[0]


def test_kernel_blocks_equal_finite_differences_of_the_energy_kernel(descriptor):
    structures = generate_test_set(SYSTEM, phases=PHASES, per_composition=1, seed=3)[:2]
    rng = np.random.default_rng(4)
    x, units, observations = [], [], []
    for atoms in structures:
        features, jacobian = descriptor.create_with_derivatives(atoms)
        u = random_directions(len(atoms), 2, rng)
        x.append(features)
        units.append(u)
        observations.append(project(jacobian, np.zeros((len(atoms), 3)), u)[0])
    x = np.array(x)
    obs = ForceObservations(np.array([0, 0, 1, 1]), np.vstack(observations), np.zeros(4))
    kernel = observation_kernel(x, obs, GAMMA)
    assert np.allclose(kernel, kernel.T, rtol=1e-12, atol=1e-14)
    # observation 2 + j is -n d/dt E of structure j // 2 along direction j % 2
    h = 1e-3
    n = [len(a) for a in structures]

    def along(j, t):
        return _moved(descriptor, structures[j // 2], units[j // 2][j % 2], t)

    checked = 0
    for energy_row in range(2):
        for j in range(4):
            plus, minus = along(j, h), along(j, -h)
            numerical = -n[j // 2] * (_kernel(x[energy_row], plus) - _kernel(x[energy_row], minus)) / (2 * h)
            assert kernel[energy_row, 2 + j] == pytest.approx(numerical, rel=1e-5, abs=1e-6)
            checked += abs(numerical) > 1e-2
    for i in range(4):
        for j in range(i, 4):
            value = 0.0
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                value += si * sj * _kernel(along(i, si * h), along(j, sj * h))
            numerical = n[i // 2] * n[j // 2] * value / (4 * h * h)
            assert kernel[2 + i, 2 + j] == pytest.approx(numerical, rel=1e-4, abs=1e-6)
            checked += abs(numerical) > 1e-2
    assert checked >= 6  # the blocks are not trivially zero (an energy with its own projections is 0)


def _toy(descriptor, structures):
    """A smooth energy per atom of the MBTR features with exact forces -n J^T grad e."""
    projection = np.random.default_rng(1).normal(size=descriptor.n_features)
    scale = 25.0
    features, jacobians, energies, forces = [], [], [], []
    for atoms in structures:
        x, jacobian = descriptor.create_with_derivatives(atoms)
        z = x @ projection / scale
        e = -3.0 + 0.05 * np.tanh(z) + 0.02 * z ** 2
        gradient = (0.05 * (1 - np.tanh(z) ** 2) + 0.04 * z) * projection / scale
        features.append(x)
        jacobians.append(jacobian)
        energies.append(e)
        forces.append(-len(atoms) * np.einsum("acf,f->ac", jacobian, gradient))
    return np.array(features), np.array(jacobians), np.array(energies), np.array(forces)


@pytest.fixture(scope="module")
def toy(descriptor):
    train = _toy(descriptor, generate_pool(SYSTEM, phases=PHASES, per_composition=1, seed=11)[:60])
    test = _toy(descriptor, generate_test_set(SYSTEM, phases=PHASES, per_composition=1, seed=2)[:30])
    hyper = KRRForcesHyperparameters(alpha=1e-8, gamma=GAMMA, force_alpha=1e-8, directions=6)
    obs = force_observations(train[1], train[3], hyper.directions, seed=0)
    model = KernelRidgeEnergyForces(hyper).fit(train[0], train[2], obs)
    energy_only = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-8, gamma=GAMMA)).fit(train[0], train[2])
    return train, test, obs, model, energy_only


def _force_mae(model, data):
    features, jacobians, _, forces = data
    predicted = np.array([model.energy_and_forces(f, j)[1] for f, j in zip(features, jacobians)])
    return float(np.abs(predicted - forces).mean())


def test_model_reproduces_trained_energies_and_force_projections(toy):
    train, _, obs, model, _ = toy
    assert len(obs.targets) == 6 * len(train[2])
    assert np.abs(model.predict(train[0]) - train[2]).max() < 1e-6
    predicted = np.array([model.energy_and_forces(f, j)[1] for f, j in zip(train[0], train[1])])
    units = [random_directions(40, 6, rng) for rng in [np.random.default_rng(0)] for _ in range(len(train[2]))]
    projections = np.concatenate([u @ p.reshape(-1) for u, p in zip(units, predicted)])
    scale = np.abs(obs.targets).max()
    assert np.abs(projections - obs.targets).max() < 1e-3 * scale


def test_forces_improve_over_the_energy_only_model(toy):
    train, test, _, model, energy_only = toy
    with_forces, without = _force_mae(model, test), _force_mae(energy_only, test)
    assert with_forces < 0.5 * without
    # the held-out energies do not get worse either
    energy_with = np.abs(model.predict(test[0]) - test[2]).mean()
    energy_without = np.abs(energy_only.predict(test[0]) - test[2]).mean()
    assert energy_with < energy_without
    # trained structures: the projections carry most of the full force field
    assert _force_mae(model, train) < 0.5 * _force_mae(energy_only, train)


@pytest.mark.parametrize("gamma", [GAMMA, GAMMA / 50])
def test_default_force_alpha_keeps_the_forces_at_a_tuned_tiny_gamma(toy, gamma):
    """The demo's BOSS-tuned gamma (~7e-4, alpha at its 1e-10 bound) makes a projection's prior
    variance 2 gamma |g|^2 fifty times smaller; an absolute force_alpha of 1e-3 then regularised
    the forces away (the krr-forces demo learnt like the energy-only one). The default relative
    force_alpha must keep the gain at both gammas."""
    from perovflow.settings import ModelSettings

    train, test, obs, _, _ = toy
    hyper = KRRForcesHyperparameters(alpha=1e-10, gamma=gamma, force_alpha=ModelSettings().force_alpha, directions=6)
    model = KernelRidgeEnergyForces(hyper).fit(train[0], train[2], obs)
    energy_only = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-10, gamma=gamma)).fit(train[0], train[2])
    assert _force_mae(model, test) < 0.6 * _force_mae(energy_only, test)


def test_old_models_keep_their_absolute_force_alpha(toy):
    train, _, obs, model, _ = toy
    arrays = model.to_arrays()
    assert str(arrays["force_alpha_rule"]) == "relative"
    del arrays["force_alpha_rule"]  # a model saved before the rule existed
    assert KernelRidgeEnergyForces.from_arrays(arrays).hyper.force_alpha_rule == "absolute"
    with pytest.raises(ValueError, match="force_alpha_rule"):
        KRRForcesHyperparameters(force_alpha_rule="scaled")


def test_forces_are_minus_the_gradient_of_the_predicted_energy(toy, descriptor):
    _, _, _, model, _ = toy
    atoms = generate_test_set(SYSTEM, phases=("Pnma",), per_composition=1, seed=5)[3]
    atoms.calc = MBTRKRRCalculator(model, descriptor)
    forces = atoms.get_forces()
    h = 1e-3
    for atom, axis in ((0, 0), (17, 2), (33, 1)):
        energies = []
        for sign in (1, -1):
            probe = atoms.copy()
            probe.positions[atom, axis] += sign * h
            energies.append(len(probe) * model.predict(descriptor.create([probe]))[0])
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-5, abs=1e-7)


def test_sigma_is_small_at_training_points_and_grows_away(toy):
    train, _, _, model, _ = toy
    at_training = model.sigma(train[0][:5])
    far = model.sigma(train[0][:1] + np.linspace(0, 1, 5)[:, None] * 0.5 * np.abs(train[0]).max(axis=0))
    assert np.all(at_training < 1e-2 * model.amplitude)
    assert np.all(np.diff(far) > 0) and far[-1] <= model.amplitude * (1 + 1e-9)


def test_save_and_load_round_trip_and_calculator(toy, descriptor):
    train, test, _, model, _ = toy
    ids = [f"s{i}" for i in range(len(train[2]))]
    arrays, meta = model_record(model, descriptor.settings, metrics={"test": 1.0}, training_ids=ids)
    assert meta["kind"] == "krr-forces" and meta["n_train"] == len(ids)
    assert meta["hyperparameters"]["force_alpha"] == model.hyper.force_alpha
    assert meta["hyperparameters"]["force_alpha_rule"] == "relative"
    assert meta["hyperparameters"]["force_directions"] == 6
    saved = model_from_record(arrays, meta, expected=descriptor.settings)
    again = saved.model
    assert isinstance(again, KernelRidgeEnergyForces)
    assert np.array_equal(again.predict(test[0]), model.predict(test[0]))
    assert np.allclose(again.sigma(test[0][:4]), model.sigma(test[0][:4]), rtol=1e-10)
    atoms = generate_test_set(SYSTEM, phases=("I4/mcm",), per_composition=1, seed=2)[0]
    atoms.calc = saved.calculator()
    features, jacobian = descriptor.create_with_derivatives(atoms)
    energy, forces = model.energy_and_forces(features, jacobian)
    assert atoms.get_potential_energy() == pytest.approx(energy, rel=1e-12)
    assert np.allclose(atoms.get_forces(), forces, rtol=1e-8, atol=1e-10)
    assert atoms.calc.get_property("sigma", atoms) == pytest.approx(model.sigma(features[None])[0], rel=1e-8)
    assert atoms.get_stress().shape == (6,)


def test_bad_inputs_are_named(toy):
    train, _, obs, _, _ = toy
    with pytest.raises(ValueError, match="force_alpha"):
        KRRForcesHyperparameters(force_alpha=0.0)
    with pytest.raises(ValueError, match="force_directions"):
        KRRForcesHyperparameters(directions=-1)
    wrong = ForceObservations(obs.rows + 100, obs.directions, obs.targets)
    with pytest.raises(ValueError, match="outside"):
        KernelRidgeEnergyForces().fit(train[0], train[2], wrong)
    with pytest.raises(ValueError, match="not a krr-forces"):
        KernelRidgeEnergyForces.from_arrays({"x_train": train[0]})


def test_without_projections_it_is_the_energy_model(toy):
    train, test, _, _, energy_only = toy
    empty = force_observations([], [], 0, n_features=train[0].shape[1])
    model = KernelRidgeEnergyForces(KRRForcesHyperparameters(alpha=1e-8, gamma=GAMMA, directions=0)).fit(
        train[0], train[2], empty)
    assert np.allclose(model.predict(test[0]), energy_only.predict(test[0]), rtol=0, atol=1e-10)
    assert _force_mae(model, test) == pytest.approx(_force_mae(energy_only, test), rel=1e-6)
    assert model.sigma(test[0][:3]) / model.amplitude == pytest.approx(
        energy_only.sigma(test[0][:3]) / energy_only.amplitude, rel=1e-6)


@pytest.mark.parametrize(("model", "field", "allowed"), [
    ({"kind": "krr-force"}, "model.kind", "krr-forces"),
    ({"kind": "krr-forces", "force_directions": 0}, "model.force_directions", "a positive integer"),
    ({"kind": "krr-forces", "force_alpha": -1}, "model.force_alpha", "a positive number"),
])
def test_campaign_files_name_the_bad_force_setting(model, field, allowed):
    from perovflow.settings import CampaignError, parse_campaign
    from tests.campaign.helpers import small_campaign

    with pytest.raises(CampaignError, match=field) as error:
        parse_campaign(small_campaign(model=model))
    assert allowed in str(error.value)


def test_campaign_file_defaults_for_the_force_model():
    from perovflow.settings import parse_campaign
    from tests.campaign.helpers import small_campaign

    model = parse_campaign(small_campaign(model={"kind": "krr-forces"})).model
    assert (model.kind, model.force_directions, model.force_alpha) == ("krr-forces", 4, 5e-3)


def test_blocked_factor_is_the_observation_kernel(toy):
    train, _, obs, model, _ = toy
    kernel = observation_kernel(train[0], obs, GAMMA)
    n = len(train[2])
    kernel[np.arange(n), np.arange(n)] += model.hyper.alpha
    diagonal = np.arange(n, len(kernel))
    kernel[diagonal, diagonal] *= 1.0 + model.hyper.force_alpha  # relative rule: a fraction of the prior
    for block_bytes in (None, 8 * len(kernel) * 7):  # one block; blocks of 7 rows straddling N
        factor = np.tril(model._factorise(block_bytes=block_bytes))
        assert np.allclose(factor @ factor.T, kernel, rtol=1e-9, atol=1e-9 * np.abs(kernel).max())


def test_held_out_structures_calibrate_the_force_model_like_the_energy_model(toy):
    train, test, obs, _, _ = toy
    model = KernelRidgeEnergyForces(KRRForcesHyperparameters(alpha=1e-8, gamma=GAMMA, force_alpha=1e-8,
                                                             directions=6)).fit(train[0], train[2], obs)
    unit = model.sigma(test[0]) / model.amplitude
    used = model.calibrate_on_held_out(test[0], test[2])
    assert used == len(test[2]) and model.amplitude_rule == "holdout"
    errors = model.predict(test[0]) - test[2]
    assert model.amplitude == pytest.approx(np.sqrt(np.sum(errors ** 2) / np.sum(unit ** 2)), rel=1e-9)
    again = KernelRidgeEnergyForces.from_arrays(model.to_arrays())
    assert again.amplitude_rule == "holdout" and again.amplitude == model.amplitude
