"""The four perovskite phases as 2x2x2 supercells of rigid, tilted octahedra.

Each B site (i, j, k) of the 2x2x2 grid carries an octahedron rotated by the
axis-angle vector ``omega = (s_x alpha_x, s_y alpha_y, s_z alpha_z)`` (Glazer tilts).
About a tilt axis, neighbours perpendicular to the axis always counter-rotate; along
the axis they rotate in the same sense for an in-phase (+) tilt and in opposite senses
for an anti-phase (-) tilt. Rotating by the axis-angle vector (rather than a product of
three rotations) keeps the construction covariant under the parent cubic group, so the
space group of the result is exactly that of the tilt system.

With B-X bond length ``d`` the B-B spacing along axis ``e`` is ``2 d (R e).e`` (the same
for every octahedron), so the lattice follows from the tilts; each X sits at the
midpoint of the two vertices that its two octahedra predict (these coincide exactly for
one tilt axis and to second order in the angles for Pnma).

Atom order in every structure: 8 A, 8 B, then 24 X (for B site s: the X along +a, +b, +c).
"""
from __future__ import annotations

import itertools

import numpy as np

PHASES: tuple[str, ...] = ("Pm-3m", "P4/mbm", "I4/mcm", "Pnma")
SPACE_GROUP_NUMBERS: dict[str, int] = {"Pm-3m": 221, "P4/mbm": 127, "I4/mcm": 140, "Pnma": 62}
GLAZER: dict[str, str] = {"Pm-3m": "a0a0a0", "P4/mbm": "a0a0c+", "I4/mcm": "a0a0c-", "Pnma": "a-b+a-"}
MAX_TILT_DEGREES = 30.0

# Per phase and axis (x, y, z): which tilt parameter drives it (-1: none; 0: first, 1: second)
# and whether the tilt is in phase along that axis.
_AXIS_PARAMETER: dict[str, tuple[int, int, int]] = {
    "Pm-3m": (-1, -1, -1),
    "P4/mbm": (-1, -1, 0),
    "I4/mcm": (-1, -1, 0),
    "Pnma": (0, 1, 0),
}
_IN_PHASE: dict[str, tuple[bool, bool, bool]] = {
    "Pm-3m": (False, False, False),
    "P4/mbm": (False, False, True),
    "I4/mcm": (False, False, False),
    "Pnma": (False, True, False),
}
# Number of independent tilt angles per phase (Pnma: a- shared by x and z, and b+).
N_TILT_PARAMETERS: dict[str, int] = {"Pm-3m": 0, "P4/mbm": 1, "I4/mcm": 1, "Pnma": 2}

_ALIASES: dict[str, str] = {}
for _name, _aliases in {
    "Pm-3m": ("pm-3m", "pm3m", "cubic", "221", "a0a0a0"),
    "P4/mbm": ("p4/mbm", "p4mbm", "127", "a0a0c+"),
    "I4/mcm": ("i4/mcm", "i4mcm", "140", "a0a0c-"),
    "Pnma": ("pnma", "orthorhombic", "62", "a-b+a-"),
}.items():
    for _alias in _aliases:
        _ALIASES[_alias] = _name

B_SITES = np.array(list(itertools.product(range(2), repeat=3)), dtype=int)  # (8, 3)
N_ATOMS = 40


def normalise_phase(name: str) -> str:
    """Canonical phase name for ``name`` (case-insensitive; aliases such as ``cubic``)."""
    key = str(name).strip().lower().replace(" ", "").replace("_", "")
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(
        f"phase: unknown phase {name!r}; allowed: {list(PHASES)} "
        f"(aliases: {sorted(_ALIASES)})"
    )


