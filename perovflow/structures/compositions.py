"""Halide compositions of the 24 X sites and their random decoration."""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from perovflow.structures.system import PerovskiteSystem

N_X_SITES = 24


def enumerate_compositions(system: PerovskiteSystem, n_sites: int = N_X_SITES) -> list[tuple[int, ...]]:
    """Every way to share ``n_sites`` X sites among the system's halides.

    Counts are in the order of ``system.x`` and sorted lexicographically; there are
    C(n_sites + k - 1, k - 1) of them (25 for a binary, 325 for a ternary).
    """
    k = len(system.x)
    out: list[tuple[int, ...]] = []
    # stars and bars: choose k-1 bar positions among n_sites + k - 1 slots
    for bars in itertools.combinations(range(n_sites + k - 1), k - 1):
        edges = (-1, *bars, n_sites + k - 1)
        out.append(tuple(edges[i + 1] - edges[i] - 1 for i in range(k)))
    return sorted(out)


def check_composition(system: PerovskiteSystem, counts: Sequence[int]) -> tuple[int, ...]:
    """Validate one composition (non-negative counts per halide summing to 24)."""
    counts = tuple(int(c) for c in counts)
    if len(counts) != len(system.x):
        raise ValueError(
            f"composition: {list(counts)} has {len(counts)} entries; allowed: one count per halide "
            f"of {list(system.x)}"
        )
    if any(c < 0 for c in counts) or sum(counts) != N_X_SITES:
        raise ValueError(
            f"composition: counts {list(counts)} must be non-negative and sum to {N_X_SITES} "
            f"(the X sites of a 2x2x2 supercell); got sum {sum(counts)}"
        )
    return counts


def composition_string(system: PerovskiteSystem, counts: Sequence[int]) -> str:
    """Label such as ``Cl8Br16`` in the system's halide order, zero counts omitted."""
    return "".join(f"{s}{c}" for s, c in zip(system.x, counts) if c)


def decorate(counts: Sequence[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random site assignments for one composition: (n, 24) halide indices.

    Each row is a uniformly random permutation of the multiset given by ``counts``.
    """
    pattern = np.repeat(np.arange(len(counts)), counts)
    order = np.argsort(rng.random((n, pattern.size)), axis=1)
    return pattern[order]


def decorate_many(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random assignment per row of ``counts`` (n, k): (n, 24) halide indices."""
    counts = np.asarray(counts, int)
    n, k = counts.shape
    # sorted per-row pattern: site s gets the first halide whose cumulative count exceeds s
    cum = np.cumsum(counts, axis=1)
    sites = np.arange(N_X_SITES)
    pattern = (sites[None, :, None] >= cum[:, None, :]).sum(axis=2)
    order = np.argsort(rng.random((n, N_X_SITES)), axis=1)
    return np.take_along_axis(pattern, order, axis=1)
