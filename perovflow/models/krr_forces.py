"""Kernel regression on energies and forces through the MBTR descriptor (beyond Homm et al. 2025).

The paper's model learns the energy per atom e(x) of the descriptor x from energies only; its
CsSn(Cl/Br/I)3 forces were off by 59 meV/Å. Here e is the same Gaussian process (covariance
k(x, x') = exp(-gamma |x - x'|^2), energies per atom centred by their mean), conditioned also
on force information. Every labelled structure with n atoms, descriptor Jacobian J = dx/dR of
shape (3n, F) and forces f gives, besides its energy, ``directions`` scalar observations

    s = u . f = g . grad e(x),   g = -n J^T u,

for orthonormal random unit directions u in R^{3n} (a force projection is a directional
derivative of the energy, so it is a linear functional of e). All N + M observations (N
energies, M projections) are fitted together with one Cholesky factorisation, as in
:mod:`perovflow.models.krr`; a few random projections per structure carry much of the
information of all 3n components at a fraction of the cost (N (1 + d) observations instead of
N (1 + 3n)).

Covariances of observations L_o e = c_o e(x_o) + g_o . grad e(x_o) (c = 1, g = 0 for an energy;
c = 0 for a projection), with r = x_o - x_p and k = k(x_o, x_p):

    cov(L_o, L_p) = k [c_o c_p + 2 gamma (c_o g_p.r - c_p g_o.r) + 2 gamma g_o.g_p
                       - 4 gamma^2 (g_o.r)(g_p.r)]

The prediction folds each structure's projections into one vector B_s = sum_o w_o g_o, so
energies and forces cost what the energy model's do:

    e(x) = offset + sum_s k(x, X_s) [a_s + 2 gamma B_s.(x - X_s)]

Regularisers: ``alpha`` on the energies (as in the energy model, a fraction of the unit prior
variance) and ``force_alpha`` on the projections. With ``force_alpha_rule`` "relative" (the
default) a projection's regulariser is ``force_alpha`` times its own prior variance
2 gamma |g|^2, so it means the same whatever gamma and the MBTR normalisation: the prior
variance of a projection scales with gamma |g|^2, and an absolute force_alpha tuned at one gamma
drowns the forces at a 50 times smaller one (the demo's BOSS-tuned gamma ~7e-4). "absolute"
(models saved before the rule existed) adds ``force_alpha`` itself, in (eV/Å)^2 of the
unit-amplitude prior. Sigma is the GP standard deviation of the latent energy per atom, its
amplitude calibrated by the leave-one-out residuals of the energy observations (rule
``loo_latent`` as in the energy model: a structure's energy left out, its projections kept).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.linalg import lapack, solve_triangular

from perovflow.models.krr import (
    BLOCK_BYTES,
    KernelEnergyModel,
    KRRHyperparameters,
    _kernel_rows,
    cholesky_solve,
    rows_per_block,
)

KIND = "krr-forces"
FORCE_ALPHA_RULES = ("relative", "absolute")


@dataclass(frozen=True)
class KRRForcesHyperparameters:
    alpha: float = 1.0e-5
    gamma: float = 4.279e-2
    force_alpha: float = 5.0e-3
    directions: int = 4
    force_alpha_rule: str = "relative"

    def __post_init__(self):
        KRRHyperparameters(self.alpha, self.gamma)  # same checks and message
        if not self.force_alpha > 0:
            raise ValueError(f"model.force_alpha must be > 0, got {self.force_alpha}")
        if not (isinstance(self.directions, (int, np.integer)) and self.directions >= 0):
            raise ValueError(f"model.force_directions must be an integer >= 0, got {self.directions!r}")
        if self.force_alpha_rule not in FORCE_ALPHA_RULES:
            raise ValueError(f"force_alpha_rule must be one of {FORCE_ALPHA_RULES}, got {self.force_alpha_rule!r}")

    def force_regulariser(self, prior_variance: np.ndarray) -> np.ndarray:
        """The regulariser of projections whose prior variances are ``prior_variance``."""
        if self.force_alpha_rule == "relative":
            return self.force_alpha * prior_variance
        return np.full_like(prior_variance, self.force_alpha)


@dataclass
class ForceObservations:
    """Projected-force observations: ``rows`` (M,) index the structure of each, ``directions``
    (M, F) are the descriptor-space vectors g = -n J^T u, ``targets`` (M,) the projections u . f
    in eV/Å."""

    rows: np.ndarray
    directions: np.ndarray
    targets: np.ndarray

    @classmethod
    def empty(cls, n_features: int) -> "ForceObservations":
        return cls(np.zeros(0, dtype=np.intp), np.zeros((0, n_features)), np.zeros(0))


def random_directions(n_atoms: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` orthonormal random unit vectors in R^{3 n_atoms}, shape (count, 3 n_atoms)."""
    count = min(count, 3 * n_atoms)
    q, _ = np.linalg.qr(rng.standard_normal((3 * n_atoms, count)))
    return q.T


