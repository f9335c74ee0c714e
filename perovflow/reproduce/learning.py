"""Learning curves: MBTR-KRR fitted on growing training sets, tested on energies per atom
and on forces (analytic MBTR-KRR forces against the oracle's forces).

Errors: energy MAE in meV/atom over the test set; force MAE in meV/Å over every Cartesian
component of every atom of the force test structures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters


@dataclass
class TestSet:
    """Test features and energies per atom (eV); for the force subset, the feature
    derivatives (m, atoms, 3, F) and the oracle's forces (m, atoms, 3) in eV/Å."""

    features: np.ndarray
    energy: np.ndarray
    force_features: np.ndarray
    derivatives: np.ndarray
    forces: np.ndarray


def build_test_set(data, descriptor: MBTRDescriptor, n_force: int, seed: int = 0) -> TestSet:
    """The test set of labelled ``data``; forces are tested on ``n_force`` structures drawn at
    random (their derivatives take n_atoms x 3 x F numbers each)."""
    from tqdm import tqdm

    n = len(data.energy)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n_force, n), replace=False))
    features, derivatives = [], []
    for i in tqdm(rows, desc="MBTR derivatives (force test set)", unit="structure"):
        f, d = descriptor.create_with_derivatives(data.structures[i])
        features.append(f)
        derivatives.append(d)
    return TestSet(data.features, data.energy, np.array(features), np.array(derivatives), data.forces[rows])


def hyperparameters(model_settings: dict) -> KRRHyperparameters:
    return KRRHyperparameters(alpha=float(model_settings["alpha"]), gamma=float(model_settings["gamma"]))


def predict_forces(model: KernelRidgeEnergy, features: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
    """Forces (m, atoms, 3) in eV/Å of m structures at once: the same numbers as
    :meth:`KernelRidgeEnergy.energy_and_forces` per structure, with the kernel rows of all m
    structures in one product.

    E = n_atoms e(x), e(x) = sum_i w_i k(x, X_i) + offset, k = exp(-gamma |x - X_i|^2), so
    de/dx = 2 gamma (X^T (w k) - (w . k) x) and F = -n_atoms (dx/dr)^T de/dx.
    """
    weighted = model.kernel_to_training(np.ascontiguousarray(features)) * model.weights[None, :]
    gradient = weighted @ model.x_train - weighted.sum(axis=1)[:, None] * features
    gradient *= 2.0 * model.hyper.gamma
    n_atoms = derivatives.shape[1]
    return -n_atoms * np.einsum("macf,mf->mac", derivatives, gradient)


def errors(model: KernelRidgeEnergy, test: TestSet) -> tuple[float, float]:
    """(energy MAE in meV/atom, force MAE in meV/Å) of a fitted model on ``test``."""
    energy = float(np.mean(np.abs(model.predict(test.features) - test.energy)) * 1000.0)
    if len(test.forces) == 0:
        return energy, float("nan")
    forces = predict_forces(model, test.force_features, test.derivatives)
    return energy, float(np.mean(np.abs(forces - test.forces)) * 1000.0)


def fit(x: np.ndarray, y: np.ndarray, hyper: KRRHyperparameters) -> KernelRidgeEnergy:
    # the amplitude only scales sigma, never a prediction: take the cheap rule
    return KernelRidgeEnergy(hyper, amplitude_rule="ml").fit(x, y)


def curve(order: np.ndarray, sizes: list[int], pool_x: np.ndarray, pool_y: np.ndarray,
          test: TestSet, hyper: KRRHyperparameters) -> list[dict]:
    """Errors of models fitted on the first n structures of ``order`` for every n in sizes."""
    points = []
    for n in sizes:
        if n > len(order):
            break
        rows = order[:n]
        energy, force = errors(fit(pool_x[rows], pool_y[rows], hyper), test)
        points.append({"n_train": int(n), "energy_mae": energy, "force_mae": force})
    return points
