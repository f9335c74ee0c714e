"""Hyperparameter tuning of MBTR-KRR by Bayesian optimisation (BOSS) of a k-fold CV error.

Homm et al. 2025 (IV.A and Sec. S3) tunes the KRR kernel width gamma, the regulariser alpha
and the MBTR broadening sigma with BOSS, following Stuke et al. (2021). Here BOSS
minimises log10 of the k-fold cross-validated MAE of the energy per atom over the
log10 hyperparameters inside :class:`TuningBounds`. The default hyperparameters are one
of the initial points, and the result is the best *evaluated* point, so the tuned CV
error is never worse than the defaults'.

Tuning sigma needs new features for every sigma: pass ``features`` as a callable
``features_for(sigma) -> (n, F) matrix`` (science-only: featurize structures you hold);
pass a matrix to tune (gamma, alpha) at fixed sigma. BOSS writes its ``boss.out`` and
``boss.rst`` into a temporary folder that is removed afterwards; nothing lands in the
working directory. With a seed the whole search is deterministic (BOSS's Sobol points,
GPy's restarts through numpy's global RNG, whose state is restored afterwards).
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.linalg import lapack

from perovflow.models.folds import kfold_parts
from perovflow.models.krr import KRRHyperparameters

FeaturesFor = Callable[[float], np.ndarray]
TABLE_S1_SIGMA = 4.279e-2


@dataclass(frozen=True)
class TuningBounds:
    """Search box in log10 units (gamma and alpha for the Gaussian kernel, sigma in 1/Å)."""

    log10_gamma: tuple[float, float] = (-4.0, 1.0)
    log10_alpha: tuple[float, float] = (-10.0, -1.0)
    log10_sigma: tuple[float, float] = (-2.0, -0.7)

    def __post_init__(self):
        for name in ("log10_gamma", "log10_alpha", "log10_sigma"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"tuning bounds {name}: need finite low < high, got {(low, high)}")


@dataclass
class TuningResult:
    """What a tuning run found and how; plain JSON through :meth:`as_dict`."""

    alpha: float
    gamma: float
    sigma: float | None  # tuned MBTR sigma, None when sigma was fixed
    cv_mae: float  # eV/atom at the chosen point
    default_cv_mae: float | None  # eV/atom at the default hyperparameters (None: singular)
    n_evaluations: int
    folds: int
    n_points: int  # structures used for the cross-validation
    seed: int
    bounds: dict[str, list[float]]
    dimensions: list[str]
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # in evaluation order
    seconds: float = 0.0
    method: str = "BOSS (aalto-boss) on log10 k-fold CV MAE of energy per atom"

    @property
    def hyperparameters(self) -> KRRHyperparameters:
        return KRRHyperparameters(alpha=self.alpha, gamma=self.gamma)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TuningResult":
        return cls(**data)


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """The held-out parts of tuning's k-fold CV (:func:`perovflow.models.folds.kfold_parts`),
    with tuning's own error message."""
    if folds < 2 or folds > n:
        raise ValueError(f"cross-validation needs 2 <= folds <= number of structures, got {folds} for {n}")
    return kfold_parts(n, folds, seed)


class _CrossValidation:
    """k-fold CV of KRR on one feature matrix, reusing the squared distances across calls."""

    def __init__(self, x: np.ndarray, y: np.ndarray, folds: list[np.ndarray]):
        squares = np.einsum("ij,ij->i", x, x)
        d2 = x @ x.T
        d2 *= -2.0
        d2 += squares[:, None]
        d2 += squares[None, :]
        np.maximum(d2, 0.0, out=d2)
        np.fill_diagonal(d2, 0.0)
        self.d2, self.y, self.folds = d2, y, folds

    def mae(self, gamma: float, alpha: float) -> float:
        errors = np.empty(len(self.y))
        everything = np.arange(len(self.y))
        for held in self.folds:
            train = np.setdiff1d(everything, held, assume_unique=True)
            kernel = self.d2[np.ix_(train, train)]
            kernel *= -gamma
            np.exp(kernel, out=kernel)
            kernel[np.diag_indices_from(kernel)] += alpha
            offset = self.y[train].mean()
            factor, info = lapack.dpotrf(kernel.T, lower=0, clean=0, overwrite_a=1)
            if info != 0:  # numerically singular at this (gamma, alpha): a bad point, not a crash
                return float("inf")
            weights, info = lapack.dpotrs(factor, self.y[train] - offset, lower=0)
            cross = self.d2[np.ix_(held, train)]
            cross *= -gamma
            np.exp(cross, out=cross)
            errors[held] = cross @ weights + offset - self.y[held]
        return float(np.abs(errors).mean())


def cross_validation_mae(x: np.ndarray, energy_per_atom: np.ndarray, hyper: KRRHyperparameters,
                         folds: int = 5, seed: int = 0) -> float:
    """k-fold cross-validated MAE (eV/atom) of KRR with ``hyper`` on (x, y)."""
    x, y = _checked(x, energy_per_atom)
    return _CrossValidation(x, y, fold_indices(len(y), folds, seed)).mae(hyper.gamma, hyper.alpha)


