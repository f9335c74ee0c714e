"""Energy-and-force kernel regression (``model.kind: krr-forces``) against the energy-only MBTR-KRR.

Run: ``flock /tmp/perovflow-heavy.lock .venv/bin/python benchmarks/bench_krr_forces.py``
(options: ``--pool-compositions 325 --repetitions 3 --directions 4 --cost-sizes 1000 2000 4000``;
``--system cspb_clbr3`` for CsPb(Cl/Br)3 with its Table S1 column, 12 pool structures per
composition and phase, results in ``krr_forces_cspb_clbr3.json``; ``--cost-sizes`` with no
sizes skips part 2 and 3).

1. Learning curves on CHGNet labels (a stand-in oracle, not DFT) of CsSn(Cl/Br/I)3, Table S1
   hyperparameters of Homm et al. 2025 (alpha 1e-5, gamma 4.279e-2) for both models, force
   regulariser and directions as the campaign defaults: a pool of one structure per composition
   and phase, random training orders (one per repetition, the same for both models), a separate
   test set (energies of all, forces of a random subset). Labels and features are cached
   (:mod:`perovflow.reproduce.data`). From the mean curves: the labels the energy+force model
   needs to reach the energy-only model's final energy MAE and force MAE.
2. Cost: fit time and peak RSS of both models at ``--cost-sizes`` structures, each fit in its
   own subprocess. Above the pool size the training rows are pool rows repeated with a small
   random jitter of the features (timing and memory do not depend on the labels).
3. Prediction cost per ML relaxation step: energy and forces (and sigma) of a 40-atom cell
   through the ASE calculator, with models fitted at each cost size.

Prints tables and saves JSON to ``benchmarks/results/krr_forces.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")  # before numpy (see DESIGN)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import perovflow  # noqa: E402,F401  (start-up settings)

RESULTS = ROOT / "benchmarks" / "results" / "krr_forces.json"
CACHE = Path(os.environ.get("PEROVFLOW_FORCES_CACHE", ROOT / "benchmarks" / "results" / "cache"))
# Table S1 column -> B cation, halides, pool and test structures per composition and phase
# (CsPb(Cl/Br)3 has 25 compositions per phase, CsSn(Cl/Br/I)3 325)
SYSTEMS = {"cssn_clbri3": ("Sn", ("Cl", "Br", "I"), 1, 1, "CsSn(Cl/Br/I)3"),
           "cspb_clbr3": ("Pb", ("Cl", "Br"), 12, 2, "CsPb(Cl/Br)3")}
MAX_DIRECTIONS = 8


def _datasets(system: str, pool_compositions: int | None, test_compositions: int | None, force_test: int):
    from perovflow.reproduce import data as data_module
    from perovflow.reproduce import learning

    b, x, pool_per, test_per, _ = SYSTEMS[system]
    pool_spec = data_module.DataSpec("Cs", b, x, "pool", pool_per, 0, pool_compositions)
    test_spec = data_module.DataSpec("Cs", b, x, "test", test_per, 0, test_compositions)
    pool = data_module.load(pool_spec, system, "chgnet", CACHE)
    test_data = data_module.load(test_spec, system, "chgnet", CACHE)
    descriptor = data_module.MBTRDescriptor(data_module.descriptor_settings(system, pool_spec.species))
    test = learning.build_test_set(test_data, descriptor, force_test)
    return pool, test, descriptor, pool_spec


def _projections(pool, descriptor, pool_spec):
    from perovflow.reproduce import force_learning

    path = CACHE / f"projections_{pool_spec.key(descriptor.settings.as_dict(), 'chgnet', MAX_DIRECTIONS)}.npz"
    if path.is_file():
        data = np.load(path)
        return force_learning.Projections(data["vectors"], data["targets"])
    projected = force_learning.projections(pool, descriptor, MAX_DIRECTIONS, seed=0)
    np.savez(path, vectors=projected.vectors, targets=projected.targets)
    return projected


def learning_curves(args) -> dict:
    from perovflow.models.krr_forces import KRRForcesHyperparameters
    from perovflow.reproduce import force_learning
    from perovflow.settings import TABLE_S1, ModelSettings

    began = time.perf_counter()
    pool, test, descriptor, pool_spec = _datasets(args.system, args.pool_compositions, args.test_compositions,
                                                  args.force_test)
    projected = _projections(pool, descriptor, pool_spec)
    model = TABLE_S1[args.system]["model"]
    defaults = ModelSettings()
    hyper = KRRForcesHyperparameters(alpha=model["alpha"], gamma=model["gamma"],
                                     force_alpha=args.force_alpha or defaults.force_alpha,
                                     directions=args.directions or defaults.force_directions)
    n_pool = len(pool.energy)
    sizes = [n for n in args.sizes if n <= n_pool]
    if sizes[-1] != n_pool and args.full_pool:
        sizes.append(n_pool)
    curves = {"energy": [], "energy+force": []}
    for seed in range(args.repetitions):
        order = np.random.default_rng(1000 + seed).permutation(n_pool)
        curves["energy"].append(force_learning.curve(order, sizes, pool.features, pool.energy, test, hyper, None))
        force_sizes = [n for n in sizes if n <= args.max_force_train]
        curves["energy+force"].append(
            force_learning.curve(order, force_sizes, pool.features, pool.energy, test, hyper, projected))
        print(f"repetition {seed}: done after {time.perf_counter() - began:.0f} s", flush=True)
    summary = {}
    for name, runs in curves.items():
        steps = min(len(r) for r in runs)
        summary[name] = {key: [float(np.mean([r[k][key] for r in runs])) for k in range(steps)]
                         for key in ("n_train", "observations", "energy_mae", "force_mae", "fit_seconds")}
        summary[name]["energy_mae_std"] = [float(np.std([r[k]["energy_mae"] for r in runs])) for k in range(steps)]
        summary[name]["force_mae_std"] = [float(np.std([r[k]["force_mae"] for r in runs])) for k in range(steps)]
    base = summary["energy"]
    n_final = int(base["n_train"][-1])
    target_energy, target_force = base["energy_mae"][-1], base["force_mae"][-1]
    both = summary["energy+force"]
    n_energy = force_learning.labels_to_reach(both["n_train"], both["energy_mae"], target_energy)
    n_force = force_learning.labels_to_reach(both["n_train"], both["force_mae"], target_force)
    saving = {
        "energy_only_labels": n_final, "energy_only_energy_mae": target_energy, "energy_only_force_mae": target_force,
        "force_model_labels_for_energy_mae": n_energy, "force_model_labels_for_force_mae": n_force,
        "energy_ratio": None if n_energy is None else n_energy / n_final,
        "force_ratio": None if n_force is None else n_force / n_final,
        "goal": "energy ratio <= 0.5, force ratio <= 0.25",
    }
    return {"pool": n_pool, "test": len(test.energy), "force_test": len(test.forces), "repetitions": args.repetitions,
            "hyperparameters": {"alpha": hyper.alpha, "gamma": hyper.gamma, "force_alpha": hyper.force_alpha,
                                "directions": hyper.directions},
            "label_seconds_per_structure": pool.label_seconds / max(1, n_pool),
            "runs": curves, "mean": summary, "saving": saving, "seconds": time.perf_counter() - began}


def _cost_data(n: int, directions: int, pool, projected, seed: int = 0):
    """n training rows (pool rows, repeated with a 1e-3 relative jitter beyond the pool)."""
    rng = np.random.default_rng(seed)
    rows = np.resize(rng.permutation(len(pool.energy)), n)
    x = pool.features[rows].copy()
    repeated = np.arange(n) >= len(pool.energy)
    x[repeated] *= 1.0 + 1e-3 * rng.standard_normal((int(repeated.sum()), x.shape[1]))
    y = pool.energy[rows]
    return x, y, projected.observations(rows, directions)


def cost_one(kind: str, n: int, directions: int, args) -> dict:
    """One fit in this process: seconds and peak RSS; then the per-step prediction cost."""
    from perovflow.models.calculator import MBTRKRRCalculator
    from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
    from perovflow.models.krr_forces import KernelRidgeEnergyForces, KRRForcesHyperparameters
    from perovflow.settings import TABLE_S1
    from perovflow.structures import generate_test_set

    pool, _, descriptor, pool_spec = _datasets(args.system, args.pool_compositions, args.test_compositions, 0)
    projected = _projections(pool, descriptor, pool_spec)
    x, y, obs = _cost_data(n, directions, pool, projected)
    del projected
    model_settings = TABLE_S1[args.system]["model"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    if kind == "energy":
        model = KernelRidgeEnergy(KRRHyperparameters(model_settings["alpha"], model_settings["gamma"])).fit(x, y)
        observations = n
    else:
        hyper = KRRForcesHyperparameters(model_settings["alpha"], model_settings["gamma"],
                                         args.force_alpha or KRRForcesHyperparameters.force_alpha, directions)
        model = KernelRidgeEnergyForces(hyper).fit(x, y, obs)
        observations = n + len(obs.targets)
    fit_seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    atoms = generate_test_set(pool_spec.system, per_composition=1, seed=9)[0]
    calculator = MBTRKRRCalculator(model, descriptor)
    rng = np.random.default_rng(0)
    steps, with_sigma = [], []
    for k in range(args.steps + 1):
        probe = atoms.copy()
        probe.positions += 0.01 * rng.standard_normal(probe.positions.shape)
        probe.calc = calculator
        t0 = time.perf_counter()
        probe.get_forces()
        t1 = time.perf_counter()
        calculator.get_property("sigma", probe)
        t2 = time.perf_counter()
        if k:  # the first call warms caches
            steps.append(t1 - t0)
            with_sigma.append(t2 - t0)
    return {"kind": kind, "n_train": n, "observations": observations, "fit_seconds": fit_seconds,
            "peak_rss_mb": peak, "rss_before_fit_mb": rss_before,
            "step_ms": 1000 * float(np.median(steps)), "step_with_sigma_ms": 1000 * float(np.median(with_sigma))}


def costs(args, save=None) -> list[dict]:
    """Every fit in its own subprocess; ``save(rows)`` after each, so a cut-off run keeps the done ones."""
    rows = []
    for n in args.cost_sizes:
        for kind in ("energy", "energy+force"):
            command = [sys.executable, __file__, "--cost-one", kind, str(n), *_passthrough(args)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                rows.append({"kind": kind, "n_train": n, "error": done.stderr[-2000:]})
                print(f"{kind} n={n}: FAILED\n{done.stderr[-2000:]}", flush=True)
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(result)
            if save is not None:
                save(rows)
            print(f"{kind:>13} n={n:>5} obs={result['observations']:>6} fit {result['fit_seconds']:7.1f} s "
                  f"peak {result['peak_rss_mb']:7.0f} MB step {result['step_ms']:6.1f} ms "
                  f"(+sigma {result['step_with_sigma_ms']:6.1f} ms)", flush=True)
    return rows


def _passthrough(args) -> list[str]:
    out = ["--system", args.system, "--directions", str(args.directions or 4), "--steps", str(args.steps)]
    if args.test_compositions is not None:
        out += ["--test-compositions", str(args.test_compositions)]
    if args.pool_compositions is not None:
        out += ["--pool-compositions", str(args.pool_compositions)]
    if args.force_alpha:
        out += ["--force-alpha", str(args.force_alpha)]
    return out


def _print_curves(result: dict) -> None:
    for name, mean in result["mean"].items():
        print(f"\n{name} (mean of {result['repetitions']}): n, observations, energy MAE meV/atom, force MAE meV/Å, "
              "fit s")
        for k in range(len(mean["n_train"])):
            print(f"  {mean['n_train'][k]:6.0f} {mean['observations'][k]:7.0f} {mean['energy_mae'][k]:7.2f} "
                  f"± {mean['energy_mae_std'][k]:5.2f} {mean['force_mae'][k]:7.1f} ± {mean['force_mae_std'][k]:5.1f} "
                  f"{mean['fit_seconds'][k]:6.2f}")
    print("\nsaving:", json.dumps(result["saving"], indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="cssn_clbri3",
                        help="Table S1 column and its alloy (default: %(default)s)")
    parser.add_argument("--pool-compositions", type=int, default=None, help="compositions in the pool (default all)")
    parser.add_argument("--test-compositions", type=int, default=None,
                        help="compositions in the test set (default: 50 for CsSn(Cl/Br/I)3, all for CsPb(Cl/Br)3)")
    parser.add_argument("--force-test", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 400, 800])
    parser.add_argument("--full-pool", action="store_true", help="also train on the whole pool")
    parser.add_argument("--max-force-train", type=int, default=800)
    parser.add_argument("--directions", type=int, default=None, help="projections per structure (default: 4)")
    parser.add_argument("--force-alpha", type=float, default=None, help="force regulariser, a fraction of the prior variance (default 5e-3)")
    parser.add_argument("--cost-sizes", type=int, nargs="*", default=[1000, 2000, 4000])
    parser.add_argument("--steps", type=int, default=20, help="relaxation steps timed per model")
    parser.add_argument("--skip-curves", action="store_true")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON to write (default: {RESULTS}, with _SYSTEM before .json for CsPb(Cl/Br)3)")
    parser.add_argument("--cost-one", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.test_compositions is None and args.system == "cssn_clbri3":
        args.test_compositions = 50
    if args.out is None:
        args.out = RESULTS if args.system == "cssn_clbri3" else RESULTS.with_name(f"krr_forces_{args.system}.json")
    if args.cost_one:
        kind, n = args.cost_one
        print(json.dumps(cost_one(kind, int(n), args.directions or 4, args)))
        return 0
    began = time.perf_counter()
    result: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                    "oracle": "chgnet (stand-in, not DFT)", "system": SYSTEMS[args.system][4], "preset": args.system}
    if args.out.is_file():  # keep the part not rerun
        previous = json.loads(args.out.read_text())
        result.update({k: previous[k] for k in ("curves", "costs") if k in previous})

    def save(**parts) -> None:
        result.update(parts, seconds=time.perf_counter() - began)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.out.with_suffix(".tmp")
        temporary.write_text(json.dumps(result, indent=1))
        temporary.replace(args.out)

    if not args.skip_curves:
        save(curves=learning_curves(args))
        _print_curves(result["curves"])
    if args.cost_sizes:
        save(costs=costs(args, lambda rows: save(costs=rows)))
    print(f"saved {args.out} after {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