def normalise_phases(phases: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Canonical names for a list of phases, or ``"all"``; duplicates are rejected."""
    if isinstance(phases, str):
        phases = PHASES if phases.strip().lower() == "all" else tuple(phases.split(","))
    names = tuple(normalise_phase(p) for p in phases)
    if not names:
        raise ValueError(f"phases: give at least one phase; allowed: {list(PHASES)} or 'all'")
    if len(set(names)) != len(names):
        raise ValueError(f"phases: duplicates in {list(phases)}")
    return names


def tilt_signs(phase: str) -> np.ndarray:
    """Sign of each octahedron's rotation about x, y, z: shape (8, 3), zero for no tilt."""
    phase = normalise_phase(phase)
    signs = np.zeros((8, 3))
    for axis in range(3):
        if _AXIS_PARAMETER[phase][axis] < 0:
            continue
        others = [o for o in range(3) if o != axis]
        s = (-1.0) ** B_SITES[:, others].sum(axis=1)
        if not _IN_PHASE[phase][axis]:
            s = s * (-1.0) ** B_SITES[:, axis]
        signs[:, axis] = s
    return signs


def axis_tilts(phase: str, tilts: np.ndarray) -> np.ndarray:
    """Map tilt parameters (n, N_TILT_PARAMETERS[phase]) in radians to (n, 3) per-axis angles."""
    phase = normalise_phase(phase)
    tilts = np.asarray(tilts, float)
    out = np.zeros((tilts.shape[0], 3))
    for axis, p in enumerate(_AXIS_PARAMETER[phase]):
        if p >= 0:
            out[:, axis] = tilts[:, p]
    return out


def _rotation_matrices(omega: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, vectorised: omega (..., 3) axis-angle vectors -> (..., 3, 3)."""
    theta = np.linalg.norm(omega, axis=-1)
    safe = np.where(theta > 0, theta, 1.0)
    n = omega / safe[..., None]
    k = np.zeros(omega.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2] = -n[..., 2], n[..., 1]
    k[..., 1, 0], k[..., 1, 2] = n[..., 2], -n[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -n[..., 1], n[..., 0]
    s = np.sin(theta)[..., None, None]
    c = (1.0 - np.cos(theta))[..., None, None]
    return np.eye(3) + s * k + c * (k @ k)


def tilted_frames(phase: str, tilts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional positions and cell lengths of rigid tilted octahedra, in batch.

    ``tilts``: (n, N_TILT_PARAMETERS[phase]) tilt angles in radians. Returns
    ``frac`` (n, 40, 3) fractional coordinates (order A, B, X) and ``lengths`` (n, 3):
    the orthogonal supercell edges for unit B-X bond length (multiply by ``d``).
    """
    phase = normalise_phase(phase)
    tilts = np.asarray(tilts, float)
    if tilts.ndim != 2 or tilts.shape[1] != N_TILT_PARAMETERS[phase]:
        raise ValueError(
            f"tilts: expected shape (n, {N_TILT_PARAMETERS[phase]}) for {phase}, got {tilts.shape}"
        )
    n = tilts.shape[0]
    omega = tilt_signs(phase)[None, :, :] * axis_tilts(phase, tilts)[:, None, :]  # (n, 8, 3)
    rot = _rotation_matrices(omega)  # (n, 8, 3, 3)
    spacing = 2.0 * np.diagonal(rot[:, 0], axis1=-2, axis2=-1)  # (n, 3) B-B spacing per axis
    b_cart = B_SITES[None, :, :] * spacing[:, None, :]  # (n, 8, 3)
    a_cart = b_cart + 0.5 * spacing[:, None, :]
    x_cart = np.empty((n, 8, 3, 3))
    for axis in range(3):
        neighbour = B_SITES.copy()
        neighbour[:, axis] = (neighbour[:, axis] + 1) % 2
        nb_index = neighbour @ np.array([4, 2, 1])
        own = rot[:, :, :, axis]  # R_s e_axis, (n, 8, 3)
        other = rot[:, nb_index][..., axis]
        step = np.zeros((n, 1, 3))
        step[:, 0, axis] = spacing[:, axis]
        x_cart[:, :, axis, :] = b_cart + 0.5 * (step + own - other)
    cart = np.concatenate([a_cart, b_cart, x_cart.reshape(n, 24, 3)], axis=1)
    lengths = 2.0 * spacing
    frac = cart / lengths[:, None, :]
    frac -= np.floor(frac + 1e-9)
    return frac, lengths
