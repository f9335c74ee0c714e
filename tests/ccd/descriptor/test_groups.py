from __future__ import annotations

import numpy as np

from perovflow.ccd.descriptor import character_table, cubic_group, octahedron, tetrahedron
from perovflow.ccd.descriptor.groups import multiplication_table, regular_representation


def test_cubic_group_is_m3m():
    ops = cubic_group()
    assert len(ops) == 48
    assert np.allclose(np.einsum("gij,gkj->gik", ops, ops), np.eye(3))
    table = multiplication_table(ops)
    assert all(sorted(row) == list(range(48)) for row in table)  # closed, a Latin square


def test_character_table_of_oh_is_complete_and_orthonormal():
    table = character_table(cubic_group())
    chars = table.characters
    assert len(chars) == 10
    assert np.allclose(chars @ chars.T / 48, np.eye(10))
    assert (table.dimensions**2).sum() == 48
    assert set(table.labels) == {"A1g", "A2g", "Eg", "T1g", "T2g", "A1u", "A2u", "Eu", "T1u", "T2u"}
    # the vector representation is T1u, by character projection
    vector = np.trace(cubic_group(), axis1=1, axis2=2)
    mult = table.multiplicities(vector)
    assert dict(zip(table.labels, mult))["T1u"] == 1 and mult.sum() == 1


def test_regular_representation_holds_each_irrep_dimension_times():
    ops = tetrahedron().point_group[0]
    table = character_table(ops)
    rep = regular_representation(multiplication_table(ops))
    chi = np.trace(rep, axis1=1, axis2=2)
    assert list(table.multiplicities(chi)) == list(table.dimensions)
    assert len(ops) == 24 and set(table.labels) == {"A1", "A2", "E", "T1", "T2"}


def test_cluster_point_groups():
    assert len(octahedron().point_group[0]) == 48
    assert len(tetrahedron().point_group[0]) == 24
