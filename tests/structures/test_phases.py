"""The four phases from Glazer tilts: space groups, cubic limit, rigid octahedra."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.structures import (
    PHASES,
    SPACE_GROUP_NUMBERS,
    PerovskiteSystem,
    build_structure,
    normalise_phase,
)

from .helpers import space_group

EXPECTED = {"Pm-3m": 221, "P4/mbm": 127, "I4/mcm": 140, "Pnma": 62}
SYSTEMS = [
    PerovskiteSystem("Cs", "Sn", ("Cl", "Br", "I")),
    PerovskiteSystem("Cs", "Pb", ("Br",)),
    PerovskiteSystem("Cs", "Ge", ("I", "Cl")),
]


def test_phase_table():
    assert PHASES == ("Pm-3m", "P4/mbm", "I4/mcm", "Pnma")
    assert SPACE_GROUP_NUMBERS == EXPECTED


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.label)
@pytest.mark.parametrize("phase", PHASES)
def test_undistorted_single_halide_phase_has_its_space_group(system, phase):
    for halide in system.x:
        atoms = build_structure(system, phase, [halide] * 24)
        assert len(atoms) == 40 and atoms.pbc.all()
        assert space_group(atoms) == EXPECTED[phase]


@pytest.mark.parametrize("tilts", [(4.0, 11.0), (12.0, 3.0), (20.0, 15.0)])
def test_pnma_with_unequal_tilts(tilts):
    atoms = build_structure(SYSTEMS[0], "Pnma", tilt_angles=tilts)
    assert space_group(atoms) == 62


@pytest.mark.parametrize(("phase", "zero"), [("P4/mbm", (0.0,)), ("I4/mcm", (0.0,)), ("Pnma", (0.0, 0.0))])
def test_zero_tilt_gives_the_cubic_cell(phase, zero):
    system = SYSTEMS[1]
    atoms = build_structure(system, phase, tilt_angles=zero)
    cubic = build_structure(system, "Pm-3m")
    assert space_group(atoms) == 221
    a = 2 * system.end_members[0]
    np.testing.assert_allclose(atoms.cell.cellpar(), [a, a, a, 90, 90, 90], atol=1e-10)
    np.testing.assert_allclose(atoms.positions, cubic.positions, atol=1e-10)


@pytest.mark.parametrize("phase", PHASES)
def test_octahedra_are_rigid_and_lattice_follows_tilts(phase):
    system = SYSTEMS[1]
    d = system.end_members[0] / 2
    atoms = build_structure(system, phase)
    dist = atoms.get_all_distances(mic=True)[8:16, 16:]
    bonds = np.sort(dist, axis=1)[:, :6]
    assert (np.sort(dist, axis=1)[:, 6] > 1.3 * d).all()  # six X around every B
    tol = 1e-10 if phase != "Pnma" else 2e-3 * d  # Pnma: rigid to second order in the tilts
    np.testing.assert_allclose(bonds, d, atol=tol)
    volume_per_fu = atoms.get_volume() / 8
    if phase == "Pm-3m":
        assert volume_per_fu == pytest.approx((2 * d) ** 3)
    else:
        assert volume_per_fu < (2 * d) ** 3  # tilting shrinks the cell
    if phase in ("P4/mbm", "I4/mcm"):
        a, b, c = atoms.cell.lengths()
        assert a == pytest.approx(b) and a == pytest.approx(c * np.cos(np.radians(8.0)))


@pytest.mark.parametrize(
    ("alias", "name"),
    [("cubic", "Pm-3m"), ("pm3m", "Pm-3m"), ("221", "Pm-3m"), ("a0a0c+", "P4/mbm"),
     ("P4MBM", "P4/mbm"), ("i4/mcm", "I4/mcm"), ("a0a0c-", "I4/mcm"), ("orthorhombic", "Pnma"),
     ("a-b+a-", "Pnma")],
)
def test_phase_aliases(alias, name):
    assert normalise_phase(alias) == name


def test_unknown_phase_lists_allowed_names():
    with pytest.raises(ValueError, match=r"phase.*'R3c'.*allowed.*Pm-3m.*Pnma"):
        normalise_phase("R3c")
