"""Which selection gives the better model for the same labels? (the paper's Fig. S1 question)

Run: ``flock /tmp/perovflow-heavy.lock .venv/bin/python benchmarks/bench_selection_quality.py``
(options: ``--per-composition 20``, ``--clusters 100``, ``--batches 8``, ``--seeds 0 1 2``).

A CsPb(Cl/Br)3 pool (four tilt phases, all 25 compositions, the paper's perturbations) and a
separate test set are labelled with CHGNet (a stand-in oracle, not DFT; labels cached in
``benchmarks/results/cache/``). For every selection method and seed, the pool's MBTR rows
are clustered into ``--clusters`` clusters, batches of one random structure per cluster are
labelled one after another, and an MBTR-KRR model with the paper's hyperparameters is fitted
after each batch and tested on the test set. ``random`` splits the pool at random (so its
batches are random draws of the same size); ``constrained`` uses minimum cluster size
``--min-size``; BIRCH lowers its threshold until it finds the requested clusters (see
``perovflow.selection.methods``); HDBSCAN chooses its own number of clusters (minimum size ``--min-size``),
so its batches have other sizes. Prints a table, writes
``benchmarks/results/selection_quality.json`` and a learning-curve plot next to it.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import perovflow  # noqa: E402,F401  (start-up settings: one torch thread)

RESULTS = ROOT / "benchmarks" / "results" / "selection_quality.json"
FIGURE = ROOT / "benchmarks" / "results" / "selection_quality.png"
CACHE = ROOT / "benchmarks" / "results" / "cache"
METHODS = ("random", "kmeans", "constrained", "birch", "hdbscan")


def _data(per_composition: int, test_per_composition: int, seed: int):
    """Features and CHGNet energies per atom of the pool and the test set (cached)."""
    from tqdm import tqdm

    from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
    from perovflow.engines.chgnet import CHGNetEngine
    from perovflow.structures import PerovskiteSystem, generate_pool, generate_test_set

    system = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))
    settings = MBTRSettings(species=("Cs", "Pb", "Cl", "Br"))
    key = hashlib.sha256(f"{settings.hash}-{per_composition}-{test_per_composition}-{seed}".encode()).hexdigest()[:12]
    path = CACHE / f"selection_quality_{key}.npz"
    if path.is_file():
        data = np.load(path)
        return data["pool_x"], data["pool_y"], data["test_x"], data["test_y"], True
    pool = generate_pool(system, per_composition=per_composition, seed=seed)
    test = generate_test_set(system, per_composition=test_per_composition, seed=seed + 1)
    descriptor = MBTRDescriptor(settings)
    engine = CHGNetEngine()
    arrays = {}
    for name, structures in (("pool", pool), ("test", test)):
        arrays[f"{name}_x"] = descriptor.create(structures)
        arrays[f"{name}_y"] = np.array([engine.single_point(atoms).energy / len(atoms)
                                        for atoms in tqdm(structures, desc=f"CHGNet labels ({name})")])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays["pool_x"], arrays["pool_y"], arrays["test_x"], arrays["test_y"], False


def learning_curve(pool_x, pool_y, test_x, test_y, method: str, clusters: int, min_size: int,
                   batches: int, seed: int) -> dict:
    """Test MAE (meV/atom) after each batch of one structure per cluster."""
    from perovflow.models.krr import KernelRidgeEnergy
    from perovflow.selection import batches_one_per_cluster, cluster

    bounded = method in ("constrained", "hdbscan")
    t0 = time.perf_counter()
    result = cluster(pool_x, clusters, method=method, min_size=min_size if bounded else None, seed=seed)
    seconds = time.perf_counter() - t0
    chosen: list[int] = []
    points = []
    for batch in batches_one_per_cluster(result.labels, batches, seed=seed):
        chosen.extend(batch)
        model = KernelRidgeEnergy().fit(pool_x[chosen], pool_y[chosen])
        error = np.abs(model.predict(test_x) - test_y) * 1000.0
        points.append({"n_train": len(chosen), "mae_mev": float(error.mean()),
                       "rmse_mev": float(np.sqrt((error ** 2).mean()))})
    return {"method": method, "seed": seed, "threshold": result.info.get("threshold"),
            "clusters_found": result.n_clusters,
            "sizes_min": int(result.sizes.min()), "noise": int((result.labels < 0).sum()),
            "cluster_seconds": round(seconds, 2), "curve": points}


def _plot(runs: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in METHODS:
        chosen = [r for r in runs if r["method"] == method]
        if not chosen:
            continue
        steps = min(len(r["curve"]) for r in chosen)
        n = np.mean([[r["curve"][k]["n_train"] for k in range(steps)] for r in chosen], axis=0)
        mae = np.array([[r["curve"][k]["mae_mev"] for k in range(steps)] for r in chosen])
        ax.errorbar(n, mae.mean(axis=0), yerr=mae.std(axis=0), marker="o", markersize=3, capsize=2, label=method)
    ax.set_yscale("log")
    ax.set_xlabel("training structures")
    ax.set_ylabel("test MAE (meV/atom)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-composition", type=int, default=20)
    parser.add_argument("--test-per-composition", type=int, default=4)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--min-size", type=int, default=10)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    pool_x, pool_y, test_x, test_y, reused = _data(args.per_composition, args.test_per_composition, 0)
    data_seconds = time.perf_counter() - t0
    runs = []
    for method in args.methods:
        for seed in args.seeds:
            print(f"{method} seed {seed} ...", file=sys.stderr, flush=True)
            runs.append(learning_curve(pool_x, pool_y, test_x, test_y, method, args.clusters, args.min_size,
                                       args.batches, seed))

    print(f"pool {len(pool_y)}, test {len(test_y)} (CHGNet labels); {args.clusters} clusters; "
          f"test MAE in meV/atom, mean over seeds {args.seeds} (n_train in brackets)")
    summary = {}
    for method in args.methods:
        chosen = [r for r in runs if r["method"] == method]
        steps = min(len(r["curve"]) for r in chosen)
        mean = [float(np.mean([r["curve"][k]["mae_mev"] for r in chosen])) for k in range(steps)]
        sizes = [int(round(np.mean([r["curve"][k]["n_train"] for r in chosen]))) for k in range(steps)]
        summary[method] = {"n_train": sizes, "mae_mev_mean": mean}
        print(f"{method:<12}" + " ".join(f"{m:6.3f} ({n})" for m, n in zip(mean, sizes)))
    record = {
        "benchmark": "test error of MBTR-KRR after batches of one structure per cluster, by selection method",
        "labels": "CHGNet 0.3.0 (stand-in oracle, not DFT)", "system": "CsPb(Cl/Br)3, 4 phases",
        "pool": int(len(pool_y)), "test": int(len(test_y)), "clusters": args.clusters, "min_size": args.min_size,
        "seeds": args.seeds, "reused_cached_labels": bool(reused), "data_seconds": round(data_seconds, 1),
        "summary": summary, "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    _plot(runs, FIGURE, f"CsPb(Cl/Br)3, {len(pool_y)} pool / {len(test_y)} test, CHGNet labels, "
                        f"{args.clusters} clusters")
    print(f"wrote {RESULTS.relative_to(ROOT)} and {FIGURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
