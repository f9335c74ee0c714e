"""Fig. 4 of Homm, Laakso, Rinke 2025: active selection of relaxation trajectories against
random trajectories (CsPb(Cl/Br)3; energy, force and relaxed-energy errors per iteration).

The paper's protocol (section III.B): an initial model on all single points; the relaxation
trajectories split at random into a training and a test half; every iteration the model
relaxes the training starts, and per phase the oracle trajectory of the start whose ML
relaxation had the highest maximum GP sigma is added; after each refit, errors on every
snapshot of the test trajectories and relaxed energies of ML relaxations of test starts.
Random selection adds one random trajectory per phase instead.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.relaxation import ml_relax
from perovflow.reproduce import data as data_module
from perovflow.reproduce import learning, plots, stats, trajectories
from perovflow.reproduce.verdicts import row
from perovflow.settings import TABLE_S1
from perovflow.structures.constraint import SymmetryConstraint
from perovflow.units import EV_TO_MEV

PRESET = "cspb_clbr3"
X = ("Cl", "Br")
PAPER = {"energy_saving": 0.5, "force_saving": 0.5, "energy_mae_active": 0.18, "energy_mae_random": 0.29,
         "force_mae_active": 17.6, "force_mae_random": 19.6, "trajectories_added": 48, "iterations": 12,
         "repetitions": 5, "single_points": 10000, "trajectories": 200}
METHODS = ("active (highest max sigma per phase)", "random (one per phase)")


@dataclass(frozen=True)
class Protocol:
    pool_per_composition: int  # single points per composition and phase (the initial data)
    trajectories_per_phase: int  # oracle relaxations per phase, split in halves (train, test)
    oracle_fmax: float  # eV/Å
    oracle_max_steps: int
    iterations: int  # one trajectory per phase added per iteration
    relax_test_per_phase: int  # test starts relaxed by the ML model after every refit
    ml_fmax: float  # eV/Å
    ml_max_steps: int
    force_per_trajectory: int  # snapshots per trajectory with force errors
    seeds: int


FULL = Protocol(5, 20, 0.1, 30, 5, 1, 0.01, 60, 4, 5)
QUICK = Protocol(1, 6, 0.1, 12, 2, 1, 0.01, 40, 3, 1)


def trajectory_spec(p: Protocol) -> trajectories.TrajectorySpec:
    return trajectories.TrajectorySpec("Cs", "Pb", X, p.trajectories_per_phase, 0, p.oracle_fmax, p.oracle_max_steps)


def load_inputs(p: Protocol, oracle: str, cache: Path):
    """Single points, trajectories and their snapshots (all cached), the descriptor and the
    Table S1 hyperparameters: what fig4 and fig5 both start from."""
    pool_spec = data_module.DataSpec("Cs", "Pb", X, "pool", p.pool_per_composition, 0)
    pool = data_module.load(pool_spec, PRESET, oracle, cache)
    spec = trajectory_spec(p)
    trajs, relaxed, seconds = trajectories.load(spec, oracle, cache)
    settings = data_module.descriptor_settings(PRESET, pool_spec.species)
    descriptor = data_module.MBTRDescriptor(settings)
    snaps = trajectories.snapshots(trajs, descriptor, p.force_per_trajectory, cache,
                                   spec.key(oracle, settings.as_dict()))
    hyper = learning.hyperparameters(TABLE_S1[PRESET]["model"])
    return pool, trajs, snaps, descriptor, hyper, {"relabelled": pool.relabelled + relaxed,
                                                   "label_seconds": pool.label_seconds + seconds}


def ml_relaxation(model, descriptor, start, p: Protocol, track_sigma: bool):
    calculator = MBTRKRRCalculator(model, descriptor)
    return ml_relax(start, calculator, fmax=p.ml_fmax, max_steps=p.ml_max_steps, track_sigma=track_sigma,
                    constraint=SymmetryConstraint(start), cell="fixed")


def relaxed_energy_errors(model, descriptor, trajs, chosen: list[int], p: Protocol) -> dict:
    """ML relaxations of the chosen test starts against the oracle's relaxed energies."""
    errors, converged = [], []
    for i in chosen:
        t = trajs[i]
        trace = ml_relaxation(model, descriptor, t.start, p, track_sigma=False)
        errors.append(abs(trace.energies[-1] / len(t.start) - t.relaxed_energy) * EV_TO_MEV)
        converged.append(trace.converged)
    return {"mae": float(np.mean(errors)), "convergence": float(np.mean(converged)),
            "per_start": [float(e) for e in errors]}


