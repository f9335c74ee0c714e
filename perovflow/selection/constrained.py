"""Constrained k-means that scales: every cluster size within [min_size, max_size].

The algorithm is the one of Bradley, Bennett and Demiriz (2000) that the
``k-means-constrained`` package implements: alternate (1) the optimal assignment of points
to fixed centres under the size bounds, a min-cost flow, and (2) moving every centre to
the mean of its points, until the centres stop moving. Both steps never increase the
k-means objective, so the result is a local optimum of it with every size in bounds.

What makes it scale to the paper's 130,000 structures x 2,000 clusters:

* each point is connected only to its ``n_candidates`` nearest centres (nearest by
  distance minus the cluster's price from the previous flow) plus its present centre, so
  the present assignment stays feasible and the objective can only go down; when the first
  assignment is infeasible, the centres joined to too few points get arcs from their
  nearest points (2 x, 4 x, ... min_size of them) until it is not;
* after the centres move, distances are recomputed only to the centres that moved
  (:mod:`perovflow.selection.candidates`);
* the sparse answer is then certified against the full graph: the flow's prices bound
  what every left-out arc could gain, the rows whose bound is not conclusive get their
  distances to all centres, any arc that would lower the cost is added and the flow solved
  again. Every assignment step is therefore the optimum of the full (dense) problem that
  ``k-means-constrained`` builds;
* distances are computed in row blocks, never as one (points x centres) matrix;
* the start is ordinary k-means (greedy k-means++ seeding in a principal subspace, a few
  k-means steps on all points, single precision; :func:`warm_start`), close to the
  constrained optimum already;
* once the steps gain less than 0.1 % each, single-structure moves with Hartigan's exact
  gain (:mod:`perovflow.selection.hartigan`) lower the objective further, within the
  bounds, and the alternation resumes from there. Lloyd-type alternation cannot see these
  moves (they pay off only through the centre shift): on 20,000 MBTR rows x 500 clusters
  they ended 0.5 % below the alternation's own fixed point, in less time than its tail;
* flow costs are int64 (the package rounds distances x 1000 to int32).

The flow cost is the squared distance, the objective k-means minimises, so no step can
raise it. (``k-means-constrained`` puts plain distances in its flow; where the size bounds
bind its steps can differ slightly, and its objective is then the same or higher.)
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from perovflow.selection.candidates import CandidateGraph
from perovflow.selection.checks import check_features, check_int, check_seed, check_sizes
from perovflow.selection.distances import cluster_means, objective, row_norms_squared, rows_sqdist
from perovflow.selection.flow import InfeasibleAssignment, assign
from perovflow.selection.hartigan import refine
from perovflow.selection.result import ClusteringResult
from perovflow.selection.seeding import kmeans_plusplus

#: called as progress(stage, iteration, value): stage "warm start", "iteration" or "single moves"
Progress = Callable[[str, int, float], None]

SEEDING_SAMPLE = 50_000
SEEDING_PER_CLUSTER = 10
#: single moves are tried towards each point's nearest few candidate centres
REFINE_CANDIDATES = 5
#: before single moves, alternate only while a step lowers the cost by 0.1 % or more: the
#: moves do the fine work faster than the long tail of small flow steps
PRE_REFINE_RTOL = 1e-3


#: Elkan's k-means keeps a (rows x clusters) float32 bound matrix; above this many bytes the
#: warm start uses Lloyd steps instead (130,000 x 2,000 would need 1 GB more)
ELKAN_MAX_BYTES = 512 * 2**20


def warm_start(features: np.ndarray, n_clusters: int, seed: int = 0, max_iter: int | None = None,
               sample: int | None = None) -> np.ndarray:
    """Centres of ordinary k-means: greedy k-means++ on a random subsample of ``max(sample,
    10 x n_clusters)`` rows, then k-means steps on all rows (float32): up to 20 of Elkan's
    (cheap once its bounds are set) or, where its bound matrix would be too large, up to 8
    of Lloyd's (each a full distance pass). ``max_iter`` overrides the step count."""
    from sklearn.cluster import KMeans

    n = features.shape[0]
    rng = np.random.default_rng(seed)
    single = np.asarray(features, dtype=np.float32)
    sample = SEEDING_SAMPLE if sample is None else sample
    n_sub = min(n, max(sample, SEEDING_PER_CLUSTER * n_clusters))
    subset = single if n_sub == n else single[np.sort(rng.choice(n, n_sub, replace=False))]
    seeds = kmeans_plusplus(subset, n_clusters, seed)
    del subset
    elkan = 4 * n * n_clusters <= ELKAN_MAX_BYTES
    if max_iter is None:
        max_iter = 20 if elkan else 8
    if max_iter <= 0:
        return seeds
    model = KMeans(n_clusters=n_clusters, init=seeds.astype(np.float32), n_init=1, max_iter=max_iter,
                   random_state=seed, algorithm="elkan" if elkan else "lloyd")
    model.fit(single)
    return model.cluster_centers_.astype(np.float64)


