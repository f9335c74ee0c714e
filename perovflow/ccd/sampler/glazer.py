"""The 15 Glazer tilt systems of Howard and Stokes (1998) as 2x2x2 supercells of rigid
octahedra, in the atom order of :mod:`perovflow.structures.phases` (8 A, 8 B, 24 X).

Any symbol of the form ``a0b+c-`` works: per axis a letter (equal letters are tilts of
equal magnitude) and ``0``, ``+`` (in-phase) or ``-`` (anti-phase). Distinct non-zero
letters get magnitudes ``ratios`` (1, 0.8, 0.6 by default) times the tilt angle, so that
e.g. ``a+b+c+`` really has three different tilts.
"""
from __future__ import annotations

import re

import numpy as np
from ase import Atoms

from perovflow.structures.phases import B_SITES, _rotation_matrices

# symbol -> space group number (Howard & Stokes, Acta Cryst. B54, 782 (1998))
TILT_SYSTEMS: dict[str, int] = {
    "a0a0a0": 221, "a0a0c+": 127, "a0b+b+": 139, "a+a+a+": 204, "a+b+c+": 71,
    "a0a0c-": 140, "a0b-b-": 74, "a-a-a-": 167, "a0b-c-": 12, "a-b-b-": 15,
    "a-b-c-": 2, "a0b+c-": 63, "a+b-b-": 62, "a+b-c-": 11, "a+a+c-": 137,
}
DEFAULT_RATIOS = (1.0, 0.8, 0.6)
_SYMBOL = re.compile(r"^([a-c])([0+\-])([a-c])([0+\-])([a-c])([0+\-])$")


def parse_glazer(symbol: str, ratios: tuple[float, ...] = DEFAULT_RATIOS) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis tilt magnitude (relative) and in-phase flag of a Glazer symbol."""
    m = _SYMBOL.match(str(symbol).strip())
    if not m:
        raise ValueError(f"tilt system: cannot read Glazer symbol {symbol!r}; expected e.g. 'a0b+c-'; "
                         f"the 15 systems: {list(TILT_SYSTEMS)}")
    letters, signs = m.groups()[0::2], m.groups()[1::2]
    order = [l for l, s in dict.fromkeys(zip(letters, signs)) if s != "0"]
    distinct = list(dict.fromkeys(order))
    magnitude = np.array([0.0 if s == "0" else ratios[distinct.index(l)] for l, s in zip(letters, signs)])
    in_phase = np.array([s == "+" for s in signs])
    return magnitude, in_phase


def site_rotations(symbol: str, angle_deg: float, ratios: tuple[float, ...] = DEFAULT_RATIOS) -> np.ndarray:
    """Axis-angle vector of each of the 8 octahedra (8, 3) in radians."""
    magnitude, in_phase = parse_glazer(symbol, ratios)
    omega = np.zeros((8, 3))
    for axis in range(3):
        others = [o for o in range(3) if o != axis]
        s = (-1.0) ** B_SITES[:, others].sum(axis=1)
        if not in_phase[axis]:
            s = s * (-1.0) ** B_SITES[:, axis]
        omega[:, axis] = s * magnitude[axis] * np.radians(angle_deg)
    return omega


def build_tilted(symbol: str, angle_deg: float, bond: float, species: tuple[str, str, str] = ("Cs", "Pb", "Br"),
                 fixed_cell: bool = False, ratios: tuple[float, ...] = DEFAULT_RATIOS) -> Atoms:
    """A 2x2x2 supercell of octahedra with B-X bond length ``bond`` tilted by ``angle_deg``.

    ``fixed_cell=False``: rigid octahedra, the lattice shrinks with the tilts (as in
    :func:`perovflow.structures.phases.tilted_frames`). ``fixed_cell=True``: the cubic cell
    of lattice constant 2*bond is kept and only the X atoms move (a tilt mode applied to
    the ideal cubic structure). Each X sits at the midpoint of what its two octahedra predict.
    """
    if not np.isfinite(angle_deg) or abs(angle_deg) > 45:
        raise ValueError(f"tilt angle: expected |angle| <= 45 degrees, got {angle_deg}")
    rot = _rotation_matrices(site_rotations(symbol, angle_deg, ratios))  # (8, 3, 3)
    spacing = np.full(3, 2.0 * bond) if fixed_cell else 2.0 * bond * np.diagonal(rot[0])
    b_cart = B_SITES * spacing
    a_cart = b_cart + 0.5 * spacing
    x_cart = np.empty((8, 3, 3))
    for axis in range(3):
        neighbour = B_SITES.copy()
        neighbour[:, axis] = (neighbour[:, axis] + 1) % 2
        nb = neighbour @ np.array([4, 2, 1])
        step = np.zeros(3)
        step[axis] = spacing[axis]
        x_cart[:, axis] = b_cart + 0.5 * (step + bond * rot[:, :, axis] - bond * rot[nb][:, :, axis])
    positions = np.concatenate([a_cart, b_cart, x_cart.reshape(24, 3)])
    symbols = [species[0]] * 8 + [species[1]] * 8 + [species[2]] * 24
    atoms = Atoms(symbols, positions=positions, cell=np.diag(2.0 * spacing), pbc=True)
    atoms.wrap()
    return atoms
