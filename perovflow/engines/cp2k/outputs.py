"""Read a CP2K single-point output (``cp2k.out``) into ASE units."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import units

SCF_FAILED = "SCF run NOT converged"
SCF_DONE = "SCF run converged"
NORMAL_END = "PROGRAM ENDED AT"

_ENERGY = re.compile(r"ENERGY\| Total FORCE_EVAL \( QS \) energy [\[(]a\.u\.[\])]:\s+(\S+)")
_FORCES = "ATOMIC FORCES in [a.u.]"
_STRESS = re.compile(r"STRESS\| Analytical stress tensor \[GPa\]")


@dataclass
class Cp2kOutput:
    """What one ``cp2k.out`` says. Energies in eV, forces in eV/Å, stress in eV/Å³ (ASE)."""

    energy: float | None
    forces: np.ndarray | None
    stress: np.ndarray | None
    scf_failures: int
    scf_successes: int
    finished: bool
    abort_message: str | None

    @property
    def scf_converged(self) -> bool:
        return self.scf_failures == 0 and self.scf_successes > 0


def read_output(path: Path) -> Cp2kOutput:
    """What ``path`` says so far; never raises on an output cut anywhere (a killed run, a
    file read while CP2K writes it): a last line without its newline is not read, a block
    cut short gives None, and only ``PROGRAM ENDED AT`` makes the run ``finished``."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    if text and not text.endswith(("\n", "\r")):
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]  # half a line: maybe half a number
    lines = text.splitlines()
    energies = []
    for value in _ENERGY.findall(text):
        try:
            energies.append(float(value))
        except ValueError:
            continue
    return Cp2kOutput(
        energy=energies[-1] * units.Hartree if energies else None,
        forces=_last_forces(lines),
        stress=_last_stress(lines),
        scf_failures=text.count(SCF_FAILED),
        scf_successes=text.count(SCF_DONE),
        finished=NORMAL_END in text,
        abort_message=_abort_message(lines),
    )


def _last_forces(lines: list[str]) -> np.ndarray | None:
    starts = [i for i, line in enumerate(lines) if line.strip() == _FORCES]
    if not starts:
        return None
    rows = []
    for line in lines[starts[-1] + 1:]:
        tokens = line.split()
        if line.strip().startswith("SUM OF ATOMIC FORCES"):
            break
        # "# Atom Kind Element X Y Z" is the header; data rows begin with the atom index.
        if len(tokens) == 6 and tokens[0].isdigit():
            try:
                rows.append([float(t) for t in tokens[3:6]])
            except ValueError:
                return None
    else:
        return None  # the block was cut off (a killed run)
    if not rows:
        return None
    return np.asarray(rows) * units.Hartree / units.Bohr


def _last_stress(lines: list[str]) -> np.ndarray | None:
    starts = [i for i, line in enumerate(lines) if _STRESS.search(line)]
    if not starts:
        return None
    rows = []
    # header line "STRESS|  x  y  z", then three rows "STRESS|  x  s_xx s_xy s_xz"
    for line in lines[starts[-1] + 2:starts[-1] + 5]:
        tokens = line.split()
        if len(tokens) != 5 or tokens[0] != "STRESS|":
            return None
        try:
            rows.append([float(t) for t in tokens[2:5]])
        except ValueError:
            return None
    if len(rows) != 3:  # cut before the third row
        return None
    tensor = np.asarray(rows)
    # CP2K prints the pressure-like tensor (positive under compression): ASE's sign is opposite.
    tensor = -tensor * units.GPa
    return np.array([tensor[0, 0], tensor[1, 1], tensor[2, 2], tensor[1, 2], tensor[0, 2], tensor[0, 1]])


def _abort_message(lines: list[str]) -> str | None:
    """The text of CP2K's ``[ABORT]`` box, without its drawing."""
    for i, line in enumerate(lines):
        if "[ABORT]" in line:
            parts = []
            for row in lines[i + 1:]:
                if row.strip().startswith("*****"):
                    break
                # the drawing fills the first 11 columns of each row of the box
                text = row[11:].rstrip().rstrip("*").strip()
                if text:
                    parts.append(text)
            return " ".join(parts) or "CP2K aborted"
    return None