def _tolerance(features: np.ndarray, tol: float) -> float:
    """``tol`` times the mean per-feature variance (the convention of scikit-learn and
    k-means-constrained for the centre-shift stopping test)."""
    n = features.shape[0]
    total = np.zeros(features.shape[1])
    total_sq = np.zeros(features.shape[1])
    for start in range(0, n, 8192):
        rows = np.asarray(features[start:start + 8192], dtype=np.float64)
        total += rows.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", rows, rows)
    variance = total_sq / n - (total / n) ** 2
    return float(tol * np.maximum(variance, 0.0).mean())


def _check_rows(graph: CandidateGraph, centres, rows, prices, threshold, block=2048):
    """Distances of ``rows`` to every centre: their graph entries are refreshed, and the
    arcs returned are the refreshed candidates plus every arc whose price-adjusted distance
    is below the row's threshold (a violation: the flow is not optimal); the number of
    violations comes last."""
    found_rows, found_heads, found_d = [], [], []
    violations = 0
    for start in range(0, rows.size, block):
        chunk = rows[start:start + block]
        d = rows_sqdist(graph.features, centres, chunk)
        graph.refresh_rows(chunk, d, prices)
        below = d - prices[None, :] < threshold[chunk][:, None]
        violations += int(below.sum())
        below[np.arange(chunk.size)[:, None], graph.heads[chunk]] = True
        r, c = np.nonzero(below)
        found_rows.append(chunk[r])
        found_heads.append(c)
        found_d.append(d[r, c])
    return np.concatenate(found_rows), np.concatenate(found_heads), np.concatenate(found_d), violations


def _nearest_points(graph: CandidateGraph, centres, which, count, block=64):
    """Arcs from each centre in ``which`` to its ``count`` nearest points."""
    out_rows, out_heads, out_d = [], [], []
    n = graph.features.shape[0]
    everyone = np.arange(n)
    for start in range(0, which.size, block):
        chosen = which[start:start + block]
        d = rows_sqdist(graph.features, centres[chosen], everyone)  # (n, len(chosen))
        if count < n:
            nearest = np.argpartition(d, count - 1, axis=0)[:count]
        else:
            nearest = np.broadcast_to(everyone[:, None], d.shape)
        out_rows.append(nearest.T.ravel())
        out_heads.append(np.repeat(chosen, count))
        out_d.append(np.take_along_axis(d, nearest, axis=0).T.ravel())
    return np.concatenate(out_rows), np.concatenate(out_heads), np.concatenate(out_d)


