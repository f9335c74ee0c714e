"""Kernel ridge regression with the Gaussian kernel on per-atom energies.

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
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("model is not fitted")
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"expected {self.x_train.shape[1]} features, got {x.shape[1]}")
        return gaussian_kernel(x, self.x_train, self.hyper.gamma) @ self.weights + self.offset

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"x_train": self.x_train, "weights": self.weights,
                "offset": np.array(self.offset), "alpha": np.array(self.hyper.alpha),
                "gamma": np.array(self.hyper.gamma)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KernelRidgeEnergy":
        model = cls(KRRHyperparameters(alpha=float(arrays["alpha"]), gamma=float(arrays["gamma"])))
        model.x_train = np.asarray(arrays["x_train"], dtype=np.float64)
        model.weights = np.asarray(arrays["weights"], dtype=np.float64)
        model.offset = float(arrays["offset"])
        return model
