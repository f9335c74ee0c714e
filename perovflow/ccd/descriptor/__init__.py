"""Collective cluster deformations (Thomas et al. 2019): clusters of the cubic perovskite reference,
symmetry-adapted CCDs, their invariant polynomials, and features of whole supercells.

Science code only: arrays and ASE ``Atoms`` in and out.
"""
from __future__ import annotations

from perovflow.ccd.descriptor.clusters import (
    ClusterOrbit,
    ClusterSet,
    octahedron,
    pair_orbits,
    site_orbits,
    tetrahedron,
    triplet_orbits,
)
from perovflow.ccd.descriptor.descriptor import CCDDescriptor, CCDSettings, map_to_reference
from perovflow.ccd.descriptor.groups import CharacterTable, character_table, cubic_group
from perovflow.ccd.descriptor.invariants import InvariantPolynomials, invariant_polynomials, molien_counts
from perovflow.ccd.descriptor.metrics import METRICS, deformation
from perovflow.ccd.descriptor.reference import CubicPerovskite, ReferenceSupercell
from perovflow.ccd.descriptor.transform import (
    CCDBasis,
    cluster_ccds,
    optimised_basis,
    symmetry_adapted_basis,
)

__all__ = [
    "CCDBasis", "CCDDescriptor", "CCDSettings", "CharacterTable", "ClusterOrbit", "ClusterSet",
    "CubicPerovskite", "InvariantPolynomials", "METRICS", "ReferenceSupercell", "character_table",
    "cluster_ccds", "cubic_group", "deformation", "invariant_polynomials", "map_to_reference",
    "molien_counts", "octahedron", "optimised_basis", "pair_orbits", "site_orbits",
    "symmetry_adapted_basis", "tetrahedron", "triplet_orbits",
]
