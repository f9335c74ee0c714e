"""MBTR-KRR/GPR at scale against scikit-learn: fit time and peak memory, sigma, ML BFGS speed.

Run: ``flock /tmp/perovflow-heavy.lock .venv/bin/python benchmarks/bench_krr.py``
(options: ``--sizes 4000 8000 16000 20000``, ``--bfgs-n 16000``, ``--skip-sklearn``).

Data: real MBTR features (Table S1 settings) of generated CsSn(Cl/Br/I)3 structures (the
the paper's four phases, all 325 compositions), cached under ``benchmarks/results/cache/``.
Energies are SYNTHETIC but smooth functions of the geometry (a fixed random projection
of the features through tanh plus a quadratic term), not DFT or CHGNet labels: timing
and memory do not depend on the labels, and smooth labels keep the comparison of
predictions meaningful.

Every fit runs in its own subprocess, so the peak RSS reported is that run's alone
(it includes the interpreter, numpy/scipy/sklearn and the loaded feature matrix; the
``rss_before_fit_mb`` column is the same process just before fitting). scikit-learn runs
are skipped, with the reason recorded, where the previous size extrapolated (time ~ n^3,
memory ~ n^2) exceeds 10 minutes or 12 GB, or the memory the machine has free.
Prints a table and saves JSON to ``benchmarks/results/krr.json``.
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

RESULTS = ROOT / "benchmarks" / "results" / "krr.json"
CACHE = ROOT / "benchmarks" / "results" / "cache"
SPECIES = ("Cs", "Sn", "Cl", "Br", "I")
TIME_LIMIT_S = 600.0
MEMORY_LIMIT_MB = 12_000.0
N_QUERIES = 100


# data ----------------------------------------------------------------------------------
def _settings():
    from perovflow.descriptors.mbtr import MBTRSettings

    return MBTRSettings(species=SPECIES)


def cache_path(n_total: int, seed: int) -> Path:
    return CACHE / f"krr_mbtr_{_settings().hash}_CsSnClBrI_n{n_total}_seed{seed}.npz"


def _featurize_chunk(args: tuple[int, int, int, int]) -> np.ndarray:
    per_composition, seed, start, stop = args
    from perovflow.descriptors.mbtr import MBTRDescriptor
    from perovflow.structures import PHASES, PerovskiteSystem, generate_pool

    system = PerovskiteSystem(a="Cs", b="Sn", x=("Cl", "Br", "I"))
    pool = generate_pool(system, PHASES, per_composition=per_composition, seed=seed)
    return MBTRDescriptor(_settings()).create(pool[start:stop])


def synthetic_energies(x: np.ndarray, seed: int) -> np.ndarray:
    """A smooth synthetic energy per atom (eV/atom) of the features."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(2, x.shape[1]))
    a, b = x @ p, x @ q
    return -3.0 + 0.05 * np.tanh(a / np.abs(a).max()) + 0.02 * (b / np.abs(b).max()) ** 2


def load_data(n_total: int, seed: int) -> dict[str, np.ndarray]:
    """Features of ``n_total`` pool structures (shuffled) and N_QUERIES test structures."""
    path = cache_path(n_total, seed)
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    from multiprocessing import Pool

    from perovflow.descriptors.mbtr import MBTRDescriptor
    from perovflow.structures import PHASES, PerovskiteSystem, enumerate_compositions, generate_test_set

    system = PerovskiteSystem(a="Cs", b="Sn", x=("Cl", "Br", "I"))
    cells = len(enumerate_compositions(system)) * len(PHASES)
    per_composition = -(-n_total // cells)
    size = cells * per_composition
    chunks = [(per_composition, seed, start, min(size, start + 2600)) for start in range(0, size, 2600)]
    start = time.perf_counter()
    with Pool(2) as pool:
        x = np.vstack(pool.map(_featurize_chunk, chunks))
    featurize_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    x = x[rng.permutation(size)[:n_total]]
    queries = generate_test_set(system, PHASES, per_composition=1, seed=seed)
    chosen = rng.choice(len(queries), size=N_QUERIES, replace=False)
    q = MBTRDescriptor(_settings()).create([queries[i] for i in chosen])
    data = {"x": x, "y": synthetic_energies(x, seed), "queries": q, "y_queries": synthetic_energies(q, seed),
            "featurize_seconds": np.array(featurize_s)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), **data)
    os.replace(path.with_suffix(".tmp.npz"), path)
    return data


