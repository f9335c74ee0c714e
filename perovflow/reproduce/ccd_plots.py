"""The figure of ``reproduce ccd``: parity and error against energy (the CCD paper's Fig. 8)
and the four evaluation paths (its Fig. 9), energies in meV/atom."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perovflow.reproduce.plots import pyplot, save_figure


def ccd_figure(test: dict, train: dict, paths: dict, axes_labels: dict, path: Path, oracle: str, title: str) -> Path:
    fig, axes = pyplot().subplots(2, 3, figsize=(13, 7.5))
    ref = min(test["oracle"].min(), train["oracle"].min())
    ax = axes[0, 0]
    for data, label, style in ((train, "training", {"color": "0.6", "s": 4}), (test, "held-out test", {"color": "C0", "s": 6})):
        ax.scatter(1e3 * (data["oracle"] - ref), 1e3 * (data["model"] - ref), label=label, **style)
    top = 1e3 * (max(test["oracle"].max(), train["oracle"].max()) - ref)
    ax.plot([0, top], [0, top], "k--", linewidth=0.8, label="y = x")
    ax.set_xlabel(f"{oracle} energy (meV/atom above the lowest)")
    ax.set_ylabel("CCD-NN energy (meV/atom above the lowest)")
    ax.set_title("(a) parity (Fig. 8a)", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    energy = 1e3 * (test["oracle"] - ref)
    error = 1e3 * np.abs(test["model"] - test["oracle"])
    ax.scatter(energy, error, s=6, color="C0", label="held-out test structure")
    order = np.argsort(test["oracle"], kind="stable")
    for k, group in enumerate(np.array_split(order, 4)):
        rmse = 1e3 * np.sqrt(np.mean((test["model"][group] - test["oracle"][group]) ** 2))
        ax.hlines(rmse, energy[group].min(), energy[group].max(), color="C3", linewidth=2,
                  label="RMSE per energy quarter" if k == 0 else None)
    ax.set_xlabel(f"{oracle} energy (meV/atom above the lowest)")
    ax.set_ylabel("|CCD-NN - oracle| (meV/atom)")
    ax.set_title("(b) error against energy (Fig. 8b)", fontsize=10)
    ax.legend(fontsize=7)
    cells = [axes[0, 2], axes[1, 0], axes[1, 1], axes[1, 2]]
    for ax, (letter, (name, p)) in zip(cells, zip("cdef", paths.items())):
        x = np.asarray(p["x"])
        e_oracle, e_model, sigma = (np.asarray(p[k]) for k in ("oracle", "model", "sigma"))
        first = e_oracle[0]
        ax.plot(x, 1e3 * (e_oracle - first), "ko", markersize=4, label=oracle)
        ax.plot(x, 1e3 * (e_model - first), "C0-", label="CCD-NN committee")
        ax.fill_between(x, 1e3 * (e_model - sigma - first), 1e3 * (e_model + sigma - first), color="C0", alpha=0.25,
                        label="committee sigma")
        ax.set_xlabel(axes_labels.get(name, name), fontsize=8)
        ax.set_ylabel("E - E(first point) (meV/atom)")
        ax.set_title(f"({letter}) {name.replace('_', ' ')} (Fig. 9)", fontsize=10)
        ax.legend(fontsize=7)
    return save_figure(fig, path, title, oracle, dpi=110)
