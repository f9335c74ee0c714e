"""Clusters of the cubic perovskite reference: pairs and triplets up to a cutoff, the X6
octahedron around a B site, a B4 tetrahedron, their orbits under the space group, their
cluster point groups, and their images in a periodic supercell.

A cluster is an ordered tuple of sites; the order matters only for how its pairs are
numbered. Every member of an orbit is generated from the prototype by one space-group
operation, which keeps the site order consistent across the orbit: the deformation
variables of two members are then related by the cluster point group of the prototype.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from perovflow.ccd.descriptor.groups import cubic_group
from perovflow.ccd.descriptor.reference import (
    SUBLATTICE_BASIS,
    SUBLATTICE_ROLE,
    ReferenceSupercell,
    Site,
    apply_operation,
    identify_site,
    site_position,
)


def _sort_key(site: Site) -> tuple:
    return (site[0], site[1])


def translation_class(sites: tuple[Site, ...]) -> tuple[Site, ...]:
    """Canonical form of a cluster (as a set) modulo lattice translations."""
    ordered = sorted(sites, key=_sort_key)
    shift = np.asarray(ordered[0][1])
    return tuple((s, tuple(int(v) for v in np.asarray(n) - shift)) for s, n in ordered)


def orbit_key(sites: tuple[Site, ...]) -> tuple[Site, ...]:
    """Canonical form of the space-group orbit of a cluster."""
    ops = cubic_group()
    return min(translation_class(tuple(apply_operation(r, np.zeros(3), s) for s in sites)) for r in ops)


def pair_lengths(sites: tuple[Site, ...]) -> np.ndarray:
    """Reference lengths (lattice units) of the pairs (j < k) in ``itertools.combinations`` order."""
    pos = np.array([site_position(s) for s in sites])
    return np.array([np.linalg.norm(pos[k] - pos[j]) for j, k in itertools.combinations(range(len(sites)), 2)])


@dataclass(frozen=True)
class ClusterOrbit:
    """One orbit of clusters, given by its prototype and a name."""

    name: str
    prototype: tuple[Site, ...]
    kind: str = "cluster"  # pair, triplet, octahedron, tetrahedron

    @property
    def n_sites(self) -> int:
        return len(self.prototype)

    @property
    def n_pairs(self) -> int:
        return self.n_sites * (self.n_sites - 1) // 2

    @cached_property
    def pairs(self) -> list[tuple[int, int]]:
        return list(itertools.combinations(range(self.n_sites), 2))

    @cached_property
    def reference_lengths(self) -> np.ndarray:
        """Pair lengths of the prototype in lattice units."""
        return pair_lengths(self.prototype)

    @cached_property
    def roles(self) -> tuple[str, ...]:
        return tuple(SUBLATTICE_ROLE[s] for s, _ in self.prototype)

    @cached_property
    def positions(self) -> np.ndarray:
        return np.array([site_position(s) for s in self.prototype])

    @cached_property
    def point_group(self) -> tuple[np.ndarray, np.ndarray]:
        """Cluster point group: rotations (m, 3, 3) about the cluster centre and the site
        permutations (m, n_sites) they induce (``perm[j]`` = image of site j)."""
        centre = self.positions.mean(axis=0)
        lookup = {(s, tuple(n)): i for i, (s, n) in enumerate(self.prototype)}
        rotations, perms = [], []
        for r in cubic_group():
            t = centre - r @ centre
            if np.abs(t - np.rint(t)).max() > 1e-6:
                continue
            try:
                images = [apply_operation(r, np.rint(t), s) for s in self.prototype]
            except ValueError:
                continue
            perm = [lookup.get(img) for img in images]
            if any(p is None for p in perm):
                continue
            rotations.append(r)
            perms.append(perm)
        return np.array(rotations), np.array(perms, dtype=int)

    @cached_property
    def pair_representation(self) -> np.ndarray:
        """Permutation matrices (m, n_pairs, n_pairs) of the point group acting on pairs:
        ``e' = Gamma(g) e`` for the pair deformations of the transformed cluster."""
        index = {p: i for i, p in enumerate(self.pairs)}
        _, perms = self.point_group
        rep = np.zeros((len(perms), self.n_pairs, self.n_pairs))
        for g, perm in enumerate(perms):
            for i, (j, k) in enumerate(self.pairs):
                a, b = sorted((perm[j], perm[k]))
                rep[g, index[(a, b)], i] = 1.0
        return rep

    def members(self) -> list[tuple[Site, ...]]:
        """All clusters of the orbit modulo lattice translations, each the image of the
        prototype under one space-group operation (site order preserved)."""
        seen, out = set(), []
        for r in cubic_group():
            image = tuple(apply_operation(r, np.zeros(3), s) for s in self.prototype)
            key = translation_class(image)
            if key not in seen:
                seen.add(key)
                out.append(image)
        return out

    def in_supercell(self, supercell: ReferenceSupercell) -> tuple[np.ndarray, np.ndarray]:
        """The orbit's clusters in a periodic supercell: atom indices (n_clusters, n_sites)
        and supercell-lattice shifts (n_clusters, n_sites, 3) of the images they use."""
        size = np.asarray(supercell.size)
        seen, atoms, shifts = set(), [], []
        for image in self.members():
            for t in supercell.cells:
                sites = tuple((s, tuple(int(v) for v in np.asarray(n) + t)) for s, n in image)
                located = [supercell.locate(s) for s in sites]
                # canonical form modulo supercell translations
                ordered = sorted(sites, key=_sort_key)
                base = np.asarray(ordered[0][1])
                shift = base - np.mod(base, size)
                key = tuple((s, tuple(int(v) for v in np.asarray(n) - shift)) for s, n in ordered)
                if key in seen:
                    continue
                seen.add(key)
                atoms.append([a for a, _ in located])
                shifts.append([sh for _, sh in located])
        return np.array(atoms, dtype=int), np.array(shifts, dtype=int)


