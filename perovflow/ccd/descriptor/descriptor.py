"""CCD features of whole supercells: per cluster (cluster-based networks) and summed per
site over site-centred orbits (site-based networks).

A structure is matched to the reference supercell site by site (nearest reference site of
the same species in fractional coordinates of its own cell), so atom order and wrapping do
not matter and a rigidly rotated cell gives the same features. Cluster sites are unwrapped
with explicit supercell-lattice shifts, so pairs longer than half the supercell are fine.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Sequence

import numpy as np
from ase import Atoms

from perovflow.ccd.descriptor.clusters import ClusterOrbit, ClusterSet, site_orbits
from perovflow.ccd.descriptor.invariants import InvariantPolynomials, invariant_polynomials
from perovflow.ccd.descriptor.metrics import check_metric
from perovflow.ccd.descriptor.reference import CubicPerovskite, ReferenceSupercell
from perovflow.ccd.descriptor.transform import CCDBasis, cluster_ccds, optimised_basis, symmetry_adapted_basis


@dataclass(frozen=True)
class CCDSettings:
    """What the CCD descriptor is made of (all JSON-serialisable through ``as_dict``)."""

    clusters: ClusterSet = field(default_factory=ClusterSet)
    order: int = 2
    metric: str = "linear"
    optimised: bool = False
    optimised_sigma: float = 0.15
    supercell: tuple[int, int, int] = (2, 2, 2)

    def __post_init__(self) -> None:
        check_metric(self.metric)
        if isinstance(self.order, bool) or self.order not in (1, 2, 3, 4, 5, 6):
            raise ValueError(f"descriptor.order: expected a polynomial order in 1..6 (the paper: 2 or 4), got {self.order!r}")
        if not 0 < self.optimised_sigma < 1:
            raise ValueError(f"descriptor.optimised_sigma: expected a fraction in (0, 1), got {self.optimised_sigma}")
        object.__setattr__(self, "supercell", tuple(int(v) for v in self.supercell))

    def as_dict(self) -> dict:
        return {"clusters": self.clusters.as_dict(), "order": self.order, "metric": self.metric,
                "optimised": self.optimised, "optimised_sigma": self.optimised_sigma,
                "supercell": list(self.supercell)}

    @classmethod
    def from_dict(cls, data: dict) -> CCDSettings:
        data = dict(data)
        data["clusters"] = ClusterSet(**data["clusters"])
        data["supercell"] = tuple(data["supercell"])
        return cls(**data)


@dataclass
class OrbitFeatures:
    """One cluster orbit prepared for featurisation."""

    orbit: ClusterOrbit
    basis: CCDBasis
    invariants: InvariantPolynomials
    atoms: np.ndarray  # (n_clusters, n_sites)
    shifts: np.ndarray  # (n_clusters, n_sites, 3)


def map_to_reference(atoms: Atoms, supercell: ReferenceSupercell) -> np.ndarray:
    """Cartesian positions (n_atoms, 3) in the reference atom order, each the periodic
    image nearest its reference site in the structure's own cell."""
    if len(atoms) != supercell.n_atoms:
        raise ValueError(f"structure has {len(atoms)} atoms; the {supercell.size} reference supercell has "
                         f"{supercell.n_atoms}")
    cell = np.asarray(atoms.cell.array, float)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise ValueError("structure has no periodic cell")
    frac = atoms.positions @ np.linalg.inv(cell)
    ref = supercell.fractional_positions
    symbols = np.array(atoms.get_chemical_symbols())
    ref_symbols = np.array(supercell.symbols)
    if sorted(symbols) != sorted(ref_symbols):
        raise ValueError(f"structure species {sorted(set(symbols))} do not match the reference "
                         f"{sorted(set(ref_symbols))} (counts must match too)")
    other = symbols[:, None] != ref_symbols[None, :]
    best = None
    # a rigid translation of the crystal: try each reference site of atom 0's species as its home
    for site in np.flatnonzero(ref_symbols == symbols[0]):
        shift = frac[0] - ref[site]
        diff = frac[:, None, :] - shift - ref[None, :, :]
        diff -= np.rint(diff)
        dist = np.linalg.norm(diff @ cell, axis=-1)
        dist[other] = np.inf
        target = np.argmin(dist, axis=1)
        cost = float(dist[np.arange(len(atoms)), target].sum())
        if len(np.unique(target)) == len(target) and (best is None or cost < best[0] - 1e-9):
            best = (cost, target, diff)
    if best is None:
        raise ValueError("structure cannot be matched one-to-one to the reference supercell sites "
                         "(displacements too large, or a cell that is not a strained reference supercell)")
    _, target, diff = best
    out = np.empty_like(atoms.positions)
    own = diff[np.arange(len(atoms)), target]
    out[target] = (ref[target] + own) @ cell
    return out