# one measured run per subprocess ---------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_job(job: str, n: int, n_total: int, seed: int) -> dict:
    from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters

    data = load_data(n_total, seed)
    x, y, queries = np.ascontiguousarray(data["x"][:n]), data["y"][:n], data["queries"]
    del data
    hyper = KRRHyperparameters()
    record: dict = {"job": job, "n": n, "rss_before_fit_mb": _current_rss_mb()}
    if job == "ours":
        start = time.perf_counter()
        model = KernelRidgeEnergy(hyper).fit(x, y)  # KRR weights + GP factor + amplitude
        record["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        sigma = model.sigma(queries)
        record["sigma_100_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        record["predictions"] = model.predict(queries).tolist()
        record["predict_100_seconds"] = time.perf_counter() - start
        record["sigmas"] = sigma.tolist()
        record["amplitude"] = model.amplitude
    elif job == "sklearn-krr":
        from sklearn.kernel_ridge import KernelRidge

        start = time.perf_counter()
        offset = y.mean()
        model = KernelRidge(kernel="rbf", gamma=hyper.gamma, alpha=hyper.alpha).fit(x, y - offset)
        record["fit_seconds"] = time.perf_counter() - start
        record["predictions"] = (model.predict(queries) + offset).tolist()
    elif job == "sklearn-gpr":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel

        amplitude = float(os.environ["BENCH_AMPLITUDE"])  # ours, so both sigmas are the same GP
        kernel = ConstantKernel(amplitude**2, "fixed") * RBF(1.0 / np.sqrt(2.0 * hyper.gamma), "fixed")
        model = GaussianProcessRegressor(kernel, alpha=hyper.alpha * amplitude**2, optimizer=None)
        start = time.perf_counter()
        model.fit(x, y - y.mean())
        record["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        _, std = model.predict(queries, return_std=True)
        record["sigma_100_seconds"] = time.perf_counter() - start
        record["sigmas"] = std.tolist()
    elif job == "bfgs":
        record.update(_bfgs(KernelRidgeEnergy(hyper).fit(x, y), seed))
    else:
        raise ValueError(job)
    record["peak_rss_mb"] = _peak_rss_mb()
    return record


def _bfgs(model, seed: int, steps: int = 60) -> dict:
    """Steps per second of ML BFGS on a 40-atom Pnma cell (a fixed number of steps)."""
    from perovflow.descriptors.mbtr import MBTRDescriptor
    from perovflow.models.calculator import MBTRKRRCalculator
    from perovflow.models.relaxation import ml_relax
    from perovflow.structures import PerovskiteSystem, SymmetryConstraint, generate_relaxation_starts

    system = PerovskiteSystem(a="Cs", b="Sn", x=("Cl", "Br", "I"))
    descriptor = MBTRDescriptor(_settings())
    start_atoms = generate_relaxation_starts(system, phases=("Pnma",), per_phase=1, seed=seed)[0]
    start_atoms.rattle(0.03, seed=seed)
    out: dict = {"atoms": len(start_atoms), "bfgs_steps_requested": steps}
    calculator = MBTRKRRCalculator(model, descriptor)
    model.sigma(np.zeros((1, model.n_features)))  # the factor exists after fit; warm caches
    ml_relax(start_atoms, calculator, fmax=1e-9, max_steps=3, track_sigma=False)  # warm-up

    def timed(**kwargs) -> tuple[float, int]:
        calc = MBTRKRRCalculator(model, descriptor)
        begin = time.perf_counter()
        trace = ml_relax(start_atoms, calc, fmax=1e-9, max_steps=steps,
                         constraint=SymmetryConstraint(start_atoms), **kwargs)
        return time.perf_counter() - begin, len(trace.energies)

    seconds, evaluations = timed(track_sigma=False)
    out["without_sigma"] = {"seconds": seconds, "evaluations": evaluations,
                            "steps_per_second": evaluations / seconds}
    seconds, evaluations = timed(track_sigma=True)
    out["with_sigma_trace"] = {"seconds": seconds, "evaluations": evaluations,
                               "steps_per_second": evaluations / seconds}

    # the same sigma computed immediately at every step (one solve per step), for reference
    calc = MBTRKRRCalculator(model, descriptor)
    work = start_atoms.copy()
    work.set_constraint(SymmetryConstraint(start_atoms))
    work.calc = calc
    from ase.optimize import BFGS
    from threadpoolctl import threadpool_limits

    optimizer = BFGS(work, logfile=None)

    def sigma_now():
        with threadpool_limits(limits=2, user_api="blas"):  # the solve is large: all threads
            calc.get_property("sigma", work)

    optimizer.attach(sigma_now, interval=1)
    begin = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):  # as ml_relax does for the steps
        optimizer.run(fmax=1e-9, steps=steps)
    seconds = time.perf_counter() - begin
    out["with_sigma_per_step_solve"] = {"seconds": seconds, "evaluations": optimizer.nsteps + 1,
                                        "steps_per_second": (optimizer.nsteps + 1) / seconds}

    # where a step's time goes
    atoms = start_atoms.copy()
    parts = {"descriptor_with_derivatives": [], "krr_energy_and_forces": [], "sigma_one_query_1thread": []}
    limit = threadpool_limits(limits=1, user_api="blas")  # as inside ml_relax
    for _ in range(20):
        t0 = time.perf_counter()
        features, derivatives = descriptor.create_with_derivatives(atoms)
        t1 = time.perf_counter()
        model.energy_and_forces(features, derivatives)
        t2 = time.perf_counter()
        model.sigma(features[None, :])
        t3 = time.perf_counter()
        parts["descriptor_with_derivatives"].append(t1 - t0)
        parts["krr_energy_and_forces"].append(t2 - t1)
        parts["sigma_one_query_1thread"].append(t3 - t2)
    limit.restore_original_limits()
    out["per_call_ms_median"] = {key: 1e3 * float(np.median(v)) for key, v in parts.items()}
    stacked = np.repeat(features[None, :], steps + 1, axis=0) + 1e-4 * np.random.default_rng(0).normal(
        size=(steps + 1, features.size)) * np.abs(features).max()
    t0 = time.perf_counter()
    model.sigma(stacked)
    out["per_call_ms_median"]["sigma_batched_per_query"] = 1e3 * (time.perf_counter() - t0) / (steps + 1)
    return out


# orchestration ---------------------------------------------------------------------------
def _mem_available_mb() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return float("inf")


def _child(job: str, n: int, args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> dict:
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", **(extra_env or {}))
    command = [sys.executable, str(Path(__file__).resolve()), "--job", job, "--n", str(n),
               "--n-total", str(args.n_total), "--seed", str(args.seed)]
    begin = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.child_timeout)
    except subprocess.TimeoutExpired:
        return {"job": job, "n": n, "skipped": f"killed after {args.child_timeout} s"}
    if done.returncode != 0:
        return {"job": job, "n": n, "failed": done.stderr[-2000:]}
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["wall_seconds"] = time.perf_counter() - begin
    return record


def _skip_reason(previous: dict | None, n: int) -> str | None:
    if previous is None or "fit_seconds" not in previous:
        return None
    scale = n / previous["n"]
    seconds = previous["fit_seconds"] * scale**3
    memory = previous["peak_rss_mb"] * scale**2
    if seconds > TIME_LIMIT_S:
        return f"extrapolated fit {seconds:.0f} s from n={previous['n']} exceeds {TIME_LIMIT_S:.0f} s"
    if memory > MEMORY_LIMIT_MB:
        return f"extrapolated peak {memory:.0f} MB from n={previous['n']} exceeds {MEMORY_LIMIT_MB:.0f} MB"
    if memory > _mem_available_mb() - 1000:
        return f"extrapolated peak {memory:.0f} MB exceeds the memory free now ({_mem_available_mb():.0f} MB)"
    return None


def _table(runs: list[dict]) -> str:
    lines = [f"{'job':<12} {'n':>6} {'fit s':>8} {'peak MB':>8} {'sigma100 s':>10}  note"]
    for r in runs:
        note = r.get("skipped") or ("FAILED" if "failed" in r else "")
        fit = f"{r['fit_seconds']:.1f}" if "fit_seconds" in r else "-"
        peak = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
        sig = f"{r['sigma_100_seconds']:.3f}" if "sigma_100_seconds" in r else "-"
        lines.append(f"{r['job']:<12} {r['n']:>6} {fit:>8} {peak:>8} {sig:>10}  {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 16000, 20000])
    parser.add_argument("--bfgs-n", type=int, default=16000)
    parser.add_argument("--n-total", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--child-timeout", type=int, default=900)
    parser.add_argument("--job")
    parser.add_argument("--n", type=int)
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(run_job(args.job, args.n, args.n_total, args.seed)))
        return 0

    begin = time.perf_counter()
    data = load_data(args.n_total, args.seed)
    featurize_s = float(data["featurize_seconds"])
    del data
    runs: list[dict] = []
    previous: dict[str, dict | None] = {"sklearn-krr": None, "sklearn-gpr": None}
    for n in args.sizes:
        ours = _child("ours", n, args)
        runs.append(ours)
        print(_table([ours]).splitlines()[1], flush=True)
        if args.skip_sklearn:
            continue
        for job in ("sklearn-krr", "sklearn-gpr"):
            reason = _skip_reason(previous[job], n)
            if reason is None and job == "sklearn-gpr" and "amplitude" not in ours:
                reason = "our fit failed, no amplitude to share"
            if reason:
                record = {"job": job, "n": n, "skipped": reason}
            else:
                record = _child(job, n, args, {"BENCH_AMPLITUDE": repr(ours.get("amplitude", 1.0))})
                previous[job] = record
            if "predictions" in record and "predictions" in ours:
                record["max_abs_prediction_difference_ev_per_atom"] = float(
                    np.abs(np.subtract(record["predictions"], ours["predictions"])).max())
            if "sigmas" in record and "sigmas" in ours:
                record["max_relative_sigma_difference"] = float(
                    np.max(np.abs(np.subtract(record["sigmas"], ours["sigmas"])) / np.asarray(ours["sigmas"])))
            runs.append(record)
            print(_table([record]).splitlines()[1], flush=True)
    bfgs = _child("bfgs", args.bfgs_n, args) if args.bfgs_n else None

    for record in runs:  # keep the JSON small: the per-query arrays served the comparisons
        record.pop("predictions", None)
        record.pop("sigmas", None)
    ours20 = next((r for r in runs if r["job"] == "ours" and r["n"] == 20000 and "fit_seconds" in r), None)
    targets = {}
    if ours20:
        targets["n20000_fit_under_50s"] = ours20["fit_seconds"] < 50
        targets["n20000_peak_under_4GB"] = ours20["peak_rss_mb"] < 4096
    if bfgs and "without_sigma" in bfgs:
        fast, traced = bfgs["without_sigma"]["steps_per_second"], bfgs["with_sigma_trace"]["steps_per_second"]
        targets[f"n{args.bfgs_n}_bfgs_at_least_40_steps_per_s"] = fast >= 40
        targets[f"n{args.bfgs_n}_sigma_trace_under_50pct_extra"] = fast / traced - 1 < 0.5
        bfgs["sigma_trace_extra_fraction"] = fast / traced - 1
        bfgs["sigma_per_step_solve_extra_fraction"] = fast / bfgs["with_sigma_per_step_solve"]["steps_per_second"] - 1
    record = {
        "benchmark": "MBTR-KRR/GPR fit, sigma and ML BFGS vs scikit-learn",
        "labels": "synthetic smooth energies of real MBTR features (see module docstring)",
        "features": {"system": "CsSn(Cl/Br/I)3", "descriptor_hash": _settings().hash,
                     "n_features": 750, "featurize_seconds_when_cached": featurize_s},
        "hyperparameters": {"alpha": 1e-5, "gamma": 4.279e-2},
        "runs": runs, "bfgs": bfgs, "targets": targets,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")},
        "total_seconds": time.perf_counter() - begin,
    }
    print(_table(runs))
    if bfgs:
        print(json.dumps(bfgs, indent=1))
    print(json.dumps(targets, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