def _pick(method: str, candidates: list[int], model, descriptor, trajs, p: Protocol, rng) -> tuple[int, float | None]:
    if method.startswith("random"):
        return int(rng.choice(candidates)), None
    best, best_sigma = -1, -np.inf
    for i in candidates:
        trace = ml_relaxation(model, descriptor, trajs[i].start, p, track_sigma=True)
        if max(trace.sigmas) > best_sigma:
            best, best_sigma = i, max(trace.sigmas)
    return best, float(best_sigma)


def _repetition(seed: int, p: Protocol, pool, trajs, snaps, descriptor, hyper) -> dict:
    train, test = trajectories.split_per_phase(trajs, seed)
    test_set = snaps.test_set(test)
    rng = np.random.default_rng([seed, 5])
    phases = list(dict.fromkeys(t.phase for t in trajs))
    relax_test = [i for phase in phases
                  for i in rng.permutation([j for j in test if trajs[j].phase == phase])[:p.relax_test_per_phase]]
    initial = learning.fit(pool.features, pool.energy, hyper)
    energy, force = learning.errors(initial, test_set)
    start = {"added": 0, "snapshots": 0, "energy_mae": energy, "force_mae": force,
             "relaxed": relaxed_energy_errors(initial, descriptor, trajs, relax_test, p)}
    out = {"seed": seed, "train": train, "test": test, "relax_test": [int(i) for i in relax_test], "methods": {}}
    for method in METHODS:
        pick_rng = np.random.default_rng([seed, 6])
        model, added, points = initial, [], [start]
        for iteration in range(p.iterations):
            picks = []
            for phase in phases:
                candidates = [i for i in train if trajs[i].phase == phase and i not in added]
                index, sigma = _pick(method, candidates, model, descriptor, trajs, p, pick_rng)
                picks.append({"trajectory": index, "phase": phase, "max_sigma": sigma})
            added += [q["trajectory"] for q in picks]
            rows = snaps.rows_of(added)
            model = learning.fit(np.vstack([pool.features, snaps.features[rows]]),
                                 np.concatenate([pool.energy, snaps.energy[rows]]), hyper)
            energy, force = learning.errors(model, test_set)
            points.append({"added": len(added), "snapshots": int(len(rows)), "energy_mae": energy,
                           "force_mae": force, "picks": picks,
                           "relaxed": relaxed_energy_errors(model, descriptor, trajs, relax_test, p)})
        out["methods"][method] = points
    return out


def run(quick: bool, oracle: str, seeds: int | None, out: Path, cache: Path) -> dict:
    from tqdm import tqdm

    t0 = time.perf_counter()
    p = QUICK if quick else FULL
    n_seeds = seeds or p.seeds
    pool, trajs, snaps, descriptor, hyper, labelled = load_inputs(p, oracle, cache)
    runs = [_repetition(seed, p, pool, trajs, snaps, descriptor, hyper)
            for seed in tqdm(range(n_seeds), desc="fig4 active learning", unit="repetition")]
    curves = {m: {"n_train": [q["added"] for q in runs[0]["methods"][m]],
                  "snapshots": [[q["snapshots"] for q in r["methods"][m]] for r in runs],
                  "energy": [[q["energy_mae"] for q in r["methods"][m]] for r in runs],
                  "force": [[q["force_mae"] for q in r["methods"][m]] for r in runs],
                  "relaxed": [[q["relaxed"]["mae"] for q in r["methods"][m]] for r in runs],
                  "convergence": [[q["relaxed"]["convergence"] for q in r["methods"][m]] for r in runs]}
              for m in METHODS}
    table, analysis = _table(curves, oracle)
    figure = plots.learning_curves(
        curves, out / "fig4.png",
        f"Fig. 4 (Homm, Laakso, Rinke 2025) reproduced: CsPb(Cl/Br)3, {len(pool.energy)} single points + "
        f"added oracle relaxation trajectories, {n_seeds} repetitions", oracle,
        panels=(("energy", "energy MAE (meV/atom)"), ("force", "force MAE (meV/Å)"),
                ("relaxed", "relaxed-energy MAE (meV/atom)")),
        xlabel="added relaxation trajectories", xscale="linear")
    steps = [len(t.structures) for t in trajs]
    return {
        "name": "fig4", "title": "Fig. 4 of Homm, Laakso, Rinke 2025: active selection of relaxation trajectories",
        "oracle": oracle, "oracle_is_dft": False, "quick": quick,
        "protocol": (f"Initial model on {len(pool.energy)} CsPb(Cl/Br)3 single points ({p.pool_per_composition} per "
                     f"composition and phase); {len(trajs)} oracle relaxation trajectories ({p.trajectories_per_phase} "
                     f"per phase, fixed Vegard cell, halides in the phase's symmetry, BFGS to {p.oracle_fmax} eV/Å "
                     f"within {p.oracle_max_steps} steps; {sum(steps)} snapshots, {min(steps)}-{max(steps)} per "
                     f"trajectory), split at random per phase into training and test halves in each of {n_seeds} "
                     f"repetitions; {p.iterations} iterations adding one trajectory per phase: the one whose ML "
                     f"relaxation (BFGS to {p.ml_fmax} eV/Å within {p.ml_max_steps} steps) reached the highest GP "
                     f"sigma, or a random one. Errors after each refit: energy MAE on every test snapshot, force MAE "
                     f"on {p.force_per_trajectory} evenly spaced snapshots per test trajectory, relaxed-energy MAE of "
                     f"ML relaxations of {p.relax_test_per_phase} test starts per phase against the oracle's. MBTR-KRR "
                     f"with the CsPb(Cl/Br)3 column of Table S1. The paper: 10,000 DFT single points, 200 DFT "
                     f"trajectories (100 for training), 12 iterations (48 trajectories), 5 repetitions."),
        "single_points": len(pool.energy), "trajectories": len(trajs), "snapshots": int(sum(steps)),
        "seeds": n_seeds, "paper": PAPER, "curves": curves, "runs": runs, "analysis": analysis, "table": table,
        "figures": [figure.name], **labelled, "wall_seconds": time.perf_counter() - t0,
    }


