"""Figures of a campaign from its summary (no database access here): the learning curve,
the relaxation test per active-learning iteration, and ML against engine mixing enthalpies
of the final model (the seed's Fig. 7)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(info: dict[str, Any], path: Path) -> Path | None:
    rows = [r for r in info["learning_curve"] if r["mae"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for stage, marker in (("initial", "o"), ("stage1", "s"), ("stage2", "^"), ("final", "*")):
        chosen = [r for r in rows if r["stage"] == stage]
        if chosen:
            ax.plot([r["n_train"] for r in chosen], [r["mae"] for r in chosen], marker=marker, label=stage)
    ax.set_xlabel("training structures")
    ax.set_ylabel("test-set energy MAE (meV/atom)")
    ax.set_title(f"{info['campaign']}: learning curve")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_relaxation_test(info: dict[str, Any], path: Path) -> Path | None:
    rows = [r for r in info.get("active_learning", []) if r["mae_mev"] is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = ["final" if r["stage"] == "final" else str(r["iteration"]) for r in rows]
    colours = {"initial": "grey", "stage1": "tab:blue", "stage2": "tab:orange", "final": "tab:green"}
    left.bar(labels, [r["mae_mev"] for r in rows], color=[colours.get(r["stage"], "black") for r in rows])
    left.set_xlabel("iteration")
    left.set_ylabel("relaxed-energy MAE (meV/atom)")
    right.bar(labels, [100 * r["convergence"] for r in rows], color=[colours.get(r["stage"], "black") for r in rows])
    right.set_xlabel("iteration")
    right.set_ylabel("ML relaxations converged (%)")
    right.set_ylim(0, 105)
    fig.suptitle(f"{info['campaign']}: relaxation test (grey initial, blue stage 1, orange stage 2, green final)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_mixing_enthalpies(rows: list[dict[str, Any]], campaign: str, path: Path) -> Path | None:
    pairs = [(r["dh_engine_mev"], r["dh_ml_mev"], r["phase"]) for r in rows
             if r["dh_engine_mev"] is not None and r["dh_ml_mev"] is not None and r.get("ml_converged")]
    if not pairs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for phase in sorted({p for _, _, p in pairs}):
        ax.scatter([e for e, _, p in pairs if p == phase], [m for _, m, p in pairs if p == phase], label=phase, s=18)
    low = min(min(e, m) for e, m, _ in pairs)
    high = max(max(e, m) for e, m, _ in pairs)
    ax.plot([low, high], [low, high], color="black", linewidth=0.8)
    ax.set_xlabel("engine dH_mix (meV/atom)")
    ax.set_ylabel("ML dH_mix (meV/atom)")
    ax.set_title(f"{campaign}: final model, relaxed structures", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def campaign_figures(info: dict[str, Any], final_mixing: list[dict[str, Any]], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        plot_learning_curve(info, folder / "learning_curve.png"),
        plot_relaxation_test(info, folder / "relaxation_test.png"),
        plot_mixing_enthalpies(final_mixing, info["campaign"], folder / "mixing_enthalpies.png"),
    ]
    return [p for p in made if p is not None]
