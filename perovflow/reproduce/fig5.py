"""Fig. 5 of Homm, Laakso, Rinke 2025: pruning relaxation snapshots by clustering (one
snapshot per k-means cluster) against random removal and against keeping every snapshot.

The paper's protocol (section III.C): the training set is every single point plus k
snapshots of the training half of the relaxation trajectories, k from 200 to 2,000 of
about 4,000; errors on every snapshot of the other half; two-fold cross-validation.
The same single points and oracle trajectories as fig4 (one cache serves both).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perovflow.reproduce import fig4, learning, plots, stats, trajectories
from perovflow.reproduce.verdicts import row
from perovflow.selection import prune

PAPER = {"kept": 1100, "half": 4007, "energy_cluster": 0.161, "energy_random": 0.170, "force_cluster": 17.4,
         "force_random": 17.8, "energy_all": 0.1, "force_all": 16.3}
# the paper's comparison point: ~1,100 of the ~4,000 snapshots of one half (8,014 in all)
PAPER_FRACTION = PAPER["kept"] / PAPER["half"]
METHODS = ("clustering (one per k-means cluster)", "random removal")


@dataclass(frozen=True)
class Protocol:
    data: fig4.Protocol  # single points and trajectories (fig4's)
    fractions: tuple[float, ...]  # snapshots kept, as fractions of the smaller training half
    seeds: int


FULL = Protocol(fig4.FULL, (0.05, 0.1, 0.2, 0.275, 0.4, 0.6), 3)
QUICK = Protocol(fig4.QUICK, (0.1, 0.275, 0.5), 1)


def _kept(method: str, features: np.ndarray, k: int, seed: int) -> np.ndarray:
    if method.startswith("clustering"):
        return prune(features, k, seed=seed)
    return np.sort(np.random.default_rng([seed, 7]).choice(len(features), size=k, replace=False))


def run(quick: bool, oracle: str, seeds: int | None, out: Path, cache: Path) -> dict:
    from tqdm import tqdm

    t0 = time.perf_counter()
    p = QUICK if quick else FULL
    n_seeds = seeds or p.seeds
    pool, trajs, snaps, _, hyper, labelled = fig4.load_inputs(p.data, oracle, cache)
    folds = []  # (seed, fold, training trajectories, test trajectories)
    for seed in range(n_seeds):
        first, second = trajectories.split_per_phase(trajs, seed)
        folds += [(seed, 0, first, second), (seed, 1, second, first)]
    smallest = min(len(snaps.rows_of(train)) for _, _, train, _ in folds)
    counts = sorted({max(1, int(round(f * smallest))) for f in p.fractions})
    runs = []
    for seed, fold, train, test in tqdm(folds, desc="fig5 pruning", unit="fold"):
        test_set = snaps.test_set(test)
        rows = snaps.rows_of(train)

        def errors(chosen: np.ndarray) -> dict:
            model = learning.fit(np.vstack([pool.features, snaps.features[chosen]]),
                                 np.concatenate([pool.energy, snaps.energy[chosen]]), hyper)
            energy, force = learning.errors(model, test_set)
            return {"energy_mae": energy, "force_mae": force}

        result = {"seed": seed, "fold": fold, "snapshots": int(len(rows)), "all": errors(rows), "methods": {}}
        for method in METHODS:
            result["methods"][method] = [{"kept": k, **errors(rows[_kept(method, snaps.features[rows], k, seed)])}
                                         for k in counts]
        runs.append(result)
        # every (seed, fold) counts as one repetition in the bootstrap
    curves = {m: {"n_train": counts, **{key: [[q[f"{key}_mae"] for q in r["methods"][m]] for r in runs]
                                        for key in ("energy", "force")}} for m in METHODS}
    every = {key: float(np.mean([r["all"][f"{key}_mae"] for r in runs])) for key in ("energy", "force")}
    table, analysis = _table(curves, every, counts, smallest, oracle)
    figure = plots.learning_curves(
        curves, out / "fig5.png",
        f"Fig. 5 (Homm, Laakso, Rinke 2025) reproduced: CsPb(Cl/Br)3 pruning, {len(pool.energy)} single points + "
        f"kept snapshots, {n_seeds} x two-fold CV", oracle,
        xlabel="relaxation snapshots added to the single points", xscale="linear",
        reference_lines={key: (every[key], f"all snapshots of the half (>= {smallest})") for key in ("energy", "force")})
    return {
        "name": "fig5", "title": "Fig. 5 of Homm, Laakso, Rinke 2025: pruning relaxation snapshots",
        "oracle": oracle, "oracle_is_dft": False, "quick": quick,
        "protocol": (f"Training set: {len(pool.energy)} CsPb(Cl/Br)3 single points plus k snapshots of the training "
                     f"half of {len(trajs)} oracle relaxation trajectories (fig4's, {int(len(snaps.energy))} "
                     f"snapshots; halves split at random per phase), k = {counts} (fractions {list(p.fractions)} of "
                     f"the smaller half, {smallest} snapshots): one random snapshot from each of k constrained "
                     f"k-means clusters of the half's MBTR vectors, or k random snapshots; and all snapshots of the "
                     f"half. Errors on the other half (energy: every snapshot; force: {p.data.force_per_trajectory} "
                     f"evenly spaced snapshots per trajectory), two-fold cross-validation repeated with {n_seeds} "
                     f"random splits (each fold one repetition in the bootstrap). MBTR-KRR with the CsPb(Cl/Br)3 "
                     f"column of Table S1. The paper: 10,000 DFT single points, 8,014 snapshots of 200 DFT "
                     f"trajectories, 200 to 2,000 clusters, one two-fold split."),
        "single_points": len(pool.energy), "trajectories": len(trajs), "snapshots": int(len(snaps.energy)),
        "smallest_half": smallest, "counts": counts, "seeds": n_seeds, "paper": PAPER, "curves": curves,
        "all_snapshots": every, "runs": runs, "analysis": analysis, "table": table, "figures": [figure.name],
        **labelled, "wall_seconds": time.perf_counter() - t0,
    }


def _fmt_ci(result: dict) -> str:
    low, high = result["ci95"]
    return f"{100 * result['estimate']:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"


def _table(curves: dict, every: dict, counts: list[int], smallest: int, oracle: str) -> tuple[list[dict], dict]:
    cluster, random = (curves[m] for m in METHODS)
    at = int(np.argmin(np.abs(np.asarray(counts) / smallest - PAPER_FRACTION)))
    k = counts[at]
    table, analysis = [], {"compared_at": {"kept": k, "fraction": k / smallest}, "relative": {}}
    for key, unit in (("energy", "meV/atom"), ("force", "meV/Å")):
        result = stats.bootstrap_relative_difference(np.asarray(cluster[key])[:, at], np.asarray(random[key])[:, at])
        analysis["relative"][key] = result
        c, r = PAPER[f"{key}_cluster"], PAPER[f"{key}_random"]
        table.append(row(f"{key} MAE after pruning to {k} snapshots ({100 * k / smallest:.0f} % of a half), "
                         f"clustering relative to random",
                         f"{100 * (c / r - 1):.0f} % ({c:g} vs {r:g} {unit} at ~1,100 of ~4,000)", _fmt_ci(result),
                         "lower_than_random",
                         {"estimate": result["estimate"], "ci_low": result["ci95"][0], "ci_high": result["ci95"][1]}))
    for key, unit in (("energy", "meV/atom"), ("force", "meV/Å")):
        ours = float(np.mean(np.asarray(cluster[key])[:, at]))
        table.append(row(f"{key} MAE after pruning by clustering ({unit})", f"{PAPER[f'{key}_cluster']:g} at ~1,100",
                         f"{ours:.3g} at {k}", "absolute",
                         {"ours": ours, "paper": PAPER[f"{key}_cluster"], "oracle": oracle, "oracle_is_dft": False,
                          "ours_n": k, "paper_n": PAPER["kept"]}))
        table.append(row(f"{key} MAE with all snapshots ({unit})", f"{PAPER[f'{key}_all']:g}",
                         f"{every[key]:.3g}", "absolute",
                         {"ours": every[key], "paper": PAPER[f"{key}_all"], "oracle": oracle, "oracle_is_dft": False,
                          "ours_n": smallest, "paper_n": PAPER["half"]}))
    return table, analysis