def octahedron() -> ClusterOrbit:
    """The six X sites around the B site at the origin (point group m-3m, 15 pairs)."""
    sites = tuple(identify_site(v) for v in
                  ([0.5, 0, 0], [-0.5, 0, 0], [0, 0.5, 0], [0, -0.5, 0], [0, 0, 0.5], [0, 0, -0.5]))
    return ClusterOrbit("octahedron", sites, "octahedron")


def tetrahedron() -> ClusterOrbit:
    """Four B sites on alternate corners of a cube around an A site (point group -43m)."""
    sites = tuple(identify_site(v) for v in ([0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1]))
    return ClusterOrbit("tetrahedron", sites, "tetrahedron")


def _sites_within(cutoff: float) -> list[Site]:
    r = int(np.ceil(cutoff)) + 1
    out = []
    for n in itertools.product(range(-r, r + 1), repeat=3):
        for s in range(5):
            out.append((s, tuple(int(v) for v in n)))
    return out


def _describe(prototype: tuple[Site, ...]) -> str:
    return "-".join(SUBLATTICE_ROLE[s] for s, _ in prototype)


def pair_orbits(cutoff: float) -> list[ClusterOrbit]:
    """Symmetrically distinct pairs with reference length <= ``cutoff`` (lattice units),
    shortest first (ties: by species, then canonical form)."""
    return list(_pair_orbits(float(cutoff)))


@lru_cache(maxsize=8)
def _pair_orbits(cutoff: float) -> tuple[ClusterOrbit, ...]:
    if cutoff <= 0:
        raise ValueError(f"clusters.pair_cutoff: must be > 0 (lattice units), got {cutoff}")
    found: dict[tuple, tuple[Site, ...]] = {}
    sites = _sites_within(cutoff)
    for s0 in range(5):
        origin = (s0, (0, 0, 0))
        for other in sites:
            if other == origin:
                continue
            d = np.linalg.norm(site_position(other) - site_position(origin))
            if d <= cutoff + 1e-9:
                proto = tuple(sorted((origin, other), key=_sort_key))
                found.setdefault(orbit_key(proto), proto)
    orbits = sorted(found.items(), key=lambda kv: (round(float(pair_lengths(kv[1])[0]), 6), _describe(kv[1]), kv[0]))
    out = []
    for i, (_, proto) in enumerate(orbits):
        length = float(pair_lengths(proto)[0])
        out.append(ClusterOrbit(f"pair{i + 1}_{_describe(proto)}_{length:.3f}a", proto, "pair"))
    return tuple(out)