def _certified_assignment(graph: CandidateGraph, centres, labels, prices, low, high, stats,
                          max_rounds: int = 50):
    """Optimal size-bounded assignment to ``centres`` over the full point-centre graph,
    solved on the sparse graph: widened while the flow is infeasible, then arcs added while
    the flow's prices show that a left-out arc could lower the cost."""
    n, n_clusters = graph.features.shape[0], centres.shape[0]
    kind = graph.update(centres, prices)
    stats[f"{kind}_passes"] = stats.get(f"{kind}_passes", 0) + 1
    rows, heads, sqdist = graph.arcs(labels)
    reach = 2 * max(low, 1)
    while True:
        try:
            result = assign(rows, heads, sqdist, n, n_clusters, low, high)
            break
        except InfeasibleAssignment:
            if reach > n:
                raise RuntimeError("the size bounds could not be met with all centres connected") from None
            # widen where it is needed: every centre joined to fewer than `reach` points
            # gets arcs from its `reach` nearest points
            short = np.flatnonzero(np.bincount(heads, minlength=n_clusters) < reach)
            if short.size == 0:
                short = np.arange(n_clusters)
            extra_rows, extra_heads, extra_d = _nearest_points(graph, centres, short, min(reach, n))
            rows = np.concatenate([rows, extra_rows])
            heads = np.concatenate([heads, extra_heads])
            sqdist = np.concatenate([sqdist, extra_d])
            stats["widened_centres"] = stats.get("widened_centres", 0) + int(short.size)
            reach *= 2
    for _ in range(max_rounds):
        q = result.prices
        own = heads == result.labels[rows]
        own_d = np.empty(n)
        own_d[rows[own]] = sqdist[own]
        tolerance = 2.0 * result.resolution + 1e-12 * float(own_d.max())
        threshold = own_d - q[result.labels] - tolerance
        suspects = np.flatnonzero(graph.bound_for(q) < threshold)
        if suspects.size == 0:
            return result, graph
        stats["rows_checked"] = stats.get("rows_checked", 0) + int(suspects.size)
        extra_rows, extra_heads, extra_d, violations = _check_rows(graph, centres, suspects, q, threshold)
        if violations == 0:
            return result, graph  # the suspects were fine: certified
        stats["violations"] = stats.get("violations", 0) + violations
        stats["arcs_added"] = stats.get("arcs_added", 0) + int(extra_rows.size)
        rows = np.concatenate([rows, extra_rows])
        heads = np.concatenate([heads, extra_heads])
        sqdist = np.concatenate([sqdist, extra_d])
        result = assign(rows, heads, sqdist, n, n_clusters, low, high)
    raise RuntimeError("the sparse assignment did not settle; raise n_candidates")


def _alternate(graph, centres, labels, prices, low, high, max_iter, tol_abs, stats, trace, progress,
               rtol=0.0):
    """Assignment and mean steps from ``centres`` until the labels or centres stop changing
    (or an assignment lowers the cost by less than ``rtol`` of it); returns ``(labels,
    centres, prices, iterations, converged)``."""
    n_clusters = centres.shape[0]
    features = graph.features
    iteration = 0
    for iteration in range(1, max_iter + 1):
        result, graph = _certified_assignment(graph, centres, labels, prices, low, high, stats)
        prices = result.prices
        changed = features.shape[0] if labels is None else int((result.labels != labels).sum())
        labels = result.labels
        moved = cluster_means(features, labels, n_clusters, previous=centres)
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        trace.append(result.cost)
        if progress:
            progress("iteration", len(trace), result.cost)
        if changed == 0 or shift <= tol_abs:
            return labels, centres, prices, iteration, True
        if len(trace) > 1 and trace[-2] - trace[-1] < rtol * trace[-1]:
            return labels, centres, prices, iteration, True
    return labels, centres, prices, iteration, False


def _nearest_candidates(graph: CandidateGraph, count: int) -> np.ndarray:
    """Per point, its ``count`` nearest centres among the graph's candidates."""
    order = np.argsort(graph.sqdist, axis=1)[:, :count]
    return np.take_along_axis(graph.heads, order, axis=1)


