"""Learning curves of the energy-and-force model (:mod:`perovflow.models.krr_forces`) beside
the energy-only MBTR-KRR of Homm et al. 2025, on the same training orders and test set.

Each training structure's random force projections are computed once (Jacobian times
``max_directions`` orthonormal random directions) and the first ``directions`` of them are
used by a curve, so curves with fewer directions use a subset of the same observations.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.models.krr import KRRHyperparameters
from perovflow.models.krr_forces import ForceObservations, KernelRidgeEnergyForces, KRRForcesHyperparameters
from perovflow.models.krr_forces import force_observations as make_observations
from perovflow.reproduce.learning import TestSet, errors, fit


@dataclass
class Projections:
    """``vectors`` (n, d_max, F) and ``targets`` (n, d_max) of every training structure."""

    vectors: np.ndarray
    targets: np.ndarray

    def observations(self, rows: np.ndarray, directions: int) -> ForceObservations:
        """The first ``directions`` projections of the structures ``rows``, indexed 0..len(rows)-1."""
        d = min(directions, self.vectors.shape[1])
        n_features = self.vectors.shape[2]
        return ForceObservations(np.repeat(np.arange(len(rows)), d),
                                 self.vectors[rows, :d].reshape(-1, n_features), self.targets[rows, :d].reshape(-1))


def projections(data, descriptor: MBTRDescriptor, max_directions: int, seed: int = 0) -> Projections:
    """Random force projections of every structure of labelled ``data`` (one Jacobian in memory)."""
    from tqdm import tqdm

    def jacobians():
        for atoms in tqdm(data.structures, desc="MBTR derivatives (force projections)", unit="structure"):
            yield descriptor.create_with_derivatives(atoms)[1]

    obs = make_observations(jacobians(), data.forces, max_directions, seed=seed)
    n = len(data.structures)
    return Projections(obs.directions.reshape(n, -1, obs.directions.shape[1]), obs.targets.reshape(n, -1))


def force_model_errors(model: KernelRidgeEnergyForces, test: TestSet) -> tuple[float, float]:
    """(energy MAE in meV/atom, force MAE in meV/Å) on ``test``."""
    energy = float(np.mean(np.abs(model.predict(test.features) - test.energy)) * 1000.0)
    forces = model.predict_forces(test.force_features, test.derivatives)
    return energy, float(np.mean(np.abs(forces - test.forces)) * 1000.0)


def curve(order: np.ndarray, sizes: list[int], pool_x: np.ndarray, pool_y: np.ndarray, test: TestSet,
          hyper: KRRForcesHyperparameters, projected: Projections | None) -> list[dict]:
    """Errors and fit seconds after the first n structures of ``order`` for every n in ``sizes``;
    ``projected`` None: the energy-only model."""
    points = []
    for n in sizes:
        if n > len(order):
            break
        rows = order[:n]
        began = time.perf_counter()
        if projected is None:
            model = fit(pool_x[rows], pool_y[rows], KRRHyperparameters(hyper.alpha, hyper.gamma))
            seconds = time.perf_counter() - began
            energy, force = errors(model, test)
            observations = n
        else:
            obs = projected.observations(rows, hyper.directions)
            model = KernelRidgeEnergyForces(hyper, amplitude_rule="ml").fit(pool_x[rows], pool_y[rows], obs)
            seconds = time.perf_counter() - began
            energy, force = force_model_errors(model, test)
            observations = n + len(obs.targets)
        points.append({"n_train": int(n), "observations": int(observations), "energy_mae": energy,
                       "force_mae": force, "fit_seconds": seconds})
    return points


def labels_to_reach(n_train: list[int], mae: list[float], target: float) -> float | None:
    """Training structures at which a (decreasing) curve first reaches ``target``, interpolated
    log-log between the two sizes around it; None when it never does."""
    for k, value in enumerate(mae):
        if value <= target:
            if k == 0:
                return float(n_train[0])
            x0, x1 = np.log(n_train[k - 1]), np.log(n_train[k])
            y0, y1 = np.log(mae[k - 1]), np.log(value)
            return float(np.exp(x0 + (np.log(target) - y0) * (x1 - x0) / (y1 - y0)))
    return None
