"""Perovskite alloy supercells: phases from Glazer tilts, compositions, Vegard's law,
random deviations, and the symmetry constraint for relaxations.

Science code only: ASE ``Atoms`` in and out, no FireWorks or database imports.
"""
from __future__ import annotations

from perovflow.structures.cell import CELL_MODES, check_cell_mode, relaxation_target
from perovflow.structures.compositions import (
    N_X_SITES,
    check_composition,
    composition_string,
    enumerate_compositions,
)
from perovflow.structures.constraint import SymmetryConstraint
from perovflow.structures.generator import (
    build_structure,
    generate_calibration_set,
    generate_pool,
    generate_relaxation_starts,
    generate_test_set,
)
from perovflow.structures.phases import (
    GLAZER,
    PHASES,
    SPACE_GROUP_NUMBERS,
    normalise_phase,
    normalise_phases,
)
from perovflow.structures.settings import PerturbationSettings
from perovflow.structures.system import ALLOWED_A, ALLOWED_B, ALLOWED_X, PerovskiteSystem
from perovflow.structures.vegard import DEFAULT_LATTICE_CONSTANTS, vegard_lattice_constant

__all__ = [
    "ALLOWED_A",
    "ALLOWED_B",
    "ALLOWED_X",
    "CELL_MODES",
    "DEFAULT_LATTICE_CONSTANTS",
    "GLAZER",
    "N_X_SITES",
    "PHASES",
    "SPACE_GROUP_NUMBERS",
    "PerovskiteSystem",
    "PerturbationSettings",
    "SymmetryConstraint",
    "build_structure",
    "check_cell_mode",
    "check_composition",
    "composition_string",
    "enumerate_compositions",
    "generate_calibration_set",
    "generate_pool",
    "generate_relaxation_starts",
    "generate_test_set",
    "normalise_phase",
    "normalise_phases",
    "relaxation_target",
    "vegard_lattice_constant",
]
