"""CCDs: the paper's irreducible split, block-diagonal symmetry, invariance to rigid motions."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.ccd.descriptor import (
    METRICS,
    CCDDescriptor,
    CCDSettings,
    ClusterSet,
    CubicPerovskite,
    cluster_ccds,
    deformation,
    octahedron,
    optimised_basis,
    symmetry_adapted_basis,
    tetrahedron,
    triplet_orbits,
)
from perovflow.ccd.descriptor.transform import correlation_matrix
from tests.ccd.helpers import distorted, random_rotation


def _split_by_projection(orbit):
    basis = symmetry_adapted_basis(orbit)
    chi = np.trace(orbit.pair_representation, axis1=1, axis2=2)
    mult = basis.table.multiplicities(chi)
    return basis, {label: int(m) for label, m in zip(basis.table.labels, mult) if m}


def test_octahedron_15_ccds_split_as_in_the_paper():
    # Thomas et al. 2019, Sec. II.1.3-4: 15 CCDs; two volumetric (A1g); pairs of qualitatively identical
    # Eg CCDs; T2g, T1u, T2u triplets; 15 - 12 = 3 redundant (one A1g and one Eg)
    basis, projected = _split_by_projection(octahedron())
    assert basis.n_ccd == 15
    assert projected == {"A1g": 2, "Eg": 2, "T2g": 1, "T1u": 1, "T2u": 1}
    assert basis.decomposition() == projected
    dims = {label: int(d) for label, d in zip(basis.table.labels, basis.table.dimensions)}
    assert sum(dims[k] * m for k, m in projected.items()) == 15


def test_tetrahedron_6_ccds_split_as_in_the_paper():
    basis, projected = _split_by_projection(tetrahedron())
    assert basis.n_ccd == 6
    assert projected == {"A1": 1, "E": 1, "T2": 1}
    assert basis.irreps[0] == "A1"  # q1 is the volumetric mode


@pytest.mark.parametrize("orbit", [octahedron(), tetrahedron(), triplet_orbits(0.75)[0]], ids=lambda o: o.name)
def test_transformation_block_diagonalises_every_operation(orbit):
    basis = symmetry_adapted_basis(orbit)
    assert np.allclose(basis.matrix @ basis.matrix.T, np.eye(basis.n_ccd))
    mask = np.zeros((basis.n_ccd, basis.n_ccd), bool)
    for block in basis.blocks:
        mask[np.ix_(block, block)] = True
        label = basis.irreps[block[0]]
        chi = np.trace(basis.representation[:, block][:, :, block], axis1=1, axis2=2)
        assert np.allclose(chi, basis.table.characters[basis.table.labels.index(label)])
    assert np.abs(basis.representation[:, ~mask]).max() < 1e-10
    # the representation of the CCDs is the pair permutation seen through Q
    assert np.allclose(basis.representation @ basis.matrix, basis.matrix @ orbit.pair_representation)


def test_volumetric_ccd_is_the_sum_of_pair_deformations():
    basis = symmetry_adapted_basis(octahedron())
    a1 = [i for i, l in enumerate(basis.irreps) if l == "A1g"]
    for i in a1:
        row = basis.matrix[i]
        assert np.all(row >= -1e-12) and np.allclose(row[row > 1e-9], row[row > 1e-9][0])


@pytest.mark.parametrize("metric", METRICS)
def test_metrics_vanish_at_reference_with_common_slope(metric):
    d0 = 2.9
    assert deformation(np.array(d0), np.array(d0), metric) == pytest.approx(0.0)
    h = 1e-6
    slope = (deformation(np.array(d0 + h), d0, metric) - deformation(np.array(d0 - h), d0, metric)) / (2 * h)
    assert slope == pytest.approx(1.0 / d0, rel=1e-5)
    assert deformation(np.array(2 * d0), d0, metric) > 0 > deformation(np.array(0.5 * d0), d0, metric)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("optimised", [False, True])
def test_ccds_unchanged_under_rigid_rotation_and_translation(metric, optimised):
    rng = np.random.default_rng(3)
    orbit = octahedron()
    basis = optimised_basis(orbit, metric) if optimised else symmetry_adapted_basis(orbit)
    a0 = 5.9
    x = orbit.positions * a0 + rng.normal(0, 0.15, (6, 3))
    q = cluster_ccds(x, orbit, basis, a0, metric)
    assert np.abs(q).max() > 1e-3  # a real deformation
    for _ in range(5):
        r, t = random_rotation(rng), rng.normal(0, 10, 3)
        assert np.allclose(cluster_ccds(x @ r.T + t, orbit, basis, a0, metric), q, atol=1e-12)
    assert np.allclose(cluster_ccds(orbit.positions * a0, orbit, basis, a0, metric), 0.0, atol=1e-14)


def test_structure_features_unchanged_under_rigid_motion_of_the_crystal():
    desc = CCDDescriptor(CubicPerovskite(a0=5.9), CCDSettings(clusters=ClusterSet(3, 1, True), order=2))
    atoms = distorted(desc.supercell.atoms(), seed=1)
    moved = atoms.copy()
    r = random_rotation(np.random.default_rng(5))
    moved.set_cell(atoms.cell.array @ r.T, scale_atoms=False)
    moved.positions = atoms.positions @ r.T + np.array([1.3, -0.4, 2.2])
    moved.wrap()
    order = np.random.default_rng(2).permutation(len(atoms))  # atom order does not matter either
    moved = moved[order]
    # the same clusters with the same CCDs (a translation may renumber the clusters)
    for a, b in zip(desc.ccds([atoms]), desc.ccds([moved])):
        assert np.abs(a).max() > 1e-3
        assert np.allclose(np.sort(a.ravel()), np.sort(b.ravel()), atol=1e-10)
    for a, b in zip(desc.cluster_features([atoms]), desc.cluster_features([moved])):
        assert np.allclose(a.sum(axis=1), b.sum(axis=1), atol=1e-10)


def test_optimised_ccds_whitened_truncated_with_spectral_gap():
    orbit = octahedron()
    full = optimised_basis(orbit, truncate=False)
    eig = full.eigenvalues
    gaps = eig[:-1] / eig[1:]
    assert int(np.argmax(gaps)) == 11  # the largest gap after the first 3N-6 = 12
    cut = optimised_basis(orbit)
    assert cut.n_ccd == 12
    lam = correlation_matrix(orbit, "linear")
    assert np.allclose(cut.matrix @ lam @ cut.matrix.T, np.eye(12), atol=1e-8)
    d = cut.representation
    assert np.allclose(np.einsum("gab,gcb->gac", d, d), np.eye(12), atol=1e-8)  # still orthogonal blocks
