"""Path plots: model (committee mean +- sigma) against the oracle, one PNG per path."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_path(path: Path, x: np.ndarray, oracle: np.ndarray, model: np.ndarray, sigma: np.ndarray,
              xlabel: str, title: str, oracle_label: str = "oracle", extra: dict | None = None) -> Path:
    """Energies relative to the first point of the oracle curve, in meV/atom."""
    import matplotlib  # heavy and optional: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = oracle[0]
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    ax.plot(x, 1e3 * (oracle - ref), "ko", label=oracle_label)
    ax.plot(x, 1e3 * (model - ref), "C0-", label="CCD-NN committee")
    ax.fill_between(x, 1e3 * (model - sigma - ref), 1e3 * (model + sigma - ref), color="C0", alpha=0.25,
                    label="committee sigma")
    for i, (name, values) in enumerate((extra or {}).items()):
        ax.plot(x, 1e3 * (values - ref), f"C{i + 1}--", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("E - E(first point) (meV/atom)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
