from __future__ import annotations

import numpy as np

from perovflow.ccd.descriptor import (
    ClusterSet,
    CubicPerovskite,
    ReferenceSupercell,
    cubic_group,
    octahedron,
    pair_orbits,
    site_orbits,
    tetrahedron,
    triplet_orbits,
)
from perovflow.ccd.descriptor.reference import site_position


def test_pair_orbits_shortest_first_with_perovskite_lengths():
    pairs = pair_orbits(1.0)
    lengths = [p.reference_lengths[0] for p in pairs]
    assert lengths == sorted(lengths)
    assert np.isclose(lengths[0], 0.5) and pairs[0].roles == ("B", "X")
    # two X-X orbits at one lattice constant: through a B site and across
    assert sum(1 for p in pairs if np.isclose(p.reference_lengths[0], 1.0) and p.roles == ("X", "X")) == 2


def test_orbit_sizes_in_the_2x2x2_supercell():
    sc = ReferenceSupercell(CubicPerovskite(), (2, 2, 2))
    assert len(octahedron().in_supercell(sc)[0]) == 8
    assert len(tetrahedron().in_supercell(sc)[0]) == 16  # two per cube of B sites
    assert len(pair_orbits(0.6)[0].in_supercell(sc)[0]) == 48  # six B-X bonds per B
    assert len(triplet_orbits(0.75)[0].in_supercell(sc)[0]) == 96  # 12 cis X-B-X angles per B


def test_orbit_members_keep_the_prototype_site_order():
    """Every member is the image of the prototype, site by site, under one space-group operation."""
    orbit = triplet_orbits(0.75)[0]
    proto = orbit.positions
    for member in orbit.members():
        pos = np.array([site_position(s) for s in member])
        assert any(np.allclose(pos - proto @ r.T, (pos - proto @ r.T)[0]) for r in cubic_group())


def test_site_orbits_and_cluster_sets():
    assert site_orbits() == [(0,), (1,), (2, 3, 4)]
    names = [o.name for o in ClusterSet(7, 1, True).orbits()]
    assert len(names) == 9 and names[-1] == "octahedron" and names[-2].startswith("triplet1")
    assert [o.name for o in ClusterSet(4, 0, True).orbits()] == names[:4] + ["octahedron"]
