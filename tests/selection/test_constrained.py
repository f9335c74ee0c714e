"""Constrained k-means: size bounds, objective, refusals, agreement with k-means-constrained."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from perovflow.selection import cluster, constrained_kmeans
from perovflow.selection.distances import candidate_arcs
from perovflow.selection.flow import InfeasibleAssignment, assign
from tests.selection.helpers import blobs, kmeans_objective, kmeans_with_repair, uneven_pool


@pytest.mark.parametrize(("seed", "bounds"), [(0, (25, None)), (1, (20, 40)), (2, (30, 30)), (3, (25, None))])
def test_every_cluster_within_bounds(seed, bounds):
    low, high = bounds
    features = uneven_pool(900, seed=seed)
    result = constrained_kmeans(features, 30, low, high, seed=seed)
    sizes = np.bincount(result.labels, minlength=30)
    assert sizes.sum() == 900
    assert sizes.min() >= low
    assert high is None or sizes.max() <= high
    assert result.converged
    # the reported objective is that of the labels with centres at the cluster means
    assert result.objective == pytest.approx(kmeans_objective(features, result.labels), rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objective_no_worse_than_kmeans_plus_repair(seed):
    features = uneven_pool(900, seed=seed)
    baseline = kmeans_with_repair(features, 30, 25, seed=seed)
    assert np.bincount(baseline).min() >= 25
    ours = constrained_kmeans(features, 30, 25, seed=seed)
    assert ours.objective <= kmeans_objective(features, baseline)


def test_objective_never_increases_between_iterations():
    result = constrained_kmeans(uneven_pool(900, seed=4), 30, 25, seed=4)
    trace = np.array(result.info["assignment_cost_trace"])
    assert len(trace) >= 2
    assert (np.diff(trace) <= 1e-9 * trace[0]).all()


def test_deterministic_under_a_seed():
    features = uneven_pool(600, seed=5)
    a = constrained_kmeans(features, 20, 20, seed=7)
    b = constrained_kmeans(features, 20, 20, seed=7)
    assert np.array_equal(a.labels, b.labels)
    assert a.objective == b.objective


@pytest.mark.parametrize(
    ("n_clusters", "low", "high", "fields"),
    [
        (40, 25, None, ["clusters x min_size", "40 x 25", "900"]),  # 1000 > 900
        (10, None, 50, ["clusters x max_size", "10 x 50", "900"]),  # 500 < 900
        (10, 30, 20, ["max_size", "min_size"]),
        (1000, None, None, ["clusters", "1000", "900"]),
        (0, None, None, ["clusters", ">= 1"]),
        (10, -1, None, ["min_size", ">= 0"]),
    ],
)
def test_infeasible_requests_are_refused_naming_the_fields(n_clusters, low, high, fields):
    features = uneven_pool(900)
    for method in ("constrained", "k-means-constrained", "random"):
        with pytest.raises(ValueError) as err:
            cluster(features, n_clusters, method=method, min_size=low, max_size=high)
        for text in fields:
            assert text in str(err.value)


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="features: expected a 2-D"):
        constrained_kmeans(np.zeros(10), 2)
    bad = np.ones((10, 3))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="features: contains NaN"):
        constrained_kmeans(bad, 2)


def _full_arcs(features, centres):
    rows, heads, sqdist, _ = candidate_arcs(features, centres, centres.shape[0])
    return rows, heads, sqdist


def test_assignment_step_is_the_exact_optimum():
    """Balanced case (n = K x size): the flow must equal the optimal assignment to
    K x size slots, solved independently by the Hungarian method."""
    rng = np.random.default_rng(0)
    k, size = 6, 15
    features = rng.normal(size=(k * size, 4))
    centres = rng.normal(size=(k, 4))
    rows, heads, sqdist = _full_arcs(features, centres)
    ours = assign(rows, heads, sqdist, k * size, k, size, size)
    slots = np.repeat(sqdist.reshape(k * size, k), size, axis=1)  # cluster 0 x size, cluster 1 x size, ...
    r, c = linear_sum_assignment(slots)
    assert ours.cost == pytest.approx(slots[r, c].sum(), rel=1e-9)
    assert (np.bincount(ours.labels, minlength=k) == size).all()


def test_assignment_matches_k_means_constrained_flow_on_the_same_costs():
    """Same integer costs into the package's dense graph and into ours: same optimum."""
    from k_means_constrained.k_means_constrained_ import minimum_cost_flow_problem_graph, solve_min_cost_flow_graph

    rng = np.random.default_rng(1)
    n, k, low, high = 200, 8, 20, 30
    features = rng.normal(size=(n, 3))
    centres = rng.normal(size=(k, 3))
    rows, heads, sqdist = _full_arcs(features, centres)
    sqdist = np.round(sqdist * 1000) / 1000  # the package rounds costs x 1000 to integers
    dense = sqdist.reshape(n, k)
    edges, costs, caps, supplies, n_c, n_x = minimum_cost_flow_problem_graph(features, centres, dense, low, high)
    theirs = solve_min_cost_flow_graph(edges, costs, caps, supplies, n_c, n_x)
    ours = assign(rows, heads, sqdist, n, k, low, high)
    assert ours.cost == pytest.approx(dense[np.arange(n), theirs].sum(), rel=1e-12)
    sizes = np.bincount(ours.labels, minlength=k)
    assert sizes.min() >= low and sizes.max() <= high


