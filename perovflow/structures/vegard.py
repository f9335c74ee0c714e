"""End-member lattice constants and Vegard's law.

The table holds *default* pseudo-cubic lattice constants (Angstrom) of the cubic
(aristotype, Pm-3m) end members, rounded from experimental high-temperature cubic
phases where they exist and from DFT/extrapolated values otherwise. They are defaults
only: every user can override them per halide through
``PerovskiteSystem(lattice_constants={"Br": 5.9, ...})``.

Convention used by the structure builder: the B-X bond length of an undistorted
octahedron is half the Vegard lattice constant, so the cubic phase has exactly the
Vegard lattice constant and tilted phases shrink as the octahedra tilt.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# Defaults, not fitted values (Angstrom). Approximate literature values for the cubic phases.
DEFAULT_LATTICE_CONSTANTS: dict[tuple[str, str, str], float] = {
    ("Cs", "Pb", "Cl"): 5.61,
    ("Cs", "Pb", "Br"): 5.87,
    ("Cs", "Pb", "I"): 6.29,
    ("Cs", "Sn", "Cl"): 5.56,
    ("Cs", "Sn", "Br"): 5.80,
    ("Cs", "Sn", "I"): 6.22,
    ("Cs", "Ge", "Cl"): 5.43,
    ("Cs", "Ge", "Br"): 5.64,
    ("Cs", "Ge", "I"): 6.05,
}


def default_lattice_constant(a: str, b: str, x: str) -> float | None:
    """Default cubic lattice constant of the end member ``a b x3`` or None if not tabulated."""
    return DEFAULT_LATTICE_CONSTANTS.get((a, b, x))


def vegard_lattice_constant(
    counts: Sequence[int] | np.ndarray, end_members: Sequence[float] | Mapping[str, float]
) -> np.ndarray | float:
    """Lattice constant by Vegard's law: the count-weighted mean of the end members.

    ``counts`` is one composition (k halide counts) or an array of shape (n, k);
    ``end_members`` are the k end-member lattice constants in the same order.
    """
    values = np.asarray(
        list(end_members.values()) if isinstance(end_members, Mapping) else end_members, float
    )
    c = np.asarray(counts, float)
    if c.shape[-1] != values.shape[0]:
        raise ValueError(
            f"counts has {c.shape[-1]} halide entries but there are {values.shape[0]} "
            "end-member lattice constants; allowed: one count per halide of the system"
        )
    total = c.sum(axis=-1)
    if np.any(total <= 0):
        raise ValueError("counts must sum to a positive number of halide sites")
    result = (c @ values) / total
    return float(result) if result.ndim == 0 else result
