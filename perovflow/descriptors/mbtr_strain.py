"""Derivatives of the periodic MBTR k=2 term with respect to a homogeneous strain.

DScribe gives derivatives with respect to atom positions only; a cell relaxation of the
MBTR-KRR model needs dE/d(strain), and with it the derivative of every feature under a
strain. The k=2 term is a sum over atom pairs of a function of the pair distance alone,

    x[m, k] = sum_pairs c * w(r) * g_k(1 / r),

so a strain eps changes it only through r' = |(1 + eps) D| and
dx/d(eps_ab) = sum_pairs (dT/dr) D_a D_b / r. The pair sum here follows DScribe's
conventions (``ext/mbtr.cpp``, checked against DScribe's features in the tests): every
ordered pair (i in the cell, j any periodic image within r_cut) with half the weight,
exponential weight exp(-scale r) with scale = -ln(threshold) / r_cut, and the Gaussian
integrated over each grid bin (cdf differences over bin edges starting half a bin below
``x_min``). Normalisations ``none`` and ``n_atoms`` do not depend on the strain; ``l2``
and ``valle_oganov`` do and are not handled here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.sparse import csr_matrix
from scipy.special import erf

from perovflow.descriptors.mbtr import MBTRSettings

STRAIN_NORMALIZATIONS = ("none", "n_atoms")


def species_pair_index(settings: MBTRSettings) -> tuple[dict[int, int], int]:
    """Atomic number -> element index (sorted by atomic number, as DScribe) and the count."""
    from ase.data import atomic_numbers

    numbers = sorted(atomic_numbers[s] for s in settings.species)
    return {z: i for i, z in enumerate(numbers)}, len(numbers)


def periodic_pairs(atoms: Atoms, r_cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs (i, j, |D|, D) with D = r_j + T - r_i, 0 < |D| < r_cut, over lattice
    translations T. All candidate images at once: for the 40-atom supercells this is a
    few ms, where ASE's general neighbour list takes about 50."""
    cell = np.array(atoms.cell)
    heights = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.ceil(r_cut / heights).astype(int)
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in reach], indexing="ij"), -1).reshape(-1, 3)
    translations = grid @ cell  # (T, 3)
    positions = atoms.positions
    vectors = positions[None, :, None, :] + translations[None, None, :, :] - positions[:, None, None, :]  # (i, j, T, 3)
    lengths = np.sqrt(np.einsum("ijtc,ijtc->ijt", vectors, vectors))
    i, j, t = np.nonzero((lengths < r_cut) & (lengths > 0))
    return i, j, lengths[i, j, t], vectors[i, j, t]


@dataclass(frozen=True)
class K2Derivatives:
    features: np.ndarray  # (F,)
    positions: np.ndarray  # (n_atoms, 3, F): d features / d r_i, each atom moving with its images
    strain: np.ndarray  # (3, 3, F): d features / d eps_ab at zero strain, atoms moving with the cell


def k2_derivatives(atoms: Atoms, settings: MBTRSettings) -> K2Derivatives:
    """Features with their derivatives with respect to every atom position and to a
    symmetric strain, in one pass over the pairs (the position derivatives equal DScribe's
    analytic ones; computing all three here costs less than DScribe's derivatives alone).

    The strain derivative is taken at zero strain with atoms moving affinely with the cell
    (positions scaled), which is the derivative ASE's stress is defined by.
    """
    if settings.normalization not in STRAIN_NORMALIZATIONS:
        raise ValueError(
            f"descriptor.normalization: strain derivatives need one of {list(STRAIN_NORMALIZATIONS)}, "
            f"got {settings.normalization!r}"
        )
    if not all(atoms.pbc):
        raise ValueError("atoms: strain derivatives need a periodic cell in all three directions")
    index, n_elements = species_pair_index(settings)
    n = settings.n_grid
    dx = (settings.x_max - settings.x_min) / (n - 1)
    edges = settings.x_min - dx / 2 + dx * np.arange(n + 1)
    s_sqrt2 = settings.sigma * math.sqrt(2.0)
    scale = -math.log(settings.w_cut) / settings.r_cut

    first, second, distance, vector = periodic_pairs(atoms, settings.r_cut)
    lookup = np.full(max(index) + 1, -1)
    lookup[list(index)] = list(index.values())
    ei, ej = lookup[atoms.numbers[first]], lookup[atoms.numbers[second]]
    low, high = np.minimum(ei, ej), np.maximum(ei, ej)
    block = high + low * n_elements - low * (low + 1) // 2

    weight = 0.5 * np.exp(-scale * distance)  # ordered pairs: each counted twice
    centre = 1.0 / distance
    u = (edges[None, :] - centre[:, None]) / s_sqrt2  # (pairs, n + 1)
    cdf = 0.5 * (1.0 + erf(u))
    density = np.diff(cdf, axis=1) / dx  # (pairs, n): Gaussian integrated over each bin
    # d(density)/d(centre): the cdf derivative at the edges is -exp(-u^2) / (sqrt(pi) s sqrt2)
    edge_slope = -np.exp(-u * u) / (math.sqrt(math.pi) * s_sqrt2)
    d_density = np.diff(edge_slope, axis=1) / dx
    term = weight[:, None] * density
    # d/dr of w(r) g(1/r) = -scale w g + w g'(1/r) (-1/r^2)
    d_term = weight[:, None] * (-scale * density - d_density / (distance * distance)[:, None])

    n_blocks = n_elements * (n_elements + 1) // 2
    n_atoms, n_pairs = len(atoms), len(distance)
    pair = np.arange(n_pairs)
    # sums over pairs as sparse products: block membership, and (atom, block) incidence
    # (moving atom j, with its images, by dr changes r by D/r . dr; atom i by -D/r . dr)
    member = csr_matrix((np.ones(n_pairs), (block, pair)), shape=(n_blocks, n_pairs))
    incidence = csr_matrix((np.concatenate([np.ones(n_pairs), -np.ones(n_pairs)]),
                            (np.concatenate([second * n_blocks + block, first * n_blocks + block]),
                             np.concatenate([pair, pair]))), shape=(n_atoms * n_blocks, n_pairs))
    slope = (vector / distance[:, None])[:, :, None] * d_term[:, None, :]  # (pairs, 3, n): dT/dr D/r
    features = member @ term  # (blocks, n)
    positions = (incidence @ slope.reshape(n_pairs, -1)).reshape(n_atoms, n_blocks, 3, n).transpose(0, 2, 1, 3)
    # dx/d(eps_ab) = sum_pairs dT/dr D_a D_b / r
    strain = (member @ (vector[:, :, None, None] * slope[:, None, :, :]).reshape(n_pairs, -1))
    strain = strain.reshape(n_blocks, 3, 3, n).transpose(1, 2, 0, 3)
    features = np.ascontiguousarray(features).reshape(-1)
    positions = np.ascontiguousarray(positions).reshape(n_atoms, 3, -1)
    strain = np.ascontiguousarray(strain).reshape(3, 3, -1)
    if settings.normalization == "n_atoms":
        features /= n_atoms
        positions /= n_atoms
        strain /= n_atoms
    return K2Derivatives(features, positions, strain)
