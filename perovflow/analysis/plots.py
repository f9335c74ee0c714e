"""Figures of a campaign from its summary (no database access here): the learning curve,
the relaxation test per active-learning iteration, ML against engine mixing enthalpies of
the final model (the paper's Fig. 7), and what the initial selection picked (Fig. 3)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


LEARNING_CURVE_PANELS = (("mae", "test-set energy MAE (meV/atom)"), ("force_mae", "test-set force MAE (meV/Å)"))


def plot_learning_curve(info: dict[str, Any], path: Path) -> Path | None:
    """Test-set energy MAE and, where measured, force MAE against training structures (the
    paper's Fig. 6); versions stored without force errors are left out of the force panel."""
    curve = info["learning_curve"]
    panels = [(key, label) for key, label in LEARNING_CURVE_PANELS if any(r.get(key) is not None for r in curve)]
    if not panels or panels[0][0] != "mae":
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        rows = [r for r in curve if r.get(key) is not None]
        for stage, marker in (("initial", "o"), ("stage1", "s"), ("stage2", "^"), ("final", "*")):
            chosen = [r for r in rows if r["stage"] == stage]
            if chosen:
                ax.plot([r["n_train"] for r in chosen], [r[key] for r in chosen], marker=marker, label=stage)
        ax.set_xlabel("training structures")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(f"{info['campaign']}: learning curve")
    return _save(plt, fig, path)


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
    return _save(plt, fig, path)


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
    return _save(plt, fig, path)


def plot_selection(overview: dict[str, Any] | None, path: Path) -> Path | None:
    """Cluster sizes; share of each phase and distribution of the halide fraction among the
    selected structures against the whole pool."""
    if not overview or not any(s["selected"] for s in overview["structures"]):
        return None
    plt = _pyplot()
    structures = overview["structures"]
    picked = [s for s in structures if s["selected"]]
    fig, (sizes_ax, phase_ax, halide_ax) = plt.subplots(1, 3, figsize=(12, 3.6))
    sizes = overview["cluster_sizes"]
    sizes_ax.hist(sizes, bins=min(30, max(5, len(set(sizes)))), color="tab:blue")
    sizes_ax.set_xlabel("structures per cluster")
    sizes_ax.set_ylabel("clusters")
    sizes_ax.set_title(f"{len(sizes)} clusters, sizes {sizes[0]}-{sizes[-1]}", fontsize=9)
    phases = sorted({s["phase"] for s in structures}, key=str)
    width = 0.4
    for offset, group, label in ((-width / 2, structures, "pool"), (width / 2, picked, "selected")):
        shares = [100 * sum(s["phase"] == p for s in group) / len(group) for p in phases]
        phase_ax.bar([i + offset for i in range(len(phases))], shares, width=width, label=label)
    phase_ax.set_xticks(range(len(phases)), [str(p) for p in phases])
    phase_ax.set_ylabel("share of structures (%)")
    phase_ax.legend(fontsize=8)
    bins = [(k - 0.5) / 24 for k in range(26)]  # one bin per halide count of the 24 X sites
    halide_ax.hist([s["fraction"] for s in structures], bins=bins, density=True, alpha=0.5, label="pool")
    halide_ax.hist([s["fraction"] for s in picked], bins=bins, density=True, alpha=0.5, label="selected")
    halide_ax.set_xlabel(f"{overview['halide']} fraction of the halide sites")
    halide_ax.set_ylabel("density")
    halide_ax.legend(fontsize=8)
    fig.suptitle(f"{overview['campaign']}: initial selection ({len(picked)} of {len(structures)} pool structures)",
                 fontsize=9)
    return _save(plt, fig, path)


def campaign_figures(info: dict[str, Any], final_mixing: list[dict[str, Any]], folder: Path,
                     selection: dict[str, Any] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        plot_learning_curve(info, folder / "learning_curve.png"),
        plot_relaxation_test(info, folder / "relaxation_test.png"),
        plot_mixing_enthalpies(final_mixing, info["campaign"], folder / "mixing_enthalpies.png"),
        plot_selection(selection, folder / "selection.png"),
    ]
    return [p for p in made if p is not None]
