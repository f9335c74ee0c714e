"""Fig. 6 of Homm, Laakso, Rinke 2025: the CsSn(Cl/Br/I)3 single-point learning curve
(constrained k-means clusters, batches of one structure per cluster, energy and force MAE)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perovflow.reproduce import data as data_module
from perovflow.reproduce import learning, orders, plots, stats
from perovflow.reproduce.verdicts import row
from perovflow.settings import TABLE_S1

PRESET = "cssn_clbri3"
PAPER = {"energy_mae": 0.5, "force_mae": 59.0, "n": 16000, "clusters": 2000, "min_size": 20, "pool": 130000}


@dataclass(frozen=True)
class Protocol:
    pool_per_composition: int
    pool_compositions: int | None  # None: all 325
    test_per_composition: int
    test_compositions: int | None
    force_test: int
    clusters: int
    batches: int
    seeds: int


FULL = Protocol(3, None, 1, 163, 400, 250, 15, 3)
QUICK = Protocol(1, 75, 1, 25, 50, 25, 8, 1)


def run(quick: bool, oracle: str, seeds: int | None, out: Path, cache: Path) -> dict:
    from tqdm import tqdm

    t0 = time.perf_counter()
    p = QUICK if quick else FULL
    n_seeds = seeds or p.seeds
    x = ("Cl", "Br", "I")
    pool_spec = data_module.DataSpec("Cs", "Sn", x, "pool", p.pool_per_composition, 0, p.pool_compositions)
    test_spec = data_module.DataSpec("Cs", "Sn", x, "test", p.test_per_composition, 0, p.test_compositions)
    pool = data_module.load(pool_spec, PRESET, oracle, cache)
    test_data = data_module.load(test_spec, PRESET, oracle, cache)
    descriptor = data_module.MBTRDescriptor(data_module.descriptor_settings(PRESET, pool_spec.species))
    test = learning.build_test_set(test_data, descriptor, p.force_test)
    hyper = learning.hyperparameters(TABLE_S1[PRESET]["model"])
    sizes = [p.clusters * (b + 1) for b in range(p.batches) if p.clusters * (b + 1) <= len(pool.energy)]
    runs = []
    for seed in tqdm(range(n_seeds), desc="fig6 learning curves", unit="curve"):
        order, info = orders.cluster_order(pool.features, p.clusters, seed)
        runs.append({"seed": seed, "clustering": info,
                     "curve": learning.curve(order, sizes, pool.features, pool.energy, test, hyper)})
    steps = min(len(r["curve"]) for r in runs)
    n = [runs[0]["curve"][k]["n_train"] for k in range(steps)]
    energy = [[r["curve"][k]["energy_mae"] for k in range(steps)] for r in runs]
    force = [[r["curve"][k]["force_mae"] for k in range(steps)] for r in runs]
    label = f"{p.clusters} clusters, one structure per cluster per batch"
    curves = {label: {"n_train": n, "energy": energy, "force": force}}
    table, analysis = _table(n, np.mean(energy, axis=0), np.mean(force, axis=0), oracle)
    figure = plots.learning_curves(
        curves, out / "fig6.png",
        f"Fig. 6 (Homm, Laakso, Rinke 2025) reproduced: CsSn(Cl/Br/I)3, pool {len(pool.energy)}, "
        f"test {len(test.energy)}, {n_seeds} repetitions", oracle,
        {"energy": (PAPER["n"], PAPER["energy_mae"]), "force": (PAPER["n"], PAPER["force_mae"])})
    return {
        "name": "fig6", "title": "Fig. 6 of Homm, Laakso, Rinke 2025: CsSn(Cl/Br/I)3 single-point learning curve",
        "oracle": oracle, "oracle_is_dft": False, "quick": quick,
        "protocol": (f"Pool of {len(pool.energy)} CsSn(Cl/Br/I)3 single points (4 phases, "
                     f"{p.pool_compositions or 325} compositions, {p.pool_per_composition} per composition and "
                     f"phase) in {p.clusters} constrained k-means clusters (minimum size "
                     f"{orders.min_size_for(len(pool.energy), p.clusters)}); batches of one random structure per "
                     f"cluster; MBTR-KRR with the CsSn(Cl/Br/I)3 column of Table S1 refitted after each batch; "
                     f"test set of {len(test.energy)} ({len(test.forces)} of them for forces); {n_seeds} "
                     f"repetitions. The paper: 130,000-structure pool, 2,000 clusters (minimum 20), batches of "
                     f"2,000 up to 16,000 DFT labels, 2,600 test structures."),
        "pool": len(pool.energy), "test": len(test.energy), "force_test": len(test.forces), "sizes": n,
        "seeds": n_seeds, "paper": PAPER, "curves": curves, "runs": runs, "analysis": analysis, "table": table,
        "figures": [figure.name], "relabelled": pool.relabelled + test_data.relabelled,
        "label_seconds": pool.label_seconds + test_data.label_seconds, "wall_seconds": time.perf_counter() - t0,
    }


def _table(n, energy, force, oracle: str) -> tuple[list[dict], dict]:
    table, analysis = [], {}
    half = stats.half_index(n)  # the last doubling: from about n_max / 2 to n_max
    last = len(n) - half  # the power law to 16,000 goes through the points of the last doubling
    for key, values, unit in (("energy", energy, "meV/atom"), ("force", force, "meV/Å")):
        measured = float(values[-1])
        extrapolated = stats.extrapolate(n, values, PAPER["n"], last=last)
        analysis[key] = {"measured": measured, "measured_n": int(n[-1]), "extrapolated_16000": extrapolated,
                         "fit_points": last}
        table.append(row(f"{key} MAE at {PAPER['n']:,} structures ({unit})",
                         f"{PAPER[f'{key}_mae']:g}",
                         f"{measured:.3g} measured at {int(n[-1]):,}; {extrapolated:.3g} extrapolated to "
                         f"{PAPER['n']:,}", "absolute",
                         {"ours": extrapolated, "paper": PAPER[f"{key}_mae"], "oracle": oracle,
                          "oracle_is_dft": False, "ours_n": int(n[-1]), "paper_n": PAPER["n"]}))
    slope = stats.loglog_slope(n[half:], force[half:], last=len(n) - half)
    analysis["force_last_doubling_slope"] = {"slope": slope, "from_n": int(n[half]), "to_n": int(n[-1])}
    table.append(row("force MAE still decreasing at the largest training set", "yes (text)",
                     f"log-log slope {slope:.2f} from {int(n[half]):,} to {int(n[-1]):,}", "still_decreasing",
                     {"slope": slope}))
    first = stats.gain_per_doubling(n[0], energy[0], n[1], energy[1])
    last_gain = stats.gain_per_doubling(n[half], energy[half], n[-1], energy[-1])
    analysis["energy_gain_per_doubling"] = {"first": first, "first_from_to": [int(n[0]), int(n[1])],
                                            "last": last_gain, "last_from_to": [int(n[half]), int(n[-1])]}
    table.append(row("energy MAE levels off (diminishing returns)", "converged ~0.5 meV/atom (text)",
                     f"drop per doubling {100 * first:.0f} % from {int(n[0]):,} to {int(n[1]):,}, "
                     f"{100 * last_gain:.0f} % from {int(n[half]):,} to {int(n[-1]):,}",
                     "diminishing_returns", {"first_gain": first, "last_gain": last_gain}))
    return table, analysis