def triplet_orbits(cutoff: float) -> list[ClusterOrbit]:
    """Symmetrically distinct triplets whose three pair lengths are all <= ``cutoff``,
    most compact first (by longest edge, then perimeter)."""
    return list(_triplet_orbits(float(cutoff)))


@lru_cache(maxsize=8)
def _triplet_orbits(cutoff: float) -> tuple[ClusterOrbit, ...]:
    if cutoff <= 0:
        raise ValueError(f"clusters.triplet_cutoff: must be > 0 (lattice units), got {cutoff}")
    found: dict[tuple, tuple[Site, ...]] = {}
    sites = _sites_within(cutoff)
    for s0 in range(5):
        origin = (s0, (0, 0, 0))
        near = [s for s in sites if s != origin
                and np.linalg.norm(site_position(s) - site_position(origin)) <= cutoff + 1e-9]
        for a, b in itertools.combinations(near, 2):
            if np.linalg.norm(site_position(a) - site_position(b)) > cutoff + 1e-9:
                continue
            proto = tuple(sorted((origin, a, b), key=_sort_key))
            found.setdefault(orbit_key(proto), proto)

    def order(kv):
        lengths = pair_lengths(kv[1])
        return (round(float(lengths.max()), 6), round(float(lengths.sum()), 6), _describe(kv[1]), kv[0])

    out = []
    for i, (_, proto) in enumerate(sorted(found.items(), key=order)):
        out.append(ClusterOrbit(f"triplet{i + 1}_{_describe(proto)}", proto, "triplet"))
    return tuple(out)


@dataclass(frozen=True)
class ClusterSet:
    """A named selection of orbits: the first ``n_pairs`` pairs, the first ``n_triplets``
    triplets, and optionally the octahedron and the tetrahedron."""

    n_pairs: int = 7
    n_triplets: int = 1
    octahedron: bool = True
    tetrahedron: bool = False
    pair_cutoff: float = 1.5
    triplet_cutoff: float = 0.75
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for key in ("n_pairs", "n_triplets"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"cluster_sets.{key}: expected an integer >= 0, got {value!r}")
        if self.n_pairs + self.n_triplets == 0 and not (self.octahedron or self.tetrahedron):
            raise ValueError("cluster_sets: a cluster set needs at least one cluster")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        parts = [f"{self.n_pairs}p"]
        if self.n_triplets:
            parts.append(f"{self.n_triplets}t")
        if self.octahedron:
            parts.append("oct")
        if self.tetrahedron:
            parts.append("tet")
        return "+".join(parts)

    def orbits(self) -> list[ClusterOrbit]:
        out: list[ClusterOrbit] = []
        if self.n_pairs:
            pairs = pair_orbits(self.pair_cutoff)
            if len(pairs) < self.n_pairs:
                raise ValueError(f"cluster_sets.n_pairs: only {len(pairs)} pair orbits within "
                                 f"pair_cutoff {self.pair_cutoff}; raise the cutoff or ask for fewer")
            out += pairs[: self.n_pairs]
        if self.n_triplets:
            triplets = triplet_orbits(self.triplet_cutoff)
            if len(triplets) < self.n_triplets:
                raise ValueError(f"cluster_sets.n_triplets: only {len(triplets)} triplet orbits within "
                                 f"triplet_cutoff {self.triplet_cutoff}")
            out += triplets[: self.n_triplets]
        if self.octahedron:
            out.append(octahedron())
        if self.tetrahedron:
            out.append(tetrahedron())
        return out

    def as_dict(self) -> dict:
        return {"n_pairs": self.n_pairs, "n_triplets": self.n_triplets, "octahedron": self.octahedron,
                "tetrahedron": self.tetrahedron, "pair_cutoff": self.pair_cutoff,
                "triplet_cutoff": self.triplet_cutoff, "name": self.name}


def site_orbits() -> list[tuple[int, ...]]:
    """Sublattices grouped into orbits of the space group: [(0,), (1,), (2, 3, 4)]."""
    groups: list[set[int]] = []
    for s in range(5):
        images = {identify_site(r @ SUBLATTICE_BASIS[s])[0] for r in cubic_group()}
        if not any(s in g for g in groups):
            groups.append(images)
    return [tuple(sorted(g)) for g in groups]
