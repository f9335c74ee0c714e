"""Fig. 2 of Homm, Laakso, Rinke 2025: initial data by clustering against random selection
(CsPb(Cl/Br)3 single points; energy and force learning curves; data saving)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perovflow.reproduce import data as data_module
from perovflow.reproduce import learning, orders, plots, stats
from perovflow.reproduce.verdicts import row
from perovflow.settings import TABLE_S1

PRESET = "cspb_clbr3"
PAPER = {"energy_saving": 0.20, "force_saving": 0.50, "force_mae_cluster": 18.8, "force_mae_random": 19.1,
         "energy_mae_final": 0.1, "n_final": 4000}


@dataclass(frozen=True)
class Protocol:
    pool_per_composition: int
    test_per_composition: int
    force_test: int
    sizes: tuple[int, ...]
    cluster_counts: tuple[int, ...]
    per_size_up_to: int  # "one cluster per structure" for sizes up to this
    seeds: int


FULL = Protocol(60, 4, 400, (64, 128, 256, 512, 1024, 2048, 3000, 4000), (8, 64, 512), 4000, 5)
QUICK = Protocol(3, 1, 50, (16, 32, 64, 128, 200), (8, 32), 200, 2)


def _specs(p: Protocol) -> tuple[data_module.DataSpec, data_module.DataSpec]:
    x = ("Cl", "Br")
    return (data_module.DataSpec("Cs", "Pb", x, "pool", p.pool_per_composition, 0),
            data_module.DataSpec("Cs", "Pb", x, "test", p.test_per_composition, 0))


def run(quick: bool, oracle: str, seeds: int | None, out: Path, cache: Path) -> dict:
    from tqdm import tqdm

    t0 = time.perf_counter()
    p = QUICK if quick else FULL
    n_seeds = seeds or p.seeds
    pool_spec, test_spec = _specs(p)
    pool = data_module.load(pool_spec, PRESET, oracle, cache)
    test_data = data_module.load(test_spec, PRESET, oracle, cache)
    descriptor = data_module.MBTRDescriptor(data_module.descriptor_settings(PRESET, pool_spec.species))
    test = learning.build_test_set(test_data, descriptor, p.force_test)
    hyper = learning.hyperparameters(TABLE_S1[PRESET]["model"])
    sizes = [n for n in p.sizes if n <= len(pool.energy)]
    schemes = ["random", *[f"{k} clusters" for k in p.cluster_counts], "one cluster per structure"]
    runs: list[dict] = []
    bar = tqdm(total=n_seeds * len(schemes), desc="fig2 learning curves", unit="curve")
    for seed in range(n_seeds):
        for scheme in schemes:
            info: dict = {}
            if scheme == "random":
                points = learning.curve(orders.random_order(len(pool.energy), seed), sizes, pool.features,
                                        pool.energy, test, hyper)
            elif scheme.endswith(" clusters"):
                order, info = orders.cluster_order(pool.features, int(scheme.split()[0]), seed)
                points = learning.curve(order, sizes, pool.features, pool.energy, test, hyper)
            else:
                points = []
                for n in sizes:
                    if n > p.per_size_up_to:
                        break
                    chosen = orders.one_per_cluster(pool.features, n, seed)
                    points += learning.curve(chosen, [n], pool.features, pool.energy, test, hyper)
            runs.append({"scheme": scheme, "seed": seed, "clustering": info, "curve": points})
            bar.update(1)
    bar.close()
    curves = _curves(runs, schemes)
    table, analysis = _table(curves, oracle)
    figure = plots.learning_curves(
        {s: c for s, c in curves.items()}, out / "fig2.png",
        f"Fig. 2 (Homm, Laakso, Rinke 2025) reproduced: CsPb(Cl/Br)3, pool {len(pool.energy)}, "
        f"test {len(test.energy)}, {n_seeds} repetitions", oracle,
        {"energy": (PAPER["n_final"], PAPER["energy_mae_final"]), "force": (PAPER["n_final"], PAPER["force_mae_cluster"])})
    return {
        "name": "fig2", "title": "Fig. 2 of Homm, Laakso, Rinke 2025: clustering vs random selection, CsPb(Cl/Br)3",
        "oracle": oracle, "oracle_is_dft": False, "quick": quick,
        "protocol": (f"Pool of {len(pool.energy)} CsPb(Cl/Br)3 single points (4 phases, 25 compositions, "
                     f"{p.pool_per_composition} per composition and phase); separate test set of "
                     f"{len(test.energy)} ({len(test.forces)} of them for forces); MBTR-KRR with the CsPb(Cl/Br)3 "
                     f"column of Table S1; {n_seeds} repetitions (seeds for clustering and draws); training sizes "
                     f"{sizes}; constrained k-means with {', '.join(map(str, p.cluster_counts))} clusters "
                     f"(minimum size: half the mean, at most 20) and one cluster per training structure. Errors are "
                     f"MAEs: energy per atom, force per Cartesian component. The paper: 7,500 of 10,000 DFT "
                     f"single points, 3 splits, up to ~4,000 training structures."),
        "pool": len(pool.energy), "test": len(test.energy), "force_test": len(test.forces), "sizes": sizes,
        "seeds": n_seeds, "schemes": schemes, "paper": PAPER, "curves": curves, "runs": runs,
        "analysis": analysis, "table": table, "figures": [figure.name],
        "relabelled": pool.relabelled + test_data.relabelled, "label_seconds": pool.label_seconds + test_data.label_seconds,
        "wall_seconds": time.perf_counter() - t0,
    }


def _curves(runs: list[dict], schemes: list[str]) -> dict:
    """scheme -> sizes common to all repetitions, energy and force MAE (repetitions x sizes)."""
    curves = {}
    for scheme in schemes:
        chosen = [r["curve"] for r in runs if r["scheme"] == scheme]
        steps = min(len(c) for c in chosen)
        if steps == 0:
            continue
        curves[scheme] = {"n_train": [c["n_train"] for c in chosen[0][:steps]],
                          "energy": [[c[k]["energy_mae"] for k in range(steps)] for c in chosen],
                          "force": [[c[k]["force_mae"] for k in range(steps)] for c in chosen]}
    return curves


def _fmt_ci(result: dict) -> str:
    low, high = result["ci95"]
    return f"{100 * result['estimate']:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"


def _table(curves: dict, oracle: str) -> tuple[list[dict], dict]:
    random = curves["random"]
    n_random = np.asarray(random["n_train"], dtype=float)
    table, analysis = [], {"savings": {}, "final_relative": {}}
    clustered = [s for s in curves if s != "random"]
    for key, paper_key, unit in (("energy", "energy_saving", "meV/atom"), ("force", "force_saving", "meV/Å")):
        for scheme in clustered:
            c = curves[scheme]
            if c["n_train"] != random["n_train"]:
                analysis["savings"][f"{scheme} {key}"] = {"skipped": "curve shorter than random's"}
                continue
            result = stats.bootstrap_saving(n_random, c[key], random[key])
            analysis["savings"][f"{scheme} {key}"] = result
            table.append(row(f"{key} data saving at random's final error ({int(n_random[-1])} structures), {scheme}",
                             f"{100 * PAPER[paper_key]:.0f} %", _fmt_ci(result), "saving",
                             {"estimate": result["estimate"], "ci_low": result["ci95"][0],
                              "ci_high": result["ci95"][1], "paper": PAPER[paper_key]}))
    best = max((s for s in clustered if s.endswith(" clusters")), key=lambda s: int(s.split()[0]))
    final = stats.bootstrap_relative_difference(np.asarray(curves[best]["force"])[:, -1],
                                                np.asarray(random["force"])[:, -1])
    analysis["final_relative"]["force"] = final
    table.append(row(f"final force MAE, {best} relative to random",
                     f"{100 * (PAPER['force_mae_cluster'] / PAPER['force_mae_random'] - 1):.1f} % (18.8 vs 19.1 meV/Å)",
                     _fmt_ci(final), "lower_than_random",
                     {"estimate": final["estimate"], "ci_low": final["ci95"][0], "ci_high": final["ci95"][1]}))
    for key, paper_value, paper_text, unit in (
            ("energy", PAPER["energy_mae_final"], "~0.1", "meV/atom"),
            ("force", PAPER["force_mae_random"], "19.1", "meV/Å")):
        ours = float(np.mean(np.asarray(random[key])[:, -1]))
        table.append(row(f"final {key} MAE, random selection ({unit})",
                         f"{paper_text} at ~{PAPER['n_final']:,}", f"{ours:.3g} at {int(n_random[-1]):,}", "absolute",
                         {"ours": ours, "paper": paper_value, "oracle": oracle, "oracle_is_dft": False,
                          "ours_n": int(n_random[-1]), "paper_n": PAPER["n_final"]}))
    # "more clusters tend to be better": cluster count (one per structure counts as the most)
    # against the mean log error over the sizes every scheme reached
    ranked = [s for s in clustered if s.endswith(" clusters")] + [s for s in clustered if not s.endswith(" clusters")]
    steps = min(len(curves[s]["n_train"]) for s in ranked)
    for key in ("energy", "force"):
        mean_log = [float(np.mean(np.log(np.asarray(curves[s][key])[:, :steps]))) for s in ranked]
        rho = stats.spearman(np.arange(len(ranked)), mean_log)
        analysis[f"trend_{key}"] = {"schemes": ranked, "mean_log_error": mean_log, "sizes": steps, "rho": rho}
        table.append(row(f"more clusters give lower {key} error ({', '.join(ranked)})", "tends to (text)",
                         f"Spearman rho {rho:.2f}", "trend", {"rho": rho}))
    return table, analysis