def test_prices_certify_the_assignment():
    """With the flow's prices every point sits in a cluster minimising distance - price."""
    features = uneven_pool(400, seed=3)
    centres = features[np.random.default_rng(3).choice(400, 20, replace=False)]
    rows, heads, sqdist = _full_arcs(features, centres)
    result = assign(rows, heads, sqdist, 400, 20, 15, 25)
    adjusted = sqdist.reshape(400, 20) - result.prices[None, :]
    own = adjusted[np.arange(400), result.labels]
    assert (adjusted.min(axis=1) >= own - 4 * result.resolution).all()
    sizes = np.bincount(result.labels, minlength=20)
    assert (result.prices[(sizes > 15) & (sizes < 25)] == pytest.approx(0.0, abs=1e-9))
    assert (result.prices[sizes == 15] >= -1e-9).all() and (result.prices[sizes == 25] <= 1e-9).all()


def test_left_out_arcs_that_would_lower_the_cost_are_added():
    """Hard-binding bounds, two candidates: the certificate must find violations, and every
    assignment step is then the dense one (single moves off: they only look at candidates)."""
    features = uneven_pool(600, seed=0)
    result = constrained_kmeans(features, 30, 18, seed=0, n_candidates=2, refine_passes=0, rtol=0)
    assert result.info.get("violations", 0) > 0
    every = constrained_kmeans(features, 30, 18, seed=0, n_candidates=30, refine_passes=0, rtol=0)
    assert np.array_equal(result.labels, every.labels)


def test_too_few_candidates_raise_infeasible_and_the_solver_widens():
    rng = np.random.default_rng(2)
    features = np.vstack([rng.normal(size=(200, 2)), rng.normal(size=(10, 2)) + 50.0])
    centres = np.array([[0.0, 0.0], [0.5, 0.0], [50.0, 0.0]])
    rows, heads, sqdist, _ = candidate_arcs(features, centres, 1)
    with pytest.raises(InfeasibleAssignment):
        assign(rows, heads, sqdist, 210, 3, 60, 210)
    result = constrained_kmeans(features, 3, 60, seed=0, n_candidates=1, init=centres)
    assert np.bincount(result.labels).min() >= 60
    assert result.info["widened_centres"] >= 1


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_candidates_give_the_full_graph_answer_step_for_step(seed):
    """Size bounds that bind hard (dense core, sparse halo): the sparse graph with 5
    candidates must take the same steps as the full graph, and end at a point where the
    full-graph assignment to the final centres changes nothing."""
    features = uneven_pool(600, seed=seed)
    few = constrained_kmeans(features, 30, 15, seed=seed, n_candidates=5, refine_passes=0, rtol=0)
    every = constrained_kmeans(features, 30, 15, seed=seed, n_candidates=30, refine_passes=0, rtol=0)
    assert few.info.get("rows_checked", 0) > 0  # the certificate had work to do
    assert few.info.get("partial_passes", 0) > 0  # and distances were updated for moved centres only
    np.testing.assert_allclose(few.info["assignment_cost_trace"], every.info["assignment_cost_trace"], rtol=1e-9)
    assert np.array_equal(few.labels, every.labels)
    rows, heads, sqdist = _full_arcs(features, few.centres)
    full = assign(rows, heads, sqdist, 600, 30, 15, 600)
    assert full.cost == pytest.approx(few.objective, rel=1e-9)


def test_same_labels_as_k_means_constrained_on_separated_clusters():
    features = blobs([50, 40, 45, 60, 35], seed=3)
    ours = cluster(features, 5, "constrained", min_size=30, seed=0)
    theirs = cluster(features, 5, "k-means-constrained", min_size=30, seed=0)
    assert adjusted_rand_score(ours.labels, theirs.labels) == 1.0
    assert ours.objective == pytest.approx(theirs.objective, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_objective_matches_k_means_constrained_when_the_bound_binds(seed):
    """One blob is too small: points must move into it. The package's flow costs are
    unsquared distances x 1000 in int32, ours squared distances in int64, so ours may only
    be lower; the partitions are nearly the same."""
    features = blobs([60, 60, 60, 20], seed=seed)
    ours = cluster(features, 4, "constrained", min_size=30, seed=seed)
    theirs = cluster(features, 4, "k-means-constrained", min_size=30, seed=seed)
    assert np.bincount(ours.labels).min() >= 30 and np.bincount(theirs.labels).min() >= 30
    assert ours.objective <= theirs.objective * (1 + 1e-9)
    assert ours.objective >= theirs.objective * (1 - 0.02)
    assert adjusted_rand_score(ours.labels, theirs.labels) > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_moves_lower_the_objective_and_end_at_a_fixed_point(seed):
    """Started at the alternation's own fixed point, single moves (centre shift included)
    lower the objective by their summed gains, the alternation after them lowers it
    further; the answer is within bounds and the dense assignment to its centres changes
    nothing."""
    features = uneven_pool(900, seed=seed)
    plain = constrained_kmeans(features, 30, 20, seed=seed, refine_passes=0, rtol=0)
    refined = constrained_kmeans(features, 30, 20, seed=seed, rtol=0, init=plain.centres)
    assert refined.info["refine"]["objective_before"] == pytest.approx(plain.objective, rel=1e-12)
    moves = refined.info["refine"]
    assert moves["moves"] > 0
    assert refined.objective <= (moves["objective_before"] - moves["gain"]) * (1 + 1e-12)
    assert refined.objective < plain.objective
    assert np.bincount(refined.labels, minlength=30).min() >= 20
    rows, heads, sqdist = _full_arcs(features, refined.centres)
    full = assign(rows, heads, sqdist, 900, 30, 20, 900)
    assert full.cost == pytest.approx(refined.objective, rel=1e-9)
