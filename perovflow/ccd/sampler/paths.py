"""The evaluation paths of Thomas et al. 2019 (its Fig. 9): the cubic-tetragonal-orthorhombic
interpolation, in-phase and anti-phase tilt amplitudes applied to the ideal cubic
structure, and volumetric strain of the cubic cell."""
from __future__ import annotations

import numpy as np
from ase import Atoms

from perovflow.ccd.sampler.glazer import build_tilted
from perovflow.ccd.sampler.sampler import SPECIES, cubic, phase_path, strained

PATHS: tuple[str, ...] = ("interpolation", "in_phase_tilt", "anti_phase_tilt", "volumetric_strain")
PATH_AXES: dict[str, str] = {
    "interpolation": "0 cubic -> 1 tetragonal (a0a0c+) -> 2 orthorhombic (a-a-c+)",
    "in_phase_tilt": "in-phase tilt a0a0c+ on the cubic cell (degrees)",
    "anti_phase_tilt": "anti-phase tilt a0a0c- on the cubic cell (degrees)",
    "volumetric_strain": "linear strain of the cubic cell",
}


def evaluation_paths(a0: float, tetragonal_angle: float, orthorhombic_angle: float,
                     n: int = 12) -> dict[str, tuple[np.ndarray, list[Atoms]]]:
    """Path name -> (x values, structures)."""
    out: dict[str, tuple[np.ndarray, list[Atoms]]] = {}
    interp = phase_path(a0, tetragonal_angle, orthorhombic_angle, max(n // 2, 1))
    out["interpolation"] = (np.array([a.info["path_x"] for a in interp]), interp)
    angles = np.linspace(0.0, 15.0, n + 1)
    for name, symbol in (("in_phase_tilt", "a0a0c+"), ("anti_phase_tilt", "a0a0c-")):
        out[name] = (angles, [build_tilted(symbol, ang, a0 / 2.0, SPECIES, fixed_cell=True) for ang in angles])
    strains = np.linspace(-0.04, 0.04, n + 1)
    out["volumetric_strain"] = (strains, [strained(cubic(a0), np.eye(3) * e) for e in strains])
    return out
