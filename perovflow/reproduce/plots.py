"""Learning-curve figures in the paper's style: energy MAE (meV/atom) and force MAE (meV/Å)
(or other panels) against the amount of training data, log-log by default, one line per
selection scheme with the spread over repetitions as error bars."""
from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS = (("energy", "energy MAE (meV/atom)"), ("force", "force MAE (meV/Å)"))


def pyplot():
    """matplotlib.pyplot on the file-only backend (imported when a figure is drawn: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, title: str, oracle: str, dpi: int, tight: bool = True) -> Path:
    """Every reproduction figure's title names its oracle as a stand-in, then the PNG is written."""
    fig.suptitle(f"{title}\nlabels: {oracle} (stand-in oracle, not DFT)", fontsize=9)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def _plain_log_formatter(**kwargs):
    """Matplotlib's choice of which log ticks get a label, written as plain numbers (0.6, 20)
    instead of 6 x 10^-1: curves spanning less than a decade were hard to read."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLog(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return f"{x:g}" if super().__call__(x, pos) else ""

    return PlainLog(**kwargs)


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (see :func:`_plain_log_formatter`)."""
    axis.set_major_formatter(_plain_log_formatter())
    axis.set_minor_formatter(_plain_log_formatter(labelOnlyBase=False))


def learning_curves(curves: dict[str, dict], path: Path, title: str, oracle: str,
                    paper_points: dict[str, tuple[float, float]] | None = None,
                    panels: tuple[tuple[str, str], ...] = PANELS, xlabel: str = "training structures",
                    xscale: str = "log", reference_lines: dict[str, tuple[float, str]] | None = None) -> Path:
    """``curves``: label -> {"n_train": [...], "energy": reps x sizes, "force": reps x sizes}.
    ``paper_points``: optional {"energy"/"force": (n, value)} drawn as stars. ``panels``:
    (curve key, y label) per panel; ``reference_lines``: {key: (value, label)} drawn dashed."""
    fig, axes = pyplot().subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for (key, ylabel), ax, letter in zip(panels, np.atleast_1d(axes), "abcdef"):
        for i, (label, c) in enumerate(curves.items()):
            values = np.asarray(c[key], dtype=float)
            n = np.asarray(c["n_train"], dtype=float)
            style = {"color": "k", "linestyle": "--"} if label.startswith("random") else {"color": f"C{i}"}
            ax.errorbar(n, values.mean(axis=0), yerr=values.std(axis=0) if len(values) > 1 else None,
                        marker="o", markersize=3, capsize=2, label=label, **style)
        if paper_points and key in paper_points:
            pn, pv = paper_points[key]
            ax.plot([pn], [pv], marker="*", markersize=12, color="tab:red", linestyle="none",
                    label=f"paper (DFT), {pn:,.0f} structures")
        if reference_lines and key in reference_lines:
            value, label = reference_lines[key]
            ax.axhline(value, color="grey", linestyle=":", label=label)
        ax.set_xscale(xscale)
        ax.set_yscale("log")
        for axis, scale in ((ax.xaxis, xscale), (ax.yaxis, "log")):
            if scale == "log":
                plain_log_ticks(axis)
            elif axis is ax.xaxis:  # a linear x counts things: ticks where the points are
                ax.set_xticks(sorted({int(v) for c in curves.values() for v in c["n_train"]}))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"({letter}) {key}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path, title, oracle, dpi=120)