@lru_cache(maxsize=128)
def _prepared(orbit: ClusterOrbit, optimised: bool, metric: str, sigma: float,
              order: int) -> tuple[CCDBasis, InvariantPolynomials]:
    basis = optimised_basis(orbit, metric, sigma) if optimised else symmetry_adapted_basis(orbit)
    return basis, invariant_polynomials(basis.representation, basis.blocks, order)


@lru_cache(maxsize=128)
def _in_supercell(orbit: ClusterOrbit, size: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    return orbit.in_supercell(ReferenceSupercell(CubicPerovskite(), size))


class CCDDescriptor:
    """Symmetry-invariant polynomials of CCDs for every cluster of a reference supercell."""

    def __init__(self, reference: CubicPerovskite, settings: CCDSettings = CCDSettings()):
        self.reference = reference
        self.settings = settings
        self.supercell = ReferenceSupercell(reference, settings.supercell)
        self.orbits: list[OrbitFeatures] = []
        for orbit in settings.clusters.orbits():
            basis, inv = _prepared(orbit, settings.optimised and orbit.n_pairs > 1, settings.metric,
                                   settings.optimised_sigma, settings.order)
            atoms_idx, shifts = _in_supercell(orbit, self.supercell.size)
            self.orbits.append(OrbitFeatures(orbit, basis, inv, atoms_idx, shifts))

    @property
    def names(self) -> list[str]:
        return [o.orbit.name for o in self.orbits]

    @property
    def n_features(self) -> list[int]:
        return [o.invariants.n_features for o in self.orbits]

    def checksum(self) -> str:
        payload = json.dumps({"settings": self.settings.as_dict(), "a0": self.reference.a0,
                              "species": list(self.reference.species),
                              "invariants": [o.invariants.checksum() for o in self.orbits],
                              "basis": [np.round(o.basis.matrix, 8).tolist() for o in self.orbits]}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def reference_positions(self, structures: Sequence[Atoms]) -> tuple[np.ndarray, np.ndarray]:
        """Positions in reference order (n, n_atoms, 3) and cells (n, 3, 3)."""
        pos = np.array([map_to_reference(a, self.supercell) for a in structures])
        cells = np.array([np.asarray(a.cell.array, float) for a in structures])
        return pos, cells

    def cluster_positions(self, k: int, positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
        o = self.orbits[k]
        return positions[:, o.atoms] + np.einsum("csj,njk->ncsk", o.shifts.astype(float), cells)

    def ccds(self, structures: Sequence[Atoms]) -> list[np.ndarray]:
        """Raw CCDs per orbit, each (n_structures, n_clusters, n_ccd)."""
        pos, cells = self.reference_positions(structures)
        return [cluster_ccds(self.cluster_positions(k, pos, cells), o.orbit, o.basis, self.reference.a0,
                             self.settings.metric) for k, o in enumerate(self.orbits)]

    def cluster_features(self, structures: Sequence[Atoms]) -> list[np.ndarray]:
        """Invariant polynomials per orbit, each (n_structures, n_clusters, n_features)."""
        return [o.invariants.evaluate(q) for o, q in zip(self.orbits, self.ccds(structures))]

    @cached_property
    def site_orbit_atoms(self) -> list[np.ndarray]:
        """Atom indices of each symmetrically distinct site orbit (A, B, X)."""
        sub = self.supercell.sublattice_of_atom
        return [np.flatnonzero(np.isin(sub, group)) for group in site_orbits()]

    @cached_property
    def incidence(self) -> list[np.ndarray]:
        """Per cluster orbit: (n_atoms, n_clusters) counts of each atom in each cluster."""
        out = []
        for o in self.orbits:
            inc = np.zeros((self.supercell.n_atoms, len(o.atoms)))
            for c, members in enumerate(o.atoms):
                for a in members:
                    inc[a, c] += 1.0
            out.append(inc)
        return out

    def site_features(self, cluster_features: list[np.ndarray]) -> list[np.ndarray]:
        """Site-centred correlation functions: for each site orbit, (n_structures,
        n_sites_in_orbit, n_total) with the sums over the clusters of each orbit that
        contain the site; orbits that never contain the site are left out."""
        per_atom = np.concatenate([np.einsum("ac,ncf->naf", inc, f)
                                   for inc, f in zip(self.incidence, cluster_features)], axis=-1)
        out = []
        for atoms_idx, cols in zip(self.site_orbit_atoms, self.site_columns):
            out.append(per_atom[:, atoms_idx][:, :, cols])
        return out

    @cached_property
    def site_columns(self) -> list[np.ndarray]:
        """Feature columns that can be nonzero for each site orbit."""
        cols_all, start = [], 0
        for inc, n in zip(self.incidence, self.n_features):
            cols_all.append((start, start + n, inc))
            start += n
        out = []
        for atoms_idx in self.site_orbit_atoms:
            cols = [np.arange(a, b) for a, b, inc in cols_all if inc[atoms_idx].sum() > 0]
            out.append(np.concatenate(cols) if cols else np.zeros(0, dtype=int))
        return out
