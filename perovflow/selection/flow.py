"""Size-bounded assignment of points to centres as a min-cost flow (OR-Tools), with prices.

Graph: every point (supply 1) has arcs to some centres (capacity 1, integer cost from the
squared distance); every centre node demands ``min_size`` units and passes up to
``max_size - min_size`` more to one sink, which demands the rest. A feasible flow is an
assignment with every cluster size in ``[min_size, max_size]``; the optimal flow minimises
the summed squared distances over the given arcs.

Costs are int64: each point's costs are taken relative to its cheapest arc (which does not
change the optimum, since every point sends exactly one unit) and scaled as far as
OR-Tools' cost range allows.

After solving, :func:`assign` also returns a *price* per cluster (the dual of the flow):
with prices ``q``, every point sits in a cluster that minimises ``d(i, j) - q[j]`` over its
arcs, free clusters have price 0, clusters at ``min_size`` a price >= 0 and clusters at
``max_size`` a price <= 0. If no arc left out of the graph is cheaper than that, the
assignment is optimal for the full (every point to every centre) problem too; that is how
:mod:`perovflow.selection.constrained` certifies its sparse graphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_UNIT_COST = 10**12


class InfeasibleAssignment(Exception):
    """The arcs cannot satisfy the size bounds (connect points to more centres)."""


@dataclass(frozen=True)
class Assignment:
    labels: np.ndarray  # cluster of every point
    cost: float  # summed squared distances of the chosen arcs (float64, unscaled)
    prices: np.ndarray  # per cluster, in squared-distance units (see the module doc)
    resolution: float  # squared distance of one integer cost unit


def _integer_costs(rows: np.ndarray, sqdist: np.ndarray, n_points: int, n_nodes: int) -> tuple[np.ndarray, float]:
    floor = np.full(n_points, np.inf)
    np.minimum.at(floor, rows, sqdist)
    reduced = sqdist - floor[rows]
    top = float(reduced.max()) if reduced.size else 0.0
    # OR-Tools multiplies costs by about the number of nodes internally; the prices sum
    # costs along paths of up to n_clusters arcs: stay well inside int64 and float64.
    ceiling = min(_MAX_UNIT_COST, (2**62) // (64 * (n_nodes + 1)))
    scale = ceiling / top if top > 0 else 1.0
    return np.rint(reduced * scale).astype(np.int64), scale


def _prices(rows, heads, costs, chosen_cost, labels, sizes, n_clusters, min_size, max_size) -> np.ndarray:
    """Cluster prices (integer cost units, sink at 0) from the optimal flow, by shortest paths
    on the graph of difference constraints q[j] - q[a] <= c(i, j) - c(i, a) for i in a."""
    own = labels[rows]
    moves = heads != own
    weight = (costs[moves] - chosen_cost[rows[moves]]).astype(np.float64)
    key = own[moves].astype(np.int64) * n_clusters + heads[moves]
    order = np.argsort(key, kind="stable")
    key, weight = key[order], weight[order]
    if key.size:
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        weight = np.minimum.reduceat(weight, first)
        key = key[first]
    tails, targets = key // n_clusters, key % n_clusters

    sink = n_clusters
    clusters = np.arange(n_clusters)
    free = (sizes > min_size) & (sizes < max_size)
    at_min = (sizes == min_size) & (sizes < max_size)
    at_max = (sizes == max_size) & (sizes > min_size)
    tails = np.concatenate([tails, np.full(free.sum() + at_max.sum(), sink), clusters[free], clusters[at_min]])
    targets = np.concatenate([targets, clusters[free], clusters[at_max], np.full(free.sum() + at_min.sum(), sink)])
    weight = np.concatenate([weight, np.zeros(tails.size - weight.size)])
    distance = _shortest_from_everywhere(tails, targets, weight, n_clusters + 1)
    return distance[:n_clusters] - distance[sink]


def _shortest_from_everywhere(tails: np.ndarray, heads: np.ndarray, weight: np.ndarray, n_nodes: int) -> np.ndarray:
    """Bellman-Ford from a virtual source joined to every node at weight 0, by whole-graph
    relaxation rounds that stop as soon as nothing changes."""
    order = np.argsort(heads, kind="stable")
    tails, heads, weight = tails[order], heads[order], weight[order]
    starts = np.flatnonzero(np.r_[True, heads[1:] != heads[:-1]]) if heads.size else np.zeros(0, dtype=np.int64)
    targets = heads[starts]
    distance = np.zeros(n_nodes)
    for _ in range(n_nodes + 1):
        if not heads.size:
            return distance
        best = np.minimum.reduceat(distance[tails] + weight, starts)
        better = best < distance[targets]
        if not better.any():
            return distance
        distance[targets[better]] = best[better]
    raise RuntimeError("negative cycle in the price graph: the flow was not optimal")


def assign(rows: np.ndarray, heads: np.ndarray, sqdist: np.ndarray, n_points: int, n_clusters: int,
           min_size: int, max_size: int) -> Assignment:
    """Optimal assignment of every point to one of its arcs within the size bounds.

    Arc ``a`` joins point ``rows[a]`` to centre ``heads[a]`` at squared distance
    ``sqdist[a]`` (duplicate arcs are harmless). Raises :class:`InfeasibleAssignment` when
    no assignment over these arcs satisfies the bounds.
    """
    from ortools.graph.python.min_cost_flow import SimpleMinCostFlow

    if n_clusters * min_size > n_points or n_clusters * max_size < n_points:
        raise ValueError("size bounds cannot be met by any assignment (check them first)")
    rows = np.asarray(rows, dtype=np.int64)
    heads = np.asarray(heads, dtype=np.int64)
    reach = np.bincount(heads, minlength=n_clusters)  # counts a duplicate arc twice: a quick test only
    if min_size and (reach < min_size).any():
        raise InfeasibleAssignment(f"{int((reach < min_size).sum())} centres are joined to fewer than "
                                   f"{min_size} points")
    if np.bincount(rows, minlength=n_points).min() == 0:
        raise InfeasibleAssignment("a point has no arc")
    sink = n_points + n_clusters
    n_nodes = sink + 1
    costs, scale = _integer_costs(rows, sqdist, n_points, n_nodes)
    n_arcs = rows.size
    solver = SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([rows, np.arange(n_points, sink)]).astype(np.int32),
        np.concatenate([heads + n_points, np.full(n_clusters, sink)]).astype(np.int32),
        np.concatenate([np.ones(n_arcs, dtype=np.int64), np.full(n_clusters, max_size - min_size, dtype=np.int64)]),
        np.concatenate([costs, np.zeros(n_clusters, dtype=np.int64)]),
    )
    solver.set_nodes_supplies(
        np.arange(n_nodes, dtype=np.int32),
        np.concatenate([np.ones(n_points, dtype=np.int64), np.full(n_clusters, -min_size, dtype=np.int64),
                        np.array([-(n_points - n_clusters * min_size)], dtype=np.int64)]),
    )
    status = solver.solve()
    if status == solver.INFEASIBLE:
        raise InfeasibleAssignment("no flow satisfies the size bounds over these arcs")
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with OR-Tools status {status}")
    used = np.flatnonzero(solver.flows(np.arange(n_arcs, dtype=np.int32)) > 0)
    if used.size != n_points or np.bincount(rows[used], minlength=n_points).max() != 1:
        raise RuntimeError("min-cost flow did not assign every point exactly once")
    labels = np.empty(n_points, dtype=np.int64)
    labels[rows[used]] = heads[used]
    chosen_cost = np.empty(n_points, dtype=np.int64)
    chosen_cost[rows[used]] = costs[used]
    sizes = np.bincount(labels, minlength=n_clusters)
    prices = _prices(rows, heads, costs, chosen_cost, labels, sizes, n_clusters, min_size, max_size)
    return Assignment(labels=labels, cost=float(sqdist[used].sum()), prices=prices / scale,
                      resolution=1.0 / scale)
