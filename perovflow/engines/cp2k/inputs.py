"""Write the CP2K input of one single point: ``cp2k.inp`` plus the atoms in ``structure.xyz``.

The coordinates live in their own XYZ file on purpose: custodian's CP2K tools parse and
rewrite ``cp2k.inp`` with pymatgen when a handler corrects it, and that rewrite does not
keep the order of the lines of a ``&COORD`` section (the forces would then belong to
the wrong atoms). Everything in ``cp2k.inp`` survives that rewrite unchanged; the XC
functional is a subsection (``&PBE``) for the same reason, since a section parameter
(``&XC_FUNCTIONAL PBE``) would be dropped.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from perovflow import files
from perovflow.engines.base import EngineError
from perovflow.engines.cp2k.settings import Cp2kSettings

INPUT = "cp2k.inp"
STRUCTURE = "structure.xyz"
OUTPUT = "cp2k.out"
STDERR = "cp2k.err"
PROJECT = "perovflow"
WAVEFUNCTION = f"{PROJECT}-RESTART.wfn"


@lru_cache(maxsize=16)
def _names_per_element(path: Path) -> dict[str, frozenset[str]]:
    """Basis-set or potential names per element in a CP2K data file (header lines only)."""
    names: dict[str, set[str]] = {}
    symbols = set(chemical_symbols[1:])
    for line in path.read_text(errors="replace").splitlines():
        tokens = line.split("#", 1)[0].split()
        if len(tokens) >= 2 and tokens[0] in symbols and not _is_number(tokens[1]):
            names.setdefault(tokens[0], set()).update(tokens[1:])
    return {element: frozenset(found) for element, found in names.items()}


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def check_data(elements: set[str], settings: Cp2kSettings, data: Path) -> None:
    """Fail early, saying what is missing, when a data file lacks an element's basis or potential."""
    for filename, wanted in ((settings.basis_file, settings.basis_set),
                             (settings.potential_file, settings.potential)):
        path = data / filename
        if not path.is_file():
            raise EngineError(f"CP2K data file {path} not found (Debian: apt-get install cp2k-data, "
                              "or set CP2K_DATA_DIR)")
        table = _names_per_element(path)
        missing = sorted(e for e in elements if wanted not in table.get(e, ()))
        if missing:
            raise EngineError(f"{path} has no {wanted} for {', '.join(missing)}")


def render_input(atoms: Atoms, settings: Cp2kSettings, data: Path) -> str:
    """The text of ``cp2k.inp`` (energy, forces and analytical stress at the Gamma point)."""
    cell = np.asarray(atoms.cell, dtype=float)
    kinds = "".join(
        f"    &KIND {element}\n"
        f"      BASIS_SET {settings.basis_set}\n"
        f"      POTENTIAL {settings.potential}\n"
        f"    &END KIND\n"
        for element in sorted(set(atoms.get_chemical_symbols()))
    )
    vectors = "".join(f"      {name} {_vector(row)}\n" for name, row in zip("ABC", cell))
    return (
        "&GLOBAL\n"
        f"  PROJECT {PROJECT}\n"
        "  RUN_TYPE ENERGY_FORCE\n"
        "  PRINT_LEVEL MEDIUM\n"
        "&END GLOBAL\n"
        "&FORCE_EVAL\n"
        "  METHOD QUICKSTEP\n"
        "  STRESS_TENSOR ANALYTICAL\n"
        "  &DFT\n"
        f"    BASIS_SET_FILE_NAME {data / settings.basis_file}\n"
        f"    POTENTIAL_FILE_NAME {data / settings.potential_file}\n"
        f"    CHARGE {settings.charge}\n"
        "    &MGRID\n"
        f"      CUTOFF {settings.cutoff_ry:g}\n"
        f"      REL_CUTOFF {settings.rel_cutoff_ry:g}\n"
        "    &END MGRID\n"
        "    &QS\n"
        f"      EPS_DEFAULT {settings.eps_default:.3e}\n"
        "    &END QS\n"
        f"{render_scf(settings)}"
        "    &XC\n"
        "      &XC_FUNCTIONAL\n"
        "        &PBE\n"
        "        &END PBE\n"
        "      &END XC_FUNCTIONAL\n"
        "    &END XC\n"
        "  &END DFT\n"
        "  &SUBSYS\n"
        "    &CELL\n"
        f"{vectors}"
        "      PERIODIC XYZ\n"
        "    &END CELL\n"
        "    &TOPOLOGY\n"
        f"      COORD_FILE_NAME {STRUCTURE}\n"
        "      COORD_FILE_FORMAT XYZ\n"
        "    &END TOPOLOGY\n"
        f"{kinds}"
        "  &END SUBSYS\n"
        "  &PRINT\n"
        "    &FORCES\n"
        "    &END FORCES\n"
        "    &STRESS_TENSOR\n"
        "    &END STRESS_TENSOR\n"
        "  &END PRINT\n"
        "&END FORCE_EVAL\n"
    )


def render_scf(settings: Cp2kSettings) -> str:
    solver = (
        "      &DIAGONALIZATION\n"
        "        ALGORITHM STANDARD\n"
        "      &END DIAGONALIZATION\n"
        "      &MIXING\n"
        "        METHOD BROYDEN_MIXING\n"
        f"        ALPHA {settings.mixing_alpha:g}\n"
        "      &END MIXING\n"
        if settings.scf_solver == "diagonalization" else
        "      &OT\n"
        "        MINIMIZER DIIS\n"
        "        PRECONDITIONER FULL_SINGLE_INVERSE\n"
        "      &END OT\n"
    )
    return (
        "    &SCF\n"
        f"      MAX_SCF {settings.max_scf}\n"
        f"      EPS_SCF {settings.eps_scf:.3e}\n"
        "      SCF_GUESS ATOMIC\n"
        f"{solver}"
        "    &END SCF\n"
    )


def _vector(row: np.ndarray) -> str:
    return " ".join(f"{x:.10f}" for x in row)


def render_xyz(atoms: Atoms) -> str:
    lines = [str(len(atoms)), "perovflow structure (Angstrom)"]
    lines += [f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in
              zip(atoms.get_chemical_symbols(), atoms.positions)]
    return "\n".join(lines) + "\n"


def write_inputs(atoms: Atoms, settings: Cp2kSettings, folder: Path, data: Path) -> Path:
    """Write ``cp2k.inp`` and ``structure.xyz`` into ``folder``; returns the input path."""
    if len(atoms) == 0:
        raise EngineError("cannot label an empty structure")
    if not all(atoms.pbc):
        raise EngineError("the CP2K engine handles periodic cells only (pbc must be True along x, y, z)")
    if not np.all(np.isfinite(atoms.positions)) or abs(atoms.cell.volume) < 1e-6:
        raise EngineError("structure has non-finite positions or a degenerate cell")
    check_data(set(atoms.get_chemical_symbols()), settings, data)
    folder.mkdir(parents=True, exist_ok=True)
    files.write_text_atomic(folder / STRUCTURE, render_xyz(atoms))
    path = folder / INPUT
    files.write_text_atomic(path, render_input(atoms, settings, data))
    return path
