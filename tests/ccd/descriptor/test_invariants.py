"""Invariant polynomials by the Reynolds operator."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.ccd.descriptor import (
    invariant_polynomials,
    molien_counts,
    octahedron,
    optimised_basis,
    symmetry_adapted_basis,
    tetrahedron,
    triplet_orbits,
)

CASES = [
    ("octahedron", lambda: symmetry_adapted_basis(octahedron()), 4),
    ("octahedron-optimised", lambda: optimised_basis(octahedron()), 4),
    ("tetrahedron", lambda: symmetry_adapted_basis(tetrahedron()), 4),
    ("triplet", lambda: symmetry_adapted_basis(triplet_orbits(0.75)[0]), 4),
]


@pytest.mark.parametrize(("name", "make", "order"), CASES, ids=[c[0] for c in CASES])
def test_invariants_unchanged_under_every_point_group_operation(name, make, order):
    basis = make()
    inv = invariant_polynomials(basis.representation, basis.blocks, order)
    q = np.random.default_rng(0).normal(0, 0.3, (20, basis.n_ccd))
    values = inv.evaluate(q)
    assert np.abs(values).max() > 1e-3
    for d in basis.representation:
        assert np.allclose(inv.evaluate(q @ d.T), values, atol=1e-12)
    # they are linearly independent functions
    assert np.linalg.matrix_rank(inv.evaluate(np.random.default_rng(1).normal(size=(600, basis.n_ccd)))) \
        == inv.n_features


@pytest.mark.parametrize(("name", "make", "order"), CASES, ids=[c[0] for c in CASES])
def test_number_of_invariants_per_degree_is_molien(name, make, order):
    basis = make()
    inv = invariant_polynomials(basis.representation, basis.blocks, order)
    counts = molien_counts(basis.representation, order)
    assert [c.shape[0] for c in inv.coefficients] == counts[1:]
    # degree 1: one invariant per totally symmetric CCD
    n_trivial = sum(1 for label in basis.irreps if label.startswith("A1"))
    assert counts[1] == n_trivial


def test_octahedron_counts_order_2():
    basis = symmetry_adapted_basis(octahedron())
    inv = invariant_polynomials(basis.representation, basis.blocks, 2)
    # 2 A1g linear; quadratic: 3 from the two A1g, 3 from the two Eg, one each T2g, T1u, T2u
    assert [c.shape[0] for c in inv.coefficients] == [2, 9]


def test_a_symmetry_breaking_ccd_is_not_invariant():
    """The check above can fail: a single Eg CCD changes under some operation."""
    basis = symmetry_adapted_basis(octahedron())
    i = basis.irreps.index("Eg")
    q = np.random.default_rng(0).normal(size=basis.n_ccd)
    assert max(abs((d @ q)[i] - q[i]) for d in basis.representation) > 1e-3


def test_order_is_checked():
    basis = symmetry_adapted_basis(tetrahedron())
    with pytest.raises(ValueError, match="descriptor.order"):
        invariant_polynomials(basis.representation, basis.blocks, 0)