def _checked(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"training set is empty (features of shape {x.shape}): nothing to tune on")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} energies")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("training features or energies contain NaN or inf")
    return x, y


def tune_krr(features: np.ndarray | FeaturesFor, energy_per_atom: np.ndarray, *,
             bounds: TuningBounds = TuningBounds(), default: KRRHyperparameters = KRRHyperparameters(),
             default_sigma: float = TABLE_S1_SIGMA, folds: int = 5, initpts: int = 5, iterpts: int = 25,
             seed: int = 0, max_points: int | None = None) -> TuningResult:
    """Tune log10 gamma and log10 alpha (and log10 sigma when ``features`` is callable).

    ``max_points`` cross-validates on a seeded random subset of that many structures
    (each evaluation costs ``folds`` Cholesky factorisations of the training folds).
    The defaults (``default``, ``default_sigma``) are always evaluated first.
    """
    from boss.bo.bo_main import BOMain

    started = time.perf_counter()
    tune_sigma = callable(features)
    y_all = np.asarray(energy_per_atom, dtype=np.float64).reshape(-1)
    if len(y_all) == 0:
        raise ValueError("training set is empty: nothing to tune on")
    if initpts < 1 or iterpts < 0:
        raise ValueError(f"initpts must be >= 1 and iterpts >= 0, got {initpts}, {iterpts}")
    rows = np.arange(len(y_all))
    if max_points is not None and max_points < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(len(rows), size=max_points, replace=False))
    y = y_all[rows]
    split = fold_indices(len(y), folds, seed)

    cache: dict[float, _CrossValidation] = {}

    def validation_for(sigma: float) -> _CrossValidation:
        if sigma not in cache:
            matrix = features(sigma) if tune_sigma else features
            if len(matrix) != len(y_all):
                raise ValueError(f"{len(matrix)} feature rows but {len(y_all)} energies")
            x, _ = _checked(np.asarray(matrix)[rows], y)
            cache.clear()  # one sigma's distances at a time: n^2 memory
            cache[sigma] = _CrossValidation(x, y, split)
        return cache[sigma]

    names = ["log10_gamma", "log10_alpha"] + (["log10_sigma"] if tune_sigma else [])
    box = np.array([getattr(bounds, name) for name in names], dtype=float)
    evaluations: list[dict[str, Any]] = []

    def objective(point: np.ndarray) -> float:
        values = dict(zip(names, np.atleast_2d(point)[0].tolist()))
        sigma = 10.0 ** values["log10_sigma"] if tune_sigma else default_sigma
        mae = validation_for(sigma).mae(10.0 ** values["log10_gamma"], 10.0 ** values["log10_alpha"])
        evaluations.append({**values, "cv_mae": mae if math.isfinite(mae) else None})
        # BOSS models the log error; a failed factorisation is a very bad but finite value
        return math.log10(mae) if math.isfinite(mae) and mae > 0 else math.log10(1e3)

    start_point = [math.log10(default.gamma), math.log10(default.alpha)]
    if tune_sigma:
        start_point.append(math.log10(default_sigma))
    start_point = np.array(start_point)
    default_inside = bool(np.all((start_point >= box[:, 0]) & (start_point <= box[:, 1])))
    if not default_inside:  # evaluated as a candidate all the same, but not shown to BOSS
        objective(start_point)
        evaluations[-1]["outside_bounds"] = True
        start_point = np.clip(start_point, box[:, 0], box[:, 1])

    saved_state = np.random.get_state()
    try:
        with tempfile.TemporaryDirectory(prefix="perovflow-boss-") as folder:
            # minfreq=0: skip BOSS's per-iteration search for the model minimum (the result
            # here is the best evaluated point, so that search would only cost time)
            bo = BOMain(objective, box, kernel="rbf", initpts=initpts, iterpts=iterpts, seed=seed, minfreq=0,
                        outfile=str(Path(folder) / "boss.out"), rstfile=str(Path(folder) / "boss.rst"),
                        ipfile=str(Path(folder) / "boss.in"))
            initial, _ = bo.get_initpts()
            bo.run(X_init=np.vstack([start_point[None, :], initial]))
    finally:
        np.random.set_state(saved_state)

    default_mae = evaluations[0]["cv_mae"]
    finite = [e for e in evaluations if e["cv_mae"] is not None]
    if not finite:
        raise RuntimeError("every evaluated hyperparameter set failed to factorise: widen the bounds")
    best = min(finite, key=lambda e: e["cv_mae"])  # the first of equal errors: the default wins ties
    best_sigma = 10.0 ** best["log10_sigma"] if tune_sigma else None
    return TuningResult(
        alpha=10.0 ** best["log10_alpha"], gamma=10.0 ** best["log10_gamma"],
        sigma=best_sigma,
        cv_mae=best["cv_mae"], default_cv_mae=default_mae, n_evaluations=len(evaluations),
        folds=folds, n_points=len(y), seed=seed,
        bounds={name: list(map(float, getattr(bounds, name))) for name in names}, dimensions=names,
        evaluations=evaluations, seconds=time.perf_counter() - started,
    )
