"""Extended XYZ frames whose numbers read back exactly.

ASE's writer prints positions and forces with 8 decimals, which moves atoms by up to
5e-9 Å: enough to change a structure's content id (positions rounded to 1e-5 Å) and its
MBTR features in the last digits (measured on the export tests' campaign: features off by
9e-10, refitted weights by 2e-5, and 1-3 training structures of each active-learning refit
with another content id). Here every float is written as Python's ``repr`` (the
shortest text that reads back to the same double); the comment line is ASE's own
(:func:`ase.io.extxyz.key_val_dict_to_str`), so ``ase.io.read(path, index=":")`` reads the
files and gives energy, forces and stress through ``atoms.calc``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from ase import Atoms
from ase.io.extxyz import key_val_dict_to_str
from ase.stress import voigt_6_to_full_3x3_stress


@dataclass
class Frame:
    """One structure with its label (eV, eV/Å, Voigt eV/Å^3; None where not labelled)."""

    atoms: Atoms
    info: dict[str, Any] = field(default_factory=dict)
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None


def _number(value: float) -> str:
    return repr(float(value))


def frame_text(frame: Frame) -> str:
    atoms = frame.atoms
    columns = ["species:S:1", "pos:R:3"]
    if frame.forces is not None:
        forces = np.asarray(frame.forces, dtype=float).reshape(len(atoms), 3)
        columns.append("forces:R:3")
    info: dict[str, Any] = {}
    if frame.energy is not None:
        info["energy"] = float(frame.energy)
    if frame.stress is not None:
        info["stress"] = voigt_6_to_full_3x3_stress(np.asarray(frame.stress, dtype=float))
    info.update({key: value for key, value in frame.info.items() if value is not None})
    info["pbc"] = np.array([bool(p) for p in atoms.pbc])
    # Lattice is the transpose of ASE's cell in Fortran order, i.e. the cell vectors in turn
    lattice = " ".join(_number(x) for x in np.asarray(atoms.cell).reshape(9))
    header = f'Lattice="{lattice}" Properties={":".join(columns)} {key_val_dict_to_str(info)}'
    lines = [str(len(atoms)), header]
    for i, (symbol, position) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        values = [*position, *(forces[i] if frame.forces is not None else ())]
        lines.append(" ".join([symbol, *map(_number, values)]))
    return "\n".join(lines) + "\n"


def frames_text(frames: Iterable[Frame]) -> str:
    return "".join(frame_text(frame) for frame in frames)
