"""Figures of the campaign report beyond the campaign figures of :mod:`perovflow.analysis.plots`:
parity plots on the test set, mixing enthalpies over the composition line or triangle (the
paper's Fig. 7), and the initial selection on a PCA map of the pool's MBTR vectors (Fig. 3).
Plain data in, PNG files out; no database access here."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perovflow.analysis.parity import Parity
from perovflow.analysis.plots import _pyplot, _save
from perovflow.units import EV_TO_MEV

# corners of the composition triangle: first halide bottom left, second bottom right, third on top
TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])


def triangle_coordinates(fractions: np.ndarray) -> np.ndarray:
    """Points (n, 2) of the composition triangle for fractions (n, 3) that sum to one."""
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 2 or fractions.shape[1] != 3:
        raise ValueError(f"fractions must have shape (n, 3), got {fractions.shape}")
    if not np.allclose(fractions.sum(axis=1), 1.0):
        raise ValueError("every row of fractions must sum to 1")
    return fractions @ TRIANGLE


def pca_coordinates(features: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The first principal components of the rows of ``features`` and the share of the
    variance each explains."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need a (n >= 2, F) matrix, got shape {x.shape}")
    centred = x - x.mean(axis=0)
    # eigenvectors of the F x F scatter matrix: a fraction of an SVD's time for n >> F
    variance, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variance)[::-1][:components]
    total = variance.clip(0.0, None).sum()
    share = variance[order].clip(0.0, None) / total if total > 0 else np.zeros(components)
    return centred @ vectors[:, order], share


def _parity_panel(ax, label: np.ndarray, ml: np.ndarray, unit: str, title: str) -> None:
    ax.scatter(label, ml, s=8, alpha=0.6, edgecolors="none")
    low, high = float(min(label.min(), ml.min())), float(max(label.max(), ml.max()))
    pad = 0.02 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linewidth=0.8)
    ax.set_xlabel(f"label {unit}")
    ax.set_ylabel(f"ML {unit}")
    ax.set_title(title, fontsize=9)


def plot_parity(parity: Parity, campaign: str, model: str, path: Path) -> Path | None:
    """ML against label energies per atom and force components on the test set."""
    if not parity.n_energies:
        return None
    plt = _pyplot()
    panels = 3 if len(parity.force_label) else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 4.2), squeeze=False)
    _parity_panel(axes[0][0], parity.energy_label, parity.energy_ml, "energy (eV/atom)",
                  f"{parity.n_energies} test structures, MAE {parity.energy_mae_mev:.3f} meV/atom")
    # composition spreads energies over tenths of an eV/atom: the errors show on their own axis
    errors = (parity.energy_ml - parity.energy_label) * EV_TO_MEV
    axes[0][1].hist(errors, bins=min(40, max(5, len(errors) // 3)), color="tab:blue")
    axes[0][1].axvline(0.0, color="black", linewidth=0.8)
    axes[0][1].set_xlabel("ML - label energy (meV/atom)")
    axes[0][1].set_ylabel("test structures")
    axes[0][1].set_title(f"energy errors, RMSE {np.sqrt(np.mean(errors ** 2)):.3f} meV/atom", fontsize=9)
    if panels == 3:
        _parity_panel(axes[0][2], parity.force_label, parity.force_ml, "force component (eV/Å)",
                      f"{parity.n_force_structures} structures, MAE {parity.force_mae_mev:.1f} meV/Å")
    fig.suptitle(f"{campaign}: model {model} on the held-out test set", fontsize=10)
    return _save(plt, fig, path)


def plot_mixing_over_composition(rows: Sequence[Mapping[str, Any]], halides: Sequence[str], campaign: str,
                                 path: Path) -> Path | None:
    """Mixing enthalpies (meV/atom) of the relaxed test structures by the engine and by the ML
    model against composition: a line for two halides, the triangle for three. Each row has
    ``fractions`` (halide -> fraction), ``phase``, ``dh_engine_mev`` and ``dh_ml_mev``."""
    rows = [r for r in rows if r.get("fractions") and (r.get("dh_engine_mev") is not None
                                                      or r.get("dh_ml_mev") is not None)]
    if not rows or len(halides) not in (2, 3):
        return None
    plt = _pyplot()
    fractions = np.array([[r["fractions"].get(h, 0.0) for h in halides] for r in rows])
    phases = sorted({str(r.get("phase")) for r in rows})
    markers = dict(zip(phases, "osD^v<>p*h"))
    sources = (("dh_engine_mev", "engine"), ("dh_ml_mev", "ML"))
    if len(halides) == 2:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        for (key, who), colour in zip(sources, ("tab:blue", "tab:orange")):
            for phase in phases:
                chosen = [i for i, r in enumerate(rows) if str(r.get("phase")) == phase and r.get(key) is not None]
                ax.scatter(fractions[chosen, 1], [rows[i][key] for i in chosen], marker=markers[phase], s=28,
                           facecolors="none" if who == "ML" else colour, edgecolors=colour, label=f"{who} {phase}")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xlabel(f"{halides[1]} fraction of the halide sites")
        ax.set_ylabel("dH_mix (meV/atom)")
        ax.legend(fontsize=7, ncol=2)
    else:  # one row of triangles per phase: the phases share compositions
        points = triangle_coordinates(fractions)
        finite = [r[key] for key, _ in sources for r in rows if r.get(key) is not None]
        low, high = min(finite), max(finite)
        fig, axes = plt.subplots(len(phases), 2, figsize=(9.0, 3.9 * len(phases)), squeeze=False)
        for phase, pair in zip(phases, axes):
            for ax, (key, who) in zip(pair, sources):
                ax.plot(*np.vstack([TRIANGLE, TRIANGLE[:1]]).T, color="black", linewidth=0.8)
                for corner, name in zip(TRIANGLE, halides):
                    ax.annotate(name, corner, textcoords="offset points", xytext=(0, -13 if corner[1] == 0 else 5),
                                ha="center", fontsize=10, fontweight="bold")
                chosen = [i for i, r in enumerate(rows) if str(r.get("phase")) == phase and r.get(key) is not None]
                shown = ax.scatter(points[chosen, 0], points[chosen, 1], c=[rows[i][key] for i in chosen],
                                   cmap="viridis", vmin=low, vmax=high, s=36)
                fig.colorbar(shown, ax=ax, shrink=0.8, label="meV/atom")
                ax.set_title(f"{phase}: {who} dH_mix", fontsize=9)
                ax.set_xlim(-0.08, 1.08)
                ax.set_ylim(-0.1, 0.95)
                ax.set_aspect("equal")
                ax.axis("off")
    fig.suptitle(f"{campaign}: mixing enthalpies of the relaxed test structures", fontsize=10)
    return _save(plt, fig, path)


def plot_selection_map(coordinates: np.ndarray, clusters: Sequence[int], selected: Sequence[bool],
                       variance: Sequence[float], campaign: str, path: Path) -> Path | None:
    """The pool on its first two principal components, coloured by cluster; the structures
    the initial batches picked are ringed."""
    if len(coordinates) == 0:
        return None
    plt = _pyplot()
    coordinates = np.asarray(coordinates)
    clusters = np.asarray(clusters)
    picked = np.asarray(selected, dtype=bool)
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    ax.scatter(coordinates[:, 0], coordinates[:, 1], c=clusters % 20, cmap="tab20", vmin=0, vmax=19, s=9,
               edgecolors="none", label="pool (colour: cluster)")
    if picked.any():
        ax.scatter(coordinates[picked, 0], coordinates[picked, 1], s=26, facecolors="none", edgecolors="black",
                   linewidths=0.6, label="selected for labelling")
    ax.set_xlabel(f"PC 1 ({100 * variance[0]:.0f} % of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * variance[1]:.0f} % of the variance)")
    ax.legend(fontsize=7, loc="upper center")  # "best" searches every point: seconds for a large pool
    ax.set_title(f"{campaign}: {len(coordinates)} pool structures in {len(set(clusters.tolist()))} clusters, "
                 f"{int(picked.sum())} selected", fontsize=9)
    return _save(plt, fig, path)
