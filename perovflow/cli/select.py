"""``perovflow select``: cluster a feature matrix and draw batches of one structure per cluster.

Example (the paper's CsSn(Cl/Br/I)3 setting)::

    perovflow select --features mbtr.npy --clusters 2000 --min-size 20 --batch 8 --seed 0 -o ids.json

The JSON holds the method and its settings, the objective, the cluster sizes, ``labels``
(one cluster label per row of the feature matrix; -1 marks HDBSCAN outliers) and
``batches`` (lists of row indices: one random member of every cluster per batch, no row
twice).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from perovflow.selection.methods import METHODS


def add_select_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``select`` command to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "select", help="cluster a feature matrix (.npy) and pick batches of one structure per cluster",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--features", required=True, help="feature matrix, rows = structures (.npy)")
    p.add_argument("--clusters", type=int, required=True, help="number of clusters K")
    p.add_argument("--min-size", type=int, default=None, help="minimum cluster size (constrained methods)")
    p.add_argument("--max-size", type=int, default=None, help="maximum cluster size (constrained methods)")
    p.add_argument("--batch", "--batches", type=int, default=None, dest="batches",
                   help="number of batches of one structure per cluster (default: the smallest "
                        "cluster size, so that every batch has one structure of every cluster)")
    p.add_argument("--method", default="constrained",
                   help=f"clustering method, one of: {', '.join(METHODS)} (default constrained)")
    p.add_argument("--pca", default=None,
                   help="project first on N principal components, or on as many as keep a variance "
                        "fraction (e.g. 0.99); the explained variance is reported")
    p.add_argument("--candidates", type=int, default=10,
                   help="nearest centres connected to each structure in the flow (constrained; default 10); "
                        "the answer is the full problem's whatever the value, only the speed changes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="output JSON file")
    p.set_defaults(func=run_select)
    return p


def _load(path: str):
    import numpy as np

    file = Path(path)
    if not file.exists():
        raise ValueError(f"features: file {path!r} does not exist")
    if file.suffix != ".npy":
        raise ValueError(f"features: expected a .npy file, got {path!r}")
    return np.load(file, mmap_mode="r")


class _ProgressBar:
    """A tqdm bar opened on the first report (no bar when the input is refused early)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def __call__(self, stage: str, iteration: int, value: float) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="it", desc=stage, disable=self.quiet, file=sys.stderr)
        self.bar.set_description(stage)
        if stage == "iteration":
            self.bar.update(1)
            if not math.isnan(value):
                self.bar.set_postfix_str(f"cost {value:.6g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_select(args: argparse.Namespace) -> int:
    """Cluster, draw batches and write the JSON; 0 on success, 2 on a bad setting."""
    # scikit-learn and OR-Tools load when the command runs, not for every `perovflow` call
    from perovflow.selection.kmeans import batches_one_per_cluster
    from perovflow.selection.methods import cluster
    from perovflow.selection.reduction import parse_pca

    started = time.perf_counter()
    bar = _ProgressBar(args.quiet)
    try:
        features = _load(args.features)
        options = {"n_candidates": args.candidates} if args.method == "constrained" else {}
        if args.batches is not None and args.batches < 0:
            raise ValueError(f"batch: expected an integer >= 0, got {args.batches}")
        result = cluster(features, args.clusters, method=args.method, min_size=args.min_size,
                         max_size=args.max_size, seed=args.seed, pca=parse_pca(args.pca),
                         progress=bar, **options)
    except ValueError as exc:
        bar.close()
        print(f"perovflow select: error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    sizes = result.sizes
    n_batches = int(sizes.min()) if args.batches is None else args.batches
    batches = batches_one_per_cluster(result.labels, n_batches, seed=args.seed)
    summary = result.summary()
    summary.pop("assignment_cost_trace", None)
    record = {
        "features": str(args.features),
        "seed": args.seed,
        "requested": {"clusters": args.clusters, "min_size": args.min_size, "max_size": args.max_size,
                      "batches": args.batches, "pca": args.pca},
        **summary,
        "cluster_sizes": sizes.tolist(),
        "labels": result.labels.tolist(),
        "batches": batches,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    Path(args.output).write_text(json.dumps(record))
    pca = result.info.get("pca")
    extra = f"; PCA {pca['components']} components, explained variance {pca['explained_variance']:.4f}" if pca else ""
    print(f"{result.method}: {result.n_clusters} clusters of {summary['min_cluster_size']}-"
          f"{summary['max_cluster_size']} structures, objective {result.objective:.6g}, "
          f"{len(batches)} batches{extra}; wrote {args.output}")
    return 0