def _single_run(features, n_clusters, low, high, seed, n_candidates, max_iter, tol_abs, rtol, warm_iter,
                init, norms, refine_passes, progress):
    stats: dict = {}
    if progress:
        progress("warm start", 0, float("nan"))
    t0 = time.perf_counter()
    if init is None:
        centres = warm_start(features, n_clusters, seed, max_iter=warm_iter)
    else:
        centres = np.array(init, dtype=np.float64)
        if centres.shape != (n_clusters, features.shape[1]):
            raise ValueError(f"init: expected centres of shape {(n_clusters, features.shape[1])}, "
                             f"got {centres.shape}")
    stats["warm_start_seconds"] = round(time.perf_counter() - t0, 3)
    graph = CandidateGraph(features, norms, n_candidates, n_clusters)
    trace: list[float] = []
    t0 = time.perf_counter()
    labels, centres, prices, n_iter, converged = _alternate(
        graph, centres, None, None, low, high, max_iter, tol_abs, stats, trace, progress,
        rtol=PRE_REFINE_RTOL if refine_passes > 0 else rtol)
    stats["iterations_seconds"] = round(time.perf_counter() - t0, 3)
    if refine_passes > 0:
        t0 = time.perf_counter()
        if progress:
            progress("single moves", len(trace), trace[-1])
        labels, centres, moves = refine(
            features, labels, n_clusters, low, high, _nearest_candidates(graph, REFINE_CANDIDATES),
            max_passes=refine_passes)
        stats["refine"] = {**moves, "seconds": round(time.perf_counter() - t0, 3)}
        # the moved centres may make other assignments cheaper, and the alternation before
        # the moves stopped early: alternate again, to the final stopping rule
        t0 = time.perf_counter()
        labels, centres, prices, more, converged = _alternate(
            graph, centres, labels, prices, low, high, max_iter, tol_abs, stats, trace, progress, rtol=rtol)
        n_iter += more
        stats["iterations_seconds"] = round(stats["iterations_seconds"] + time.perf_counter() - t0, 3)
    stats["assignment_cost_trace"] = trace
    value = objective(features, labels, centres)
    return ClusteringResult(method="constrained", labels=labels, objective=value, centres=centres,
                            n_iter=n_iter, converged=converged, info=stats)


def constrained_kmeans(
    features: np.ndarray,
    n_clusters: int,
    min_size: int | None = None,
    max_size: int | None = None,
    seed: int = 0,
    *,
    n_candidates: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    rtol: float = 1e-4,
    warm_iter: int | None = None,
    refine_passes: int = 10,
    n_init: int = 1,
    init: np.ndarray | None = None,
    progress: Progress | None = None,
) -> ClusteringResult:
    """k-means with every cluster size in ``[min_size, max_size]`` (see the module doc).

    The alternation stops when no label changes, when the centres move less than ``tol``
    (times the mean feature variance, as in scikit-learn and k-means-constrained), or when
    an assignment lowers the cost by less than ``rtol`` of it (``rtol=0``: run to a fixed
    point). ``refine_passes`` bounds the passes of single moves (0: none).
    ``n_init`` starts from different seeds (``seed``, ``seed + 1``, ...) and keeps the
    lowest objective; ``init`` gives the starting centres instead of the warm start.
    Deterministic for a given seed.
    """
    data = check_features(features)
    low, high = check_sizes(data.shape[0], n_clusters, min_size, max_size)
    seed = check_seed(seed)
    n_candidates = check_int("n_candidates", n_candidates, 1)
    max_iter = check_int("max_iter", max_iter, 1)
    n_init = check_int("n_init", n_init, 1)
    warm_iter = None if warm_iter is None else check_int("warm_iter", warm_iter, 0)
    refine_passes = check_int("refine_passes", refine_passes, 0)
    for name, value in (("tol", tol), ("rtol", rtol)):
        if not value >= 0:
            raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    norms = row_norms_squared(data)
    tol_abs = _tolerance(data, tol)
    best = None
    for run in range(n_init if init is None else 1):
        result = _single_run(data, n_clusters, low, high, seed + run, n_candidates, max_iter, tol_abs, rtol,
                             warm_iter, init, norms, refine_passes, progress)
        if best is None or result.objective < best.objective:
            best = result
    best.info.update({"min_size": low, "max_size": high, "n_candidates": n_candidates, "n_init": n_init})
    return best
