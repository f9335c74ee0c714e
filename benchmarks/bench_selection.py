"""Constrained k-means on real MBTR features: perovflow's against ``k-means-constrained``.

Run: ``python benchmarks/bench_selection.py [--skip-package] [--skip-full]``.

Features are the MBTR vectors (seed settings) of the paper's 130,000-structure
CsSn(Cl/Br/I)3 pool, featurized once by ``bench_featurize.py`` (2 workers) and cached in
``benchmarks/results/cache/``. Cases, all with minimum cluster size 20:

* 10,000 x 200 and 20,000 x 500 (random subsets of the pool): perovflow's ``constrained``
  and the ``k-means-constrained`` package, compared on the k-means objective and time, each
  making one start (``n_init=1``; the package's default of 10 starts costs 10x). The
  package runs twice: from its own k-means++ start (as a user runs it), and from the very
  centres perovflow's warm start computes (solver against solver; that run is not charged
  for computing them, perovflow's is);
* 130,000 x 2,000 (the whole pool, the paper's setting): perovflow's alone; targets 5 min, 3 GB.

Every case runs in a fresh process (one BLAS/OpenMP thread) so that its peak RSS is its
own; the 130k case also samples RSS from /proc. Prints a table and writes
``benchmarks/results/selection.json``.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_featurize import MemorySampler, cache_path, load_features  # noqa: E402

RESULTS = HERE / "results" / "selection.json"
MIN_SIZE = 20
COMPARED = [(10_000, 200), (20_000, 500)]
FULL = (130_000, 2_000)


def _rows(n_total: int, n: int, seed: int) -> np.ndarray:
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def run_case(method: str, n: int, k: int, min_size: int, seed: int, per_composition: int,
             start: str = "own") -> dict:
    """One clustering in this (fresh) process; features from the cache. ``start="ours"``
    gives k-means-constrained perovflow's warm-start centres."""
    from perovflow.selection import cluster

    features = np.load(cache_path(per_composition, seed), mmap_mode="r")
    rows = _rows(features.shape[0], n, seed)
    data = np.ascontiguousarray(features if rows.size == features.shape[0] else features[rows],
                                dtype=np.float64)
    options: dict = {}
    if method == "k-means-constrained":
        options = {"n_init": 1}
        if start == "ours":
            # the same centres perovflow's run starts from (computed here, not timed)
            from perovflow.selection import warm_start

            options["init"] = warm_start(data, k, seed)
    t0 = time.perf_counter()
    with MemorySampler(interval=0.5) as sampler:
        result = cluster(data, k, method=method, min_size=min_size, seed=seed, **options)
    seconds = time.perf_counter() - t0
    load = os.getloadavg()[0]
    sizes = result.sizes
    info = {key: value for key, value in result.info.items() if key != "assignment_cost_trace"}
    return {
        "method": method, "start": start if method == "k-means-constrained" else "ours", "n": int(data.shape[0]), "clusters": k, "min_size": min_size,
        "n_features": int(data.shape[1]), "seconds": round(seconds, 2),
        "objective": result.objective, "iterations": result.n_iter, "converged": result.converged,
        "smallest_cluster": int(sizes.min()), "largest_cluster": int(sizes.max()),
        "bounds_met": bool(sizes.min() >= min_size and sizes.size == k),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_sampled_mb": sampler.peak_mb, "load_average_1min_at_end": round(load, 2), "info": info,
    }


def _in_fresh_process(*args) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(run_case, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-composition", type=int, default=100)
    parser.add_argument("--skip-package", action="store_true", help="leave out k-means-constrained")
    parser.add_argument("--skip-full", action="store_true", help="leave out 130,000 x 2,000")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    features, reused = load_features(args.per_composition, args.seed, workers=2)
    n_total, n_features = features.shape
    feature_seconds = time.perf_counter() - t0
    del features

    runs = []
    for n, k in COMPARED:
        cases = [("constrained", "ours")]
        if not args.skip_package:
            cases += [("k-means-constrained", "ours"), ("k-means-constrained", "own")]
        for method, start in cases:
            print(f"{method} ({start} start) {n} x {k} ...", file=sys.stderr, flush=True)
            runs.append(_in_fresh_process(method, n, k, MIN_SIZE, args.seed, args.per_composition, start))
    if not args.skip_full:
        print(f"constrained {n_total} x {FULL[1]} ...", file=sys.stderr, flush=True)
        runs.append(_in_fresh_process("constrained", n_total, FULL[1], MIN_SIZE, args.seed,
                                      args.per_composition))

    comparisons = []
    for n, k in COMPARED:
        ours = next((r for r in runs if (r["n"], r["clusters"], r["method"]) == (n, k, "constrained")), None)
        for start in ("ours", "own"):
            ref = next((r for r in runs if (r["n"], r["clusters"], r["method"], r["start"])
                        == (n, k, "k-means-constrained", start)), None)
            if ours and ref:
                comparisons.append({
                    "n": n, "clusters": k, "package_start": start,
                    "objective_relative_difference": (ours["objective"] - ref["objective"]) / ref["objective"],
                    "within_0.1_percent_or_better": ours["objective"] <= ref["objective"] * 1.001,
                    "speedup": round(ref["seconds"] / ours["seconds"], 1),
                })
    full = next((r for r in runs if r["n"] == n_total), None)
    targets = {
        "objective_within_0.1_percent": all(c["within_0.1_percent_or_better"] for c in comparisons) if comparisons else None,
        "speedup_at_20000x500_at_least_10": all(c["speedup"] >= 10 for c in comparisons if c["n"] == 20_000) if comparisons else None,
        "full_under_300_s": None if full is None else full["seconds"] < 300,
        "full_under_3_gb": None if full is None else max(full["peak_rss_mb"], full["peak_rss_sampled_mb"]) < 3072,
    }

    print(f"{'method (start)':<28}{'n':>8}{'K':>6}{'seconds':>10}{'iter':>6}{'objective':>16}{'sizes':>10}{'peak MB':>9}")
    for r in runs:
        print(f"{r['method'] + ' (' + r['start'] + ')':<28}{r['n']:>8}{r['clusters']:>6}{r['seconds']:>10.1f}{r['iterations']:>6}"
              f"{r['objective']:>16.6f}{r['smallest_cluster']:>5}-{r['largest_cluster']:<4}{r['peak_rss_mb']:>9.0f}")
    for c in comparisons:
        print(f"{c['n']} x {c['clusters']}: objective ours vs package ({c['package_start']} start) "
              f"{100 * c['objective_relative_difference']:+.4f} %, "
              f"speed-up {c['speedup']}x")
    print("targets:", json.dumps(targets))

    record = {
        "benchmark": "constrained k-means on MBTR features of the CsSn(Cl/Br/I)3 pool",
        "features": {"pool": n_total, "n_features": n_features, "cache": str(cache_path(args.per_composition, args.seed).relative_to(HERE.parent)),
                     "reused_cache": bool(reused), "load_or_featurize_seconds": round(feature_seconds, 2)},
        "min_size": MIN_SIZE, "seed": args.seed, "runs": runs, "comparisons": comparisons, "targets": targets,
        "threads": os.environ.get("OMP_NUM_THREADS"), "python": platform.python_version(),
        "numpy": np.__version__, "cpu_count": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
