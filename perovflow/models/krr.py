"""Kernel ridge regression with the Gaussian kernel on per-atom energies, its analytic
forces, and the Gaussian-process uncertainty from the same factorisation.

The seed's model: k(x, x') = exp(-gamma |x - x'|^2), regulariser alpha, targets are total
energies per atom (centred by their training mean). Defaults are Table S1 of seed 000
(CsSn(Cl/Br/I)3: alpha 1e-5, gamma 4.279e-2 with MBTR normalised by the atom count).
The model round-trips through plain arrays so the store can keep it as ``.npz``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve


@dataclass(frozen=True)
class KRRHyperparameters:
    alpha: float = 1.0e-5
    gamma: float = 4.279e-2

    def __post_init__(self):
        if not (self.alpha > 0 and self.gamma > 0):
            raise ValueError(f"model.alpha and model.gamma must be > 0, got {self.alpha}, {self.gamma}")


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    np.maximum(d2, 0.0, out=d2)
    return d2


def gaussian_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    kernel = squared_distances(a, b)
    kernel *= -gamma
    np.exp(kernel, out=kernel)
    return kernel


class KernelRidgeEnergy:
    """Energies per atom from descriptor vectors."""

    def __init__(self, hyper: KRRHyperparameters = KRRHyperparameters()):
        self.hyper = hyper
        self.x_train: np.ndarray | None = None
        self.weights: np.ndarray | None = None
        self.offset = 0.0
        self._factor: np.ndarray | None = None  # lower Cholesky factor of K + alpha I
        self.amplitude: float | None = None  # GP signal amplitude in eV/atom

    def fit(self, x: np.ndarray, energy_per_atom: np.ndarray) -> "KernelRidgeEnergy":
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.asarray(energy_per_atom, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError("training set is empty: label some structures first")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} feature rows but {len(y)} energies")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("training features or energies contain NaN or inf")
        kernel = gaussian_kernel(x, x, self.hyper.gamma)
        kernel[np.diag_indices_from(kernel)] += self.hyper.alpha
        self.offset = float(y.mean())
        factor = cho_factor(kernel, lower=True, overwrite_a=True, check_finite=False)
        self.weights = cho_solve(factor, y - self.offset, check_finite=False)
        self.x_train = x
        self._factor = factor[0]
        self.amplitude = self._estimate_amplitude(y - self.offset)
        return self

    def _estimate_amplitude(self, centred: np.ndarray) -> float:
        # maximum-likelihood signal variance of a GP with covariance A^2 (K + alpha I)
        return float(np.sqrt(max(centred @ self.weights, 0.0) / len(centred)))

    def _ensure_factor(self) -> np.ndarray:
        if self._factor is None:  # a model loaded from the store: factorise once, on demand
            kernel = gaussian_kernel(self.x_train, self.x_train, self.hyper.gamma)
            kernel[np.diag_indices_from(kernel)] += self.hyper.alpha
            self._factor = cho_factor(kernel, lower=True, overwrite_a=True, check_finite=False)[0]
        return self._factor

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """GP standard deviation (eV/atom) of the per-atom energy at ``x``.

        Covariance amplitude^2 * k with noise amplitude^2 * alpha: the GP mean then equals
        the KRR prediction, and sigma comes from the same Cholesky factor.
        """
        from scipy.linalg import solve_triangular

        x = self._check_features(x)
        k = gaussian_kernel(x, self.x_train, self.hyper.gamma)
        v = solve_triangular(self._ensure_factor(), k.T, lower=True, check_finite=False)
        variance = 1.0 - (v * v).sum(axis=0)
        return self.amplitude * np.sqrt(np.clip(variance, 0.0, None))

    def energy_and_forces(self, features: np.ndarray, derivatives: np.ndarray) -> tuple[float, np.ndarray]:
        """Total energy (eV) and forces (eV/Å) of one structure from its features (F,) and
        their derivatives (n_atoms, 3, F)."""
        x = self._check_features(features.reshape(1, -1))[0]
        n_atoms = derivatives.shape[0]
        weighted = gaussian_kernel(x[None, :], self.x_train, self.hyper.gamma)[0] * self.weights
        energy_per_atom = weighted.sum() + self.offset
        # d(E/atom)/dx = -2 gamma (x sum_i w_i k_i - X^T (w k))
        gradient = -2.0 * self.hyper.gamma * (x * weighted.sum() - self.x_train.T @ weighted)
        forces = -n_atoms * np.einsum("acf,f->ac", derivatives, gradient)
        return float(n_atoms * energy_per_atom), forces

    def _check_features(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("model is not fitted")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"expected {self.x_train.shape[1]} features per row, got shape {x.shape}: "
                             "were the descriptor settings the same as the model's?")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or inf")
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self._check_features(x)
        return gaussian_kernel(x, self.x_train, self.hyper.gamma) @ self.weights + self.offset

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"x_train": self.x_train, "weights": self.weights,
                "offset": np.array(self.offset), "alpha": np.array(self.hyper.alpha),
                "gamma": np.array(self.hyper.gamma), "amplitude": np.array(self.amplitude)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KernelRidgeEnergy":
        model = cls(KRRHyperparameters(alpha=float(arrays["alpha"]), gamma=float(arrays["gamma"])))
        model.x_train = np.asarray(arrays["x_train"], dtype=np.float64)
        model.weights = np.asarray(arrays["weights"], dtype=np.float64)
        model.offset = float(arrays["offset"])
        model.amplitude = float(arrays["amplitude"]) if "amplitude" in arrays else None
        return model