def project(jacobian: np.ndarray, forces: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Descriptor-space vectors g = -n J^T u (count, F) and projections u . f (count,) of one
    structure with Jacobian (n_atoms, 3, F) and forces (n_atoms, 3)."""
    n_atoms = jacobian.shape[0]
    flat = np.asarray(jacobian, dtype=np.float64).reshape(3 * n_atoms, -1)
    return -n_atoms * (units @ flat), units @ np.asarray(forces, dtype=np.float64).reshape(-1)


def key_seed(key: str) -> int:
    """A seed from a structure id: the same directions for the same structure in every fit."""
    return int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little")


def force_observations(jacobians: Iterable[np.ndarray], forces: Iterable[np.ndarray], count: int,
                       seed: int = 0, n_features: int | None = None,
                       keys: Sequence[str] | None = None) -> ForceObservations:
    """``count`` random projections per structure, from Jacobians (n_atoms, 3, F) and forces
    (n_atoms, 3) given one structure at a time (a generator keeps one Jacobian in memory).
    With ``keys`` (structure ids) each structure's directions come from its own id, else from
    one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    rows, vectors, targets = [], [], []
    for row, (jacobian, force) in enumerate(zip(jacobians, forces)):
        if keys is not None:
            rng = np.random.default_rng(key_seed(keys[row]))
        jacobian = np.asarray(jacobian)
        if jacobian.ndim != 3 or jacobian.shape[1] != 3 or np.shape(force) != jacobian.shape[:2]:
            raise ValueError(f"structure {row}: Jacobian must be (n_atoms, 3, F) and forces (n_atoms, 3), "
                             f"got {jacobian.shape} and {np.shape(force)}")
        g, s = project(jacobian, force, random_directions(jacobian.shape[0], count, rng))
        rows.extend([row] * len(s))
        vectors.append(g)
        targets.append(s)
        n_features = jacobian.shape[2]
    if not vectors:
        if n_features is None:
            raise ValueError("no structures and no n_features: cannot make an empty set of force observations")
        return ForceObservations.empty(n_features)
    return ForceObservations(np.array(rows, dtype=np.intp), np.vstack(vectors), np.concatenate(targets))


def _observation_kernel(points: np.ndarray, vectors: np.ndarray, is_energy: np.ndarray, gamma: float,
                        rows: slice, columns: slice, squares: np.ndarray, vector_dots: np.ndarray) -> np.ndarray:
    """cov(L_o, L_p) of the module docstring for observations o in ``rows``, p in ``columns``."""
    p_o, p_p = points[rows], points[columns]
    g_o, g_p = vectors[rows], vectors[columns]
    c_o, c_p = is_energy[rows][:, None], is_energy[columns][None, :]
    k = _kernel_rows(p_o, squares[rows], p_p, squares[columns], gamma)
    g_o_r = vector_dots[rows][:, None] - g_o @ p_p.T  # g_o . (x_o - x_p)
    g_p_r = p_o @ g_p.T - vector_dots[columns][None, :]  # g_p . (x_o - x_p)
    factor = g_o @ g_p.T
    factor *= 2.0 * gamma
    factor -= (4.0 * gamma * gamma) * g_o_r * g_p_r
    factor += c_o * c_p + (2.0 * gamma) * (c_o * g_p_r - c_p * g_o_r)
    k *= factor
    return k


def observation_kernel(x: np.ndarray, observations: ForceObservations, gamma: float) -> np.ndarray:
    """The (N + M) x (N + M) prior covariance of N energies at ``x`` and the projections
    ``observations`` (no regulariser), in one block: for small sets and tests."""
    rows = np.asarray(observations.rows, dtype=np.intp)
    x = np.ascontiguousarray(x, dtype=np.float64)
    points = np.vstack([x, x[rows]])
    vectors = np.vstack([np.zeros_like(x), np.asarray(observations.directions, dtype=np.float64)])
    is_energy = np.concatenate([np.ones(len(x)), np.zeros(len(rows))])
    everything = slice(0, len(points))
    return _observation_kernel(points, vectors, is_energy, gamma, everything, everything,
                               np.einsum("ij,ij->i", points, points), np.einsum("ij,ij->i", vectors, points))


class KernelRidgeEnergyForces(KernelEnergyModel):
    """Energies per atom from descriptor vectors, fitted to energies and force projections;
    the same prediction interface as :class:`perovflow.models.krr.KernelRidgeEnergy`."""

    kind = KIND

    def __init__(self, hyper: KRRForcesHyperparameters = KRRForcesHyperparameters(),
                 amplitude_rule: str = "loo_latent"):
        super().__init__(hyper, amplitude_rule)
        # weights (N + M): energies first, then projections
        self.observations: ForceObservations | None = None
        self._folded: np.ndarray | None = None  # B_s, (N, F)
        self._folded_dots: np.ndarray | None = None

    @property
    def n_structures(self) -> int:
        return 0 if self.x_train is None else len(self.x_train)

    def fit(self, x: np.ndarray, energy_per_atom: np.ndarray, observations: ForceObservations,
            calibration_rows: np.ndarray | None = None) -> "KernelRidgeEnergyForces":
        x, y = self._training_arrays(x, energy_per_atom)
        rows = np.asarray(observations.rows, dtype=np.intp)
        vectors = np.ascontiguousarray(observations.directions, dtype=np.float64)
        targets = np.asarray(observations.targets, dtype=np.float64).reshape(-1)
        if vectors.shape != (len(rows), x.shape[1]) or len(targets) != len(rows):
            raise ValueError(f"force observations: {len(rows)} rows, directions {vectors.shape}, {len(targets)} "
                             f"targets for features with {x.shape[1]} columns")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(x)):
            raise ValueError(f"force observations refer to structure rows outside 0..{len(x) - 1}")
        if not all(np.all(np.isfinite(a)) for a in (x, y, vectors, targets)):
            raise ValueError("training features, energies or force observations contain NaN or inf")
        self._factor = None
        self.x_train = x
        self._x_sq = np.einsum("ij,ij->i", x, x)
        self.observations = ForceObservations(rows, vectors, targets)
        self.offset = float(y.mean())
        self._factor = self._factorise()
        self.weights = cholesky_solve(self._factor, np.concatenate([y - self.offset, targets]))
        self._fold()
        self._amplitude_after_fit(calibration_rows)
        return self

    def _factorise(self, block_bytes: int | None = None) -> np.ndarray:
        """Lower Cholesky factor of the observation covariance plus the regularisers, built in
        row blocks in the one (N + M)^2 buffer and factorised in place (as the energy model's).

        Only the projection-projection products g_o . g_p need a product over the features per
        entry; the kernel between structures (N x N) and g_o . x_s (M x N) are computed once and
        gathered, so building costs about (M^2 / 2 + N M + N^2 / 2) F multiply-adds."""
        x, obs, gamma = self.x_train, self.observations, self.hyper.gamma
        n, m = len(x), len(obs.rows)
        total = n + m
        structure = np.concatenate([np.arange(n), obs.rows])
        between = _kernel_rows(x, self._x_sq, x, self._x_sq, gamma)  # k(X_s, X_t)
        g = obs.directions
        g_x = g @ x.T  # (M, N): g_o . x_s
        g_own = g_x[np.arange(m), obs.rows]  # g_o . x_(s_o)
        buffer = np.zeros((total, total))
        step = rows_per_block(total, (BLOCK_BYTES if block_bytes is None else block_bytes) // 4)
        for i0 in range(0, total, step):
            i1 = min(total, i0 + step)
            out = buffer[i0:i1, :i1]
            out[:] = between[structure[i0:i1]][:, structure[:i1]]
            e1 = min(i1, n)  # energy rows [i0, e1) and energy columns [0, e1)
            f0 = max(i0, n)  # projection rows [f0, i1); projection columns [n, i1)
            if i1 <= n:
                continue
            cols = slice(0, i1 - n)  # projection indices of the projection columns
            if i0 < e1:  # energy rows, projection columns: 2 gamma g_p . (x_o - x_(s_p))
                out[:e1 - i0, n:] *= (2.0 * gamma) * (g_x[cols, i0:e1].T - g_own[cols][None, :])
            rows = slice(f0 - n, i1 - n)  # projection indices of the projection rows
            # projection rows, energy columns: -2 gamma g_o . (x_(s_o) - x_p)
            out[f0 - i0:, :n] *= (-2.0 * gamma) * (g_own[rows][:, None] - g_x[rows, :n])
            # projection rows and columns: 2 gamma g_o.g_p - 4 gamma^2 (g_o.r)(g_p.r), r = x_(s_o) - x_(s_p)
            g_o_r = g_own[rows][:, None] - g_x[rows][:, obs.rows[cols]]
            g_p_r = g_x[cols][:, obs.rows[rows]].T - g_own[cols][None, :]
            factor = g[rows] @ g[cols].T
            factor *= 2.0 * gamma
            g_o_r *= g_p_r
            g_o_r *= 4.0 * gamma * gamma
            factor -= g_o_r
            out[f0 - i0:, n:] *= factor
        diagonal = np.einsum("ii->i", buffer)
        diagonal[:n] = 1.0 + self.hyper.alpha
        prior = 2.0 * gamma * np.einsum("ij,ij->i", g, g)
        diagonal[n:] = prior + self.hyper.force_regulariser(prior)
        factor, info = lapack.dpotrf(buffer.T, lower=0, clean=0, overwrite_a=1)
        if info > 0:
            raise np.linalg.LinAlgError(
                f"kernel matrix of energies and force projections is not positive definite (leading minor {info}): "
                f"increase model.alpha ({self.hyper.alpha:g}) or model.force_alpha ({self.hyper.force_alpha:g})")
        if info < 0:
            raise ValueError(f"dpotrf: illegal argument {-info}")
        if not np.shares_memory(factor, buffer):
            raise RuntimeError("dpotrf did not factorise in place")
        return buffer

    def _fold(self) -> None:
        n = len(self.x_train)
        folded = np.zeros_like(self.x_train)
        obs = self.observations
        np.add.at(folded, obs.rows, self.weights[n:, None] * obs.directions)
        self._folded = folded
        self._folded_dots = np.einsum("ij,ij->i", folded, self.x_train)  # B_s . X_s

    def _structure_terms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k(x, X_s) (q, N) and the per-structure coefficients a_s + 2 gamma B_s.(x - X_s)."""
        k = _kernel_rows(x, np.einsum("ij,ij->i", x, x), self.x_train, self._x_sq, self.hyper.gamma)
        n = len(self.x_train)
        coefficient = x @ self._folded.T
        coefficient -= self._folded_dots[None, :]
        coefficient *= 2.0 * self.hyper.gamma
        coefficient += self.weights[None, :n]
        return k, coefficient

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self._check_features(x)
        result = np.empty(len(x))
        step = rows_per_block(len(self.x_train), BLOCK_BYTES // 2)
        for start in range(0, len(x), step):
            k, coefficient = self._structure_terms(x[start:start + step])
            result[start:start + step] = np.einsum("ij,ij->i", k, coefficient)
        return result + self.offset

    def energy_gradients(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies per atom (q,) and their gradients on the features (q, F)."""
        x = self._check_features(x)
        k, coefficient = self._structure_terms(x)
        weighted = k * coefficient  # k_s h_s
        gamma = self.hyper.gamma
        # grad e = -2 gamma (x sum_s k_s h_s - X^T (k h)) + 2 gamma B^T k
        gradient = weighted @ self.x_train
        gradient -= weighted.sum(axis=1)[:, None] * x
        gradient += k @ self._folded
        gradient *= 2.0 * gamma
        return weighted.sum(axis=1) + self.offset, gradient

    def energy_gradient(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        energy, gradient = self.energy_gradients(np.reshape(features, (1, -1)))
        return float(energy[0]), gradient[0]

    def predict_forces(self, features: np.ndarray, derivatives: np.ndarray) -> np.ndarray:
        """Forces (m, atoms, 3) of m structures with features (m, F) and derivatives (m, atoms, 3, F)."""
        _, gradient = self.energy_gradients(features)
        return -derivatives.shape[1] * np.einsum("macf,mf->mac", derivatives, gradient)

    def observation_covariances(self, x: np.ndarray) -> np.ndarray:
        """cov(e(x), L_o) for queries (q, F) and every training observation, shape (q, N + M)."""
        obs = self.observations
        k = _kernel_rows(x, np.einsum("ij,ij->i", x, x), self.x_train, self._x_sq, self.hyper.gamma)
        # projection o at structure s: k(x, X_s) 2 gamma g_o.(x - X_s)
        along = x @ obs.directions.T
        along -= np.einsum("ij,ij->i", obs.directions, self.x_train[obs.rows])[None, :]
        along *= 2.0 * self.hyper.gamma * k[:, obs.rows]
        return np.hstack([k, along])

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """GP standard deviation (eV/atom) of the latent energy per atom at ``x``."""
        x = self._check_features(x)
        factor = self._ensure_factor()
        result = np.empty(len(x))
        step = rows_per_block(len(self.weights), BLOCK_BYTES // 2)
        for start in range(0, len(x), step):
            block = self.observation_covariances(x[start:start + step])
            v = solve_triangular(factor, np.asfortranarray(block.T), lower=True, check_finite=False,
                                 overwrite_b=True)
            result[start:start + step] = 1.0 - np.einsum("ij,ij->j", v, v)
        return self._ensure_amplitude() * np.sqrt(np.clip(result, 0.0, None))

    def to_arrays(self) -> dict[str, np.ndarray]:
        obs = self.observations
        return {"model_kind": np.array(KIND), "x_train": self.x_train, "weights": self.weights,
                "offset": np.array(self.offset), "alpha": np.array(self.hyper.alpha),
                "gamma": np.array(self.hyper.gamma), "force_alpha": np.array(self.hyper.force_alpha),
                "force_alpha_rule": np.array(self.hyper.force_alpha_rule),
                "force_directions_per_structure": np.array(self.hyper.directions),
                "force_rows": obs.rows, "force_vectors": obs.directions, "force_targets": obs.targets,
                "amplitude": np.array(np.nan if self.amplitude is None else self.amplitude),
                "amplitude_rule": np.array(self.amplitude_rule)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KernelRidgeEnergyForces":
        needed = ("x_train", "weights", "offset", "alpha", "gamma", "force_alpha", "force_directions_per_structure",
                  "force_rows", "force_vectors", "force_targets", "amplitude_rule")
        missing = [key for key in needed if key not in arrays]
        if missing:
            raise ValueError(f"model arrays lack {missing}: not a {KIND} model file")
        hyper = KRRForcesHyperparameters(alpha=float(arrays["alpha"]), gamma=float(arrays["gamma"]),
                                         force_alpha=float(arrays["force_alpha"]),
                                         directions=int(arrays["force_directions_per_structure"]),
                                         force_alpha_rule=str(arrays.get("force_alpha_rule", "absolute")))
        model = cls(hyper, str(arrays["amplitude_rule"]))
        model.x_train = np.ascontiguousarray(arrays["x_train"], dtype=np.float64)
        model._x_sq = np.einsum("ij,ij->i", model.x_train, model.x_train)
        rows = np.asarray(arrays["force_rows"], dtype=np.intp)
        vectors = np.ascontiguousarray(arrays["force_vectors"], dtype=np.float64)
        model.observations = ForceObservations(rows, vectors.reshape(len(rows), model.x_train.shape[1]),
                                               np.asarray(arrays["force_targets"], dtype=np.float64))
        model.weights = np.asarray(arrays["weights"], dtype=np.float64)
        n = len(model.x_train)
        if (model.x_train.ndim != 2 or model.weights.shape != (n + len(rows),)
                or (len(rows) and (vectors.shape[1] != model.x_train.shape[1] or rows.max() >= n))):
            raise ValueError(f"inconsistent {KIND} arrays: x_train {model.x_train.shape}, weights "
                             f"{model.weights.shape}, force rows {rows.shape}, vectors {vectors.shape}")
        model.offset = float(arrays["offset"])
        amplitude = float(arrays["amplitude"]) if "amplitude" in arrays else float("nan")
        model.amplitude = amplitude if np.isfinite(amplitude) else None
        model._fold()
        return model
