"""Kernel ridge regression with the Gaussian kernel on per-atom energies, its analytic
forces, and the Gaussian-process uncertainty from the same factorisation.

The paper's model: k(x, x') = exp(-gamma |x - x'|^2), regulariser alpha, targets are total
energies per atom (centred by their training mean). Defaults are Table S1 of Homm et al. 2025
(CsSn(Cl/Br/I)3: alpha 1e-5, gamma 4.279e-2 with MBTR normalised by the atom count); campaigns
take theirs from a column of Table S1 (``perovflow.settings.TABLE_S1``; CsPb(Cl/Br)3: gamma 1.280e-4).
The model round-trips through plain arrays so the store can keep it as ``.npz``.

Memory: the training kernel is built in row blocks straight into the one n x n buffer
that LAPACK then factorises in place (no second n x n array, no n x n x F temporary), so a
fit needs 8 n^2 bytes (n = 20,000: 3.2 GB) plus blocks of at most :data:`BLOCK_BYTES`;
the strict upper triangle outside the diagonal blocks is never written (without
transparent huge pages those pages are not even mapped). Predictions and sigmas for many
queries run in blocks of the same size.

Uncertainty: sigma = A sqrt(1 - k^T (K + alpha I)^-1 k), the standard deviation of the
latent energy (without the alpha "noise"). The amplitude A is set, by default, so that sigma
estimates the RMS error of held-out structures: from the closed-form leave-one-out residuals
of the GP, each scaled by its latent leave-one-out variance (rule ``"loo_latent"``,
:func:`loo_amplitude`). DFT labels are deterministic, so alpha regularises rather than
describes label noise, and a held-out residual is an error of the latent function. Rule
``"loo"`` (models stored before 2026-11-30) scaled them by the variance with alpha added: with
alpha at 1e-10 and long length scales that variance is mostly alpha, and the demo's sigmas
came out 1.6-2.2 times too small. Models stored before either used the maximum-likelihood
amplitude (rule ``"ml"``). A campaign with a calibration set (``pool.calibration_structures``)
sets it instead from the errors at those held-out structures (rule ``"holdout"``,
:func:`holdout_amplitude`): leave-one-out residuals of a diverse (k-means-selected) training set
come from structures farther from the rest than typical ones, and overstate the error of a
model trained on a few hundred of them. A stored model keeps its amplitude and its rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, lapack, solve_triangular

BLOCK_BYTES = 64 * 2**20  # largest temporary (kernel rows, solves) in bytes
# leave-one-out, latent or with alpha; maximum likelihood; errors at held-out structures
AMPLITUDE_RULES = ("loo_latent", "loo", "ml", "holdout")
LOO_SAMPLE = 2000  # most training rows whose leave-one-out residuals set the amplitude
# rows whose latent leave-one-out variance is below this share of alpha are (near-)duplicates
# of other rows: their residual is the regulariser's, not a prediction error
LATENT_FLOOR = 1e-2


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


def rows_per_block(n_columns: int, block_bytes: int | None = None) -> int:
    """How many float64 rows of ``n_columns`` fit in one block (of :data:`BLOCK_BYTES`)."""
    return max(1, (BLOCK_BYTES if block_bytes is None else block_bytes) // (8 * max(n_columns, 1)))


def _kernel_rows(queries: np.ndarray, queries_sq: np.ndarray, x: np.ndarray, x_sq: np.ndarray,
                 gamma: float, out: np.ndarray | None = None) -> np.ndarray:
    """exp(-gamma |q - x|^2) for a block of queries against ``x`` (precomputed squares)."""
    product = queries @ x.T  # the only (block x n) temporary
    product *= 2.0
    product -= queries_sq[:, None]
    product -= x_sq[None, :]
    np.minimum(product, 0.0, out=product)  # -|q - x|^2 <= 0 despite round-off
    product *= gamma
    return np.exp(product, out=out if out is not None else product)


def factorise_kernel(x: np.ndarray, gamma: float, alpha: float, x_sq: np.ndarray | None = None,
                     block_bytes: int | None = None) -> np.ndarray:
    """Lower Cholesky factor L of K(x, x) + alpha I, built and factorised in place.

    Returns a C-ordered (n, n) array whose lower triangle is L; above the diagonal blocks
    it stays zero (never written). Row block [i0, i1) of
    the lower triangle is computed as one GEMM of shape (i1 - i0, i1), then LAPACK's
    ``dpotrf`` factorises the same memory, seen as the Fortran-ordered upper triangle.
    """
    n = len(x)
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", x, x)
    buffer = np.zeros((n, n))  # calloc: pages are only mapped when written
    step = rows_per_block(n, block_bytes)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        _kernel_rows(x[i0:i1], x_sq[i0:i1], x[:i1], x_sq[:i1], gamma, out=buffer[i0:i1, :i1])
    diagonal = np.einsum("ii->i", buffer)  # a writable view of the diagonal
    diagonal[:] = 1.0 + alpha  # k(x, x) = 1 exactly
    factor, info = lapack.dpotrf(buffer.T, lower=0, clean=0, overwrite_a=1)
    if info > 0:
        raise np.linalg.LinAlgError(
            f"kernel matrix is not positive definite (leading minor {info}): duplicate training "
            f"structures with a tiny alpha ({alpha:g})? Increase model.alpha")
    if info < 0:
        raise ValueError(f"dpotrf: illegal argument {-info}")
    if not np.shares_memory(factor, buffer):  # would mean a hidden n x n copy
        raise RuntimeError("dpotrf did not factorise in place")
    return buffer


def cholesky_solve(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """(L L^T)^{-1} rhs for the C-ordered lower factor of :func:`factorise_kernel`."""
    solution, info = lapack.dpotrs(factor.T, np.asarray(rhs, dtype=np.float64), lower=0)
    if info != 0:
        raise ValueError(f"dpotrs failed with info {info}")
    return solution


def inverse_diagonal(factor: np.ndarray, indices: np.ndarray, block_bytes: int | None = None) -> np.ndarray:
    """[(L L^T)^-1]_ii = |L^-1 e_i|^2 for the rows ``indices``, without forming the inverse.

    The unit vectors are solved in blocks of at most :data:`BLOCK_BYTES` columns, one
    triangular solve (one read of the factor) per block.
    """
    n = len(factor)
    indices = np.asarray(indices, dtype=np.intp)
    result = np.empty(len(indices))
    step = rows_per_block(n, block_bytes)
    for start in range(0, len(indices), step):
        chosen = indices[start:start + step]
        unit = np.zeros((n, len(chosen)), order="F")
        unit[chosen, np.arange(len(chosen))] = 1.0
        solved = solve_triangular(factor, unit, lower=True, check_finite=False, overwrite_b=True)
        result[start:start + len(chosen)] = np.einsum("ij,ij->j", solved, solved)
    return result


def loo_amplitude(factor: np.ndarray, weights: np.ndarray, sample: int = LOO_SAMPLE, seed: int = 0,
                  among: np.ndarray | None = None, alpha: float | None = None) -> float:
    """GP amplitude A whose leave-one-out variances match the leave-one-out residuals.

    With K_a = K + alpha I and w = K_a^-1 y_c, row i's residual is r_i = w_i / [K_a^-1]_ii and
    its unit-amplitude predictive variance is v_i = 1 / [K_a^-1]_ii, of which alpha is noise.
    ``alpha`` None: A^2 = mean_i r_i^2 / v_i (labels with noise alpha, rule ``"loo"``).
    ``alpha`` given: A^2 = mean_i r_i^2 / (v_i - alpha) over the rows whose latent variance
    v_i - alpha is at least :data:`LATENT_FLOOR` alpha (deterministic labels, rule
    ``"loo_latent"``); sigma then estimates the error of the latent prediction it describes.

    Over the rows ``among`` (default: all) when there are at most ``sample``, else over a
    seeded random subset of ``sample`` of them (the cost is ``sample`` n^2, against n^3 / 3
    for the factorisation).
    """
    candidates = np.arange(len(weights)) if among is None else np.asarray(among, dtype=np.intp)
    if len(candidates) == 0:
        raise ValueError("among: no training rows to calibrate the amplitude on")
    if len(candidates) <= sample:
        rows = candidates
    else:
        rows = np.sort(np.random.default_rng(seed).choice(candidates, size=sample, replace=False))
    inverse = inverse_diagonal(factor, rows)
    squared_residuals = (weights[rows] / inverse) ** 2
    if alpha is None:
        return float(np.sqrt(np.mean(squared_residuals * inverse)))
    latent = 1.0 / inverse - alpha
    usable = latent >= LATENT_FLOOR * alpha
    if not usable.any():
        raise ValueError(f"every calibration row duplicates another training row (latent leave-one-out variance "
                         f"below {LATENT_FLOOR} alpha): no residual to calibrate sigma on")
    return float(np.sqrt(np.mean(squared_residuals[usable] / latent[usable])))


def holdout_amplitude(errors: np.ndarray, unit_sd: np.ndarray, alpha: float) -> tuple[float, int]:
    """GP amplitude A at which sigma = A u matches the errors ``errors`` of held-out structures
    whose unit-amplitude latent standard deviations are ``unit_sd``: the mean squared sigma
    equals the mean squared error, A^2 = sum_j e_j^2 / sum_j u_j^2, over the structures with
    u_j^2 >= :data:`LATENT_FLOOR` alpha (the others repeat a training structure, and their error
    is the regulariser's). Returns (A, structures used).

    Not the Gaussian maximum-likelihood mean_j e_j^2 / u_j^2: there a few structures with
    small u and a larger error set the level for all. On the demo's models that estimate
    left sigma 10-20 % too large on an independent 500-structure test set; this one puts
    RMSE / mean sigma within 0.88-1.17 in every tercile of every model there (README)."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    unit_sd = np.asarray(unit_sd, dtype=np.float64).reshape(-1)
    if errors.shape != unit_sd.shape:
        raise ValueError(f"{len(errors)} errors but {len(unit_sd)} standard deviations")
    usable = unit_sd ** 2 >= LATENT_FLOOR * alpha
    if not usable.any():
        raise ValueError(f"no held-out structure to calibrate sigma on: {len(errors)} given, none farther from "
                         "the training set than a repeat of a training structure")
    return float(np.sqrt(np.sum(errors[usable] ** 2) / np.sum(unit_sd[usable] ** 2))), int(usable.sum())


class KernelEnergyModel:
    """What the energy-only and the energy-and-force kernel models share: training rows, GP
    amplitude, Cholesky factor on demand, feature checks and forces from the energy gradient.
    Subclasses provide ``_factorise`` and ``energy_gradient``."""

    def __init__(self, hyper, amplitude_rule: str = "loo_latent"):
        if amplitude_rule not in AMPLITUDE_RULES:
            raise ValueError(f"amplitude_rule must be one of {AMPLITUDE_RULES}, got {amplitude_rule!r}")
        self.hyper = hyper
        self.amplitude_rule = amplitude_rule
        self.x_train: np.ndarray | None = None
        self.weights: np.ndarray | None = None
        self.offset = 0.0
        self._factor: np.ndarray | None = None  # lower Cholesky factor of the regularised covariance
        self._x_sq: np.ndarray | None = None  # |x_i|^2 of the training rows
        self.amplitude: float | None = None  # GP signal amplitude in eV/atom
        self._calibration_rows: np.ndarray | None = None  # rows whose LOO residuals set it (None: all)

    @property
    def n_features(self) -> int:
        if self.x_train is None:
            raise RuntimeError("model is not fitted")
        return int(self.x_train.shape[1])

    @staticmethod
    def _training_arrays(x: np.ndarray, energy_per_atom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.asarray(energy_per_atom, dtype=np.float64).reshape(-1)
        if x.ndim != 2 or len(x) == 0 or x.shape[1] == 0:
            raise ValueError(f"training set is empty (features of shape {x.shape}): label some structures first")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} feature rows but {len(y)} energies")
        return x, y

    def _factorise(self) -> np.ndarray:
        raise NotImplementedError

    def _ensure_factor(self) -> np.ndarray:
        if self._factor is None:  # a model loaded from the store: factorise once, on demand
            self._factor = self._factorise()
        return self._factor

    def _squares(self) -> np.ndarray:
        if self._x_sq is None:
            self._x_sq = np.einsum("ij,ij->i", self.x_train, self.x_train)
        return self._x_sq

    def _ensure_amplitude(self) -> float:
        """The amplitude of :attr:`amplitude_rule`, computed from the factor and the weights
        when not known yet (after a fit, or for a file written without it)."""
        if self.amplitude is None:
            if self.amplitude_rule == "holdout":
                raise ValueError("a model calibrated on held-out structures (amplitude rule 'holdout') lost its "
                                 "amplitude: calibrate it again with calibrate_on_held_out")
            factor = self._ensure_factor()
            if self.amplitude_rule in ("loo", "loo_latent"):
                # only energy rows: they come first in the weights of both models
                among = np.arange(len(self.x_train)) if self._calibration_rows is None else self._calibration_rows
                noise = self.hyper.alpha if self.amplitude_rule == "loo_latent" else None
                self.amplitude = loo_amplitude(factor, self.weights, among=among, alpha=noise)
            else:
                # maximum-likelihood signal variance of a GP with covariance A^2 (K + noise):
                # y_c^T w / n, and y_c^T w = w^T (L L^T) w = |L^T w|^2 (no kernel rebuild)
                self.amplitude = float(np.linalg.norm(blas.dtrmv(factor.T, self.weights, lower=0))
                                       / np.sqrt(len(self.weights)))
        return self.amplitude

    def _amplitude_after_fit(self, calibration_rows: np.ndarray | None) -> None:
        """The fit's own amplitude; a held-out calibration belongs to the previous fit."""
        if self.amplitude_rule == "holdout":
            self.amplitude_rule = "loo_latent"
        self.amplitude = None
        self._calibration_rows = calibration_rows
        self.amplitude = self._ensure_amplitude()

    def _check_features(self, x: np.ndarray) -> np.ndarray:
        return checked_features(x, self.x_train, self.weights)

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def sigma(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def calibrate_on_held_out(self, x: np.ndarray, energy_per_atom: np.ndarray) -> int:
        """Set the amplitude from the errors of the fitted model at structures it was not
        trained on (rule ``"holdout"``, :func:`holdout_amplitude`); returns how many were used."""
        y = np.asarray(energy_per_atom, dtype=np.float64).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} held-out feature rows but {len(y)} energies")
        unit_sd = self.sigma(x) / self._ensure_amplitude()
        amplitude, used = holdout_amplitude(self.predict(x) - y, unit_sd, self.hyper.alpha)
        self.amplitude, self.amplitude_rule = amplitude, "holdout"
        return used

    def energy_gradient(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def energy_and_forces(self, features: np.ndarray, derivatives: np.ndarray) -> tuple[float, np.ndarray]:
        """Total energy (eV) and forces (eV/Å) of one structure from its features (F,) and
        their derivatives (n_atoms, 3, F)."""
        derivatives = np.asarray(derivatives, dtype=np.float64)
        n_features = self.n_features
        if derivatives.ndim != 3 or derivatives.shape[1:] != (3, n_features):
            raise ValueError(f"derivatives must have shape (n_atoms, 3, {n_features}), got {derivatives.shape}")
        n_atoms = derivatives.shape[0]
        energy_per_atom, gradient = self.energy_gradient(features)
        forces = -n_atoms * (derivatives.reshape(-1, n_features) @ gradient).reshape(n_atoms, 3)
        return float(n_atoms * energy_per_atom), forces


class KernelRidgeEnergy(KernelEnergyModel):
    """Energies per atom from descriptor vectors."""

    def __init__(self, hyper: KRRHyperparameters = KRRHyperparameters(), amplitude_rule: str = "loo_latent"):
        super().__init__(hyper, amplitude_rule)

    def fit(self, x: np.ndarray, energy_per_atom: np.ndarray,
            calibration_rows: np.ndarray | None = None) -> "KernelRidgeEnergy":
        """Fit; ``calibration_rows``: the training rows whose leave-one-out residuals set the
        amplitude (default all). Relaxation snapshots come in runs of near neighbours, so
        leaving one out leaves its neighbours in and its residual says little about a new
        structure: campaigns calibrate on the diverse initial (k-means-selected) rows."""
        x, y = self._training_arrays(x, energy_per_atom)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("training features or energies contain NaN or inf")
        self._factor = None  # a failed refit must not leave the old factor behind
        self.x_train = x
        self._x_sq = np.einsum("ij,ij->i", x, x)
        self.offset = float(y.mean())
        self._factor = factorise_kernel(x, self.hyper.gamma, self.hyper.alpha, self._x_sq)
        centred = y - self.offset
        self.weights = cholesky_solve(self._factor, centred)
        self._amplitude_after_fit(calibration_rows)
        return self

    def _factorise(self) -> np.ndarray:
        return factorise_kernel(self.x_train, self.hyper.gamma, self.hyper.alpha, self._squares())

    def kernel_to_training(self, x: np.ndarray) -> np.ndarray:
        """k(x, X_train) for a (small) block of checked queries, shape (len(x), n_train)."""
        return _kernel_rows(x, np.einsum("ij,ij->i", x, x), self.x_train, self._squares(), self.hyper.gamma)

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """GP standard deviation (eV/atom) of the per-atom energy at ``x``.

        Covariance amplitude^2 * k with noise amplitude^2 * alpha: the GP mean then equals
        the KRR prediction, and sigma comes from the same Cholesky factor. Many queries are
        solved together (one triangular solve with a block of right-hand sides reads the
        factor once), in blocks of at most :data:`BLOCK_BYTES`.
        """
        x = self._check_features(x)
        factor = self._ensure_factor()
        result = np.empty(len(x))
        step = rows_per_block(len(self.x_train))
        for start in range(0, len(x), step):
            block = self.kernel_to_training(x[start:start + step])
            # block.T is Fortran-ordered: the solve overwrites it without a copy
            v = solve_triangular(factor, block.T, lower=True, check_finite=False, overwrite_b=True)
            result[start:start + step] = 1.0 - np.einsum("ij,ij->j", v, v)
        return self._ensure_amplitude() * np.sqrt(np.clip(result, 0.0, None))

    def energy_gradient(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy per atom (eV) of one structure and its gradient with respect to the
        features, shape (F,).

        Two matrix-vector products with the training matrix: k(x, X) from X x and the
        precomputed |X_i|^2, and the gradient from X^T (w k).
        """
        x = self._check_features(np.reshape(features, (1, -1)))[0]
        weighted = self.kernel_to_training(x[None, :])[0]
        weighted *= self.weights
        total = weighted.sum()
        # d(E/atom)/dx = -2 gamma (x sum_i w_i k_i - X^T (w k))
        gradient = self.x_train.T @ weighted
        gradient -= total * x
        gradient *= 2.0 * self.hyper.gamma
        return float(total + self.offset), gradient

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = self._check_features(x)
        result = np.empty(len(x))
        step = rows_per_block(len(self.x_train))
        for start in range(0, len(x), step):
            result[start:start + step] = self.kernel_to_training(x[start:start + step]) @ self.weights
        return result + self.offset

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"x_train": self.x_train, "weights": self.weights,
                "offset": np.array(self.offset), "alpha": np.array(self.hyper.alpha),
                "gamma": np.array(self.hyper.gamma),
                "amplitude": np.array(np.nan if self.amplitude is None else self.amplitude),
                "amplitude_rule": np.array(self.amplitude_rule)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KernelRidgeEnergy":
        missing = [key for key in ("x_train", "weights", "offset", "alpha", "gamma") if key not in arrays]
        if missing:
            raise ValueError(f"model arrays lack {missing}: not a KRR model file")
        # files written before the calibrated rule existed have maximum-likelihood amplitudes
        rule = str(arrays["amplitude_rule"]) if "amplitude_rule" in arrays else "ml"
        model = cls(KRRHyperparameters(alpha=float(arrays["alpha"]), gamma=float(arrays["gamma"])), rule)
        model.x_train = np.ascontiguousarray(arrays["x_train"], dtype=np.float64)
        model.weights = np.asarray(arrays["weights"], dtype=np.float64)
        if model.x_train.ndim != 2 or model.weights.shape != (len(model.x_train),):
            raise ValueError(f"inconsistent model arrays: x_train {model.x_train.shape}, "
                             f"weights {model.weights.shape}")
        model.offset = float(arrays["offset"])
        amplitude = arrays.get("amplitude")
        model.amplitude = None if amplitude is None or not np.isfinite(amplitude) else float(amplitude)
        return model


def checked_features(x: np.ndarray, x_train: np.ndarray | None, weights: np.ndarray | None) -> np.ndarray:
    """``x`` as contiguous float64 rows, after checking that a model fitted on ``x_train`` can
    take them (same feature count, finite values)."""
    if weights is None:
        raise RuntimeError("model is not fitted")
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != x_train.shape[1]:
        raise ValueError(f"expected {x_train.shape[1]} features per row, got shape {x.shape}: "
                         "were the descriptor settings the same as the model's?")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or inf")
    return x