def _fmt_ci(result: dict) -> str:
    low, high = result["ci95"]
    return f"{100 * result['estimate']:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"


def _table(curves: dict, oracle: str) -> tuple[list[dict], dict]:
    active, random = (curves[m] for m in METHODS)
    n = np.asarray(active["n_train"][1:], dtype=float)  # the saving's log-log needs n > 0
    table, analysis = [], {"savings": {}, "final_relative": {}}
    for key, unit in (("energy", "meV/atom"), ("force", "meV/Å")):
        result = stats.bootstrap_saving(n, np.asarray(active[key])[:, 1:], np.asarray(random[key])[:, 1:])
        analysis["savings"][key] = result
        table.append(row(f"{key} data saving at random's final error ({int(n[-1])} trajectories added)",
                         f"{100 * PAPER[f'{key}_saving']:.0f} % (\"half as much data\")", _fmt_ci(result), "saving",
                         {"estimate": result["estimate"], "ci_low": result["ci95"][0], "ci_high": result["ci95"][1],
                          "paper": PAPER[f"{key}_saving"]}))
    for key, paper_text in (
            ("energy", f"{100 * (PAPER['energy_mae_active'] / PAPER['energy_mae_random'] - 1):.0f} % (0.18 vs 0.29 "
                       f"meV/atom)"),
            ("force", f"{100 * (PAPER['force_mae_active'] / PAPER['force_mae_random'] - 1):.0f} % (17.6 vs 19.6 "
                      f"meV/Å)"),
            ("relaxed", "lower, \"less consistent\" (text)")):
        final = stats.bootstrap_relative_difference(np.asarray(active[key])[:, -1], np.asarray(random[key])[:, -1])
        analysis["final_relative"][key] = final
        name = "relaxed-energy" if key == "relaxed" else key
        table.append(row(f"final {name} MAE, active relative to random", paper_text, _fmt_ci(final),
                         "lower_than_random",
                         {"estimate": final["estimate"], "ci_low": final["ci95"][0], "ci_high": final["ci95"][1]}))
    for key, unit in (("energy", "meV/atom"), ("force", "meV/Å")):
        ours = float(np.mean(np.asarray(active[key])[:, -1]))
        table.append(row(f"final {key} MAE, active selection ({unit})",
                         f"{PAPER[f'{key}_mae_active']:g} at {PAPER['trajectories_added']} trajectories",
                         f"{ours:.3g} at {int(n[-1])}", "absolute",
                         {"ours": ours, "paper": PAPER[f"{key}_mae_active"], "oracle": oracle, "oracle_is_dft": False,
                          "ours_n": int(n[-1]), "paper_n": PAPER["trajectories_added"]}))
    return table, analysis
