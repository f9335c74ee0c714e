"""The figure of ``reproduce fig7``: mixing enthalpies over the composition triangle (oracle,
initial model, final model), ML against oracle mixing enthalpies, and the relaxation test per
active-learning iteration (the paper's Fig. 7a-c)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from perovflow.reproduce.plots import plain_log_ticks, pyplot, save_figure


def ternary_xy(fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corners: first halide (0, 0), second (1, 0), third (1/2, sqrt(3)/2)."""
    f = np.asarray(fractions, dtype=float)
    return f[:, 1] + f[:, 2] / 2.0, f[:, 2] * np.sqrt(3.0) / 2.0


def fig7_figure(history: list[dict], halides, path: Path, oracle: str, title: str) -> Path:
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()

    first, last = history[0], history[-1]
    fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
    panels = ((axes[0, 0], first, "oracle", f"(a) {oracle} relaxed"),
              (axes[0, 1], first, "ml", f"(b) initial model ({first['n_train']:,} training)"),
              (axes[0, 2], last, "ml", f"(c) final model ({last['n_train']:,} training)"))
    values = [r[f"dh_{k}_mev"] for _, h, k, _ in panels for r in h["mixing_enthalpies"]
              if r[f"dh_{k}_mev"] is not None and (k == "oracle" or r["ml_converged"])]
    vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
    scatter = None
    for ax, h, kind, label in panels:
        rows = [r for r in h["mixing_enthalpies"] if r[f"dh_{kind}_mev"] is not None
                and (kind == "oracle" or r["ml_converged"])]
        ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], "k-", linewidth=0.8)
        for (x, y), name in zip(((0, 0), (1, 0), (0.5, np.sqrt(3) / 2)), halides):
            ax.text(x, y + (0.03 if y else -0.08), f"CsSn{name}3", ha="center", fontsize=8)
        if rows:
            x, y = ternary_xy(np.array([r["fractions"] for r in rows]))
            scatter = ax.scatter(x, y, c=[r[f"dh_{kind}_mev"] for r in rows], cmap="viridis", vmin=vmin, vmax=vmax,
                                 s=40, edgecolors="k", linewidths=0.3)
        # the count goes in the title: a legend inside the triangle's box covered a corner label
        count = f"{len(rows)} relaxations" + (" (converged)" if kind == "ml" else "")
        ax.set_title(f"{label}: mixing enthalpy\n{count}", fontsize=9)
        ax.set_xlim(-0.12, 1.12)
        ax.set_ylim(-0.12, 1.0)
        ax.set_aspect("equal")
        ax.axis("off")
    if scatter is not None:
        fig.colorbar(scatter, ax=axes[0, :].tolist(), shrink=0.8, label="ΔH_mix (meV/atom)")
    ax = axes[1, 0]
    for h, label, color in ((first, "initial model", "C1"), (last, "final model", "C0")):
        rows = [r for r in h["mixing_enthalpies"] if r["ml_converged"] and r["dh_ml_mev"] is not None
                and r["dh_oracle_mev"] is not None]
        ax.scatter([r["dh_oracle_mev"] for r in rows], [r["dh_ml_mev"] for r in rows], s=15, color=color,
                   label=f"{label} ({len(rows)} converged)")
    lims = ax.get_xlim()
    ax.plot(lims, lims, "k--", linewidth=0.8, label="y = x")
    ax.set_xlabel(f"{oracle} ΔH_mix (meV/atom)")
    ax.set_ylabel("ML ΔH_mix (meV/atom)")
    ax.set_title("(d) ML against oracle mixing enthalpies (Fig. 7a, b)", fontsize=9)
    ax.legend(fontsize=7)
    iterations = [h["iteration"] for h in history]
    ax = axes[1, 1]
    maes = [np.nan if h["mae_mev"] is None else h["mae_mev"] for h in history]
    ax.plot(iterations, maes, "o-", color="C0", label="ours (converged relaxations)")
    ax.axhline(4.7, color="tab:red", linestyle=":", label="paper (DFT), initial 4.7")
    ax.axhline(0.45, color="tab:red", linestyle="--", label="paper (DFT), final 0.45")
    for h in history:
        if h["mae_mev"] is not None:
            ax.annotate(h["stage"], (h["iteration"], h["mae_mev"]), fontsize=6, textcoords="offset points",
                        xytext=(3, 3))
        else:
            ax.annotate(f"{h['stage']}: none converged", (h["iteration"], 4.7), fontsize=6, rotation=90)
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    ax.set_xlim(-0.3, iterations[-1] + 0.9)  # room for the stage labels right of the points
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("active-learning iteration (0: initial model)")
    ax.set_ylabel("relaxed-energy MAE (meV/atom)")
    ax.set_title("(e) relaxation test per iteration (Fig. 7c)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    ax.plot(iterations, [100 * h["convergence"] for h in history], "s-", color="C2", label="ours")
    ax.plot([0, iterations[-1]], [88, 100], "*", color="tab:red", markersize=12, label="paper (DFT): 88 % -> 100 %")
    ax.set_ylim(0, 105)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("active-learning iteration (0: initial model)")
    ax.set_ylabel("ML relaxations converged (%)")
    ax.set_title("(f) convergence within the step limit", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path, title, oracle, dpi=110, tight=False)
