"""Parse FHI-aims standard output (``aims.out``): steps, energies, forces, stress, status.

One :class:`AimsStep` per geometry that was evaluated (a single point has one, a
relaxation one per force evaluation). Within a step the last printed values win, except
the provisional results printed before FHI-aims restarts its mixer, which are skipped.
Energies are the "Electronic free energy" in eV (what forces are consistent with, and
what ASE reports as ``energy``); stress is the 3x3 tensor in eV/Å^3. The output lines
this parser relies on are listed in ``docs/fhi-aims.md``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

COMPLETED = "Have a nice day."
SCF_CONVERGED = "Self-consistency cycle converged."
MIXER_RESTART = "Self-consistency cycle not yet converged - restarting mixer"
RELAX_CONVERGED = "Present geometry is converged."

# error name -> texts that identify it in aims.out (the failure table of docs/fhi-aims.md)
ERROR_MARKERS: dict[str, tuple[str, ...]] = {
    "scf_not_converged": ("scf_solver: SCF cycle not converged",),
    "trusted_descent": ("trusted_descent",),
    "close_encounter": ("check_for_close_encounters",),
    "too_many_neighbors": ("get_neighbor_lists: Too many neighbors",),
    "ill_conditioned_overlap": ("Ill-conditioned overlap matrix detected",),
    "cpu_consistency": ("check_cpu_consistency_matrix",),
}


@dataclass
class AimsStep:
    """One evaluated geometry."""

    atoms: Atoms
    energy: float | None = None  # electronic free energy, eV
    total_energy: float | None = None  # "Total energy uncorrected", eV
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None  # 3x3, eV/Å^3
    scf_converged: bool | None = None  # None: the output does not say
    scf_iterations: int = 0

    @property
    def complete(self) -> bool:
        """Energy and forces both printed for this geometry."""
        return self.energy is not None and self.forces is not None and self.scf_converged is not False


@dataclass
class AimsOutput:
    steps: list[AimsStep] = field(default_factory=list)
    n_atoms: int | None = None
    completed: bool = False
    is_relaxation: bool = False
    relaxation_converged: bool = False
    relaxation_steps: int = 0  # "Relaxation step number" lines
    final_atoms: Atoms | None = None  # the "Final atomic structure" block
    final_total_energy: float | None = None  # "Total energy of the DFT / Hartree-Fock s.c.f."
    errors: list[str] = field(default_factory=list)  # keys of ERROR_MARKERS found
    # the last geometry block printed in full (restart point), or None
    last_complete_geometry: Atoms | None = None

    @property
    def scf_converged(self) -> bool:
        return "scf_not_converged" not in self.errors and all(s.scf_converged is not False for s in self.steps)

    @property
    def complete_steps(self) -> list[AimsStep]:
        return [s for s in self.steps if s.complete]


def _ev(line: str) -> float:
    """The value in eV on an energy line (either 'x Ha y eV' or 'y eV')."""
    words = line.split(":", 1)[1].split()
    return float(words[words.index("eV") - 1])


def _floats(words: list[str]) -> list[float]:
    return [float(w) for w in words]


def _input_geometry(lines: list[str], start: int, n_atoms: int | None) -> tuple[Atoms | None, int]:
    """Parse the header's 'Input geometry:' block starting after ``start``."""
    cell: list[list[float]] = []
    symbols: list[str] = []
    positions: list[list[float]] = []
    i = start + 1
    while i < len(lines):
        words = lines[i].split()
        if words[:3] == ["|", "Unit", "cell:"]:
            try:
                cell = [_floats(lines[i + k].split()[1:4]) for k in (1, 2, 3)]
            except (IndexError, ValueError):
                return None, i
            i += 4
            continue
        if words[:3] == ["|", "Atomic", "structure:"]:
            i += 2  # skip the column header
            while i < len(lines):
                w = lines[i].split()
                if len(w) >= 7 and w[0] == "|" and w[1].endswith(":") and w[2] == "Species":
                    try:
                        positions.append(_floats(w[4:7]))
                    except ValueError:
                        break
                    symbols.append(w[3])
                    i += 1
                else:
                    break
            break
        if words[:1] == ["|"] or not words:
            i += 1
            continue
        break
    # complete only if all atoms were printed and the block was closed by another line
    if not symbols or (n_atoms is not None and len(symbols) != n_atoms) or i >= len(lines):
        return None, i
    atoms = Atoms(symbols, positions=positions, cell=cell or None, pbc=bool(cell))
    return atoms, i


def _structure_block(lines: list[str], start: int, periodic: bool, n_atoms: int | None) -> tuple[Atoms | None, int]:
    """Parse an 'Updated/Final atomic structure:' block starting after ``start``."""
    cell: list[list[float]] = []
    symbols: list[str] = []
    positions: list[list[float]] = []
    i = start + 1
    closed = False
    while i < len(lines):
        words = lines[i].split()
        if not words or words[:3] == ["x", "[A]", "y"]:
            i += 1
            continue
        try:
            if words[0] == "lattice_vector" and len(words) >= 4:
                cell.append(_floats(words[1:4]))
            elif words[0] == "atom" and len(words) >= 5:
                positions.append(_floats(words[1:4]))
                symbols.append(words[4])
            elif words[0] in ("velocity", "constrain_relaxation"):
                pass
            else:
                closed = True
                break
        except ValueError:  # a line cut in the middle of a number
            break
        i += 1
    if not closed or not symbols or (n_atoms is not None and len(symbols) != n_atoms):
        return None, i
    if periodic and len(cell) != 3:
        return None, i
    return Atoms(symbols, positions=positions, cell=cell or None, pbc=len(cell) == 3), i


def _stress_block(lines: list[str], start: int) -> np.ndarray | None:
    try:
        rows = [_floats(lines[start + k].split()[2:5]) for k in (5, 6, 7)]
    except (IndexError, ValueError):
        return None
    return np.array(rows) if all(len(r) == 3 for r in rows) else None


def _forces_block(lines: list[str], start: int, n_atoms: int) -> np.ndarray | None:
    rows = []
    for k in range(1, n_atoms + 1):
        if start + k >= len(lines):
            return None
        words = lines[start + k].split()
        if len(words) < 5 or words[0] != "|":
            return None
        try:
            rows.append(_floats(words[-3:]))
        except ValueError:
            return None
    return np.array(rows)


def complete_lines(text: str) -> list[str]:
    """The lines of ``text`` without a last line that has no newline yet: a program still
    writing it (or killed while writing it) may have printed half a number."""
    lines = text.splitlines()
    if lines and not text.endswith(("\n", "\r")):
        lines.pop()
    return lines


def parse_aims_output(text: str) -> AimsOutput:
    """Parse the text of an ``aims.out``; works on outputs that stop anywhere (a killed
    run, a file read while FHI-aims writes it) and never raises on them: a line that is
    not what its marker promises is skipped, and an unfinished run has ``completed`` False."""
    lines = complete_lines(text)
    out = AimsOutput()
    state = _ParseState()
    for i, line in enumerate(lines):
        try:
            _parse_line(lines, i, line, out, state)
        except (ValueError, IndexError):
            continue  # a malformed or garbled line: not a result
    return out


@dataclass
class _ParseState:
    step: AimsStep | None = None
    provisional: bool = False


def _parse_line(lines: list[str], i: int, line: str, out: AimsOutput, state: _ParseState) -> None:
    step = state.step
    stripped = line.strip()
    for name, markers in ERROR_MARKERS.items():
        if name not in out.errors and any(m in line for m in markers):
            out.errors.append(name)
    if stripped.startswith("| Number of atoms") and out.n_atoms is None:
        out.n_atoms = int(stripped.split(":")[1])
    elif stripped == "Input geometry:" and not out.steps:
        atoms, _ = _input_geometry(lines, i, out.n_atoms)
        if atoms is not None:
            step = state.step = AimsStep(atoms=atoms)
            out.steps.append(step)
            out.last_complete_geometry = atoms.copy()
    elif stripped.startswith("Updated atomic structure:") or stripped.startswith("Final atomic structure:"):
        periodic = bool(out.steps) and bool(out.steps[0].atoms.pbc.all())
        atoms, _ = _structure_block(lines, i, periodic, out.n_atoms)
        if atoms is None:
            return
        out.last_complete_geometry = atoms.copy()
        if stripped.startswith("Final"):
            out.final_atoms = atoms
        else:
            step = state.step = AimsStep(atoms=atoms)
            out.steps.append(step)
    elif stripped.startswith("Relaxation step number"):
        out.relaxation_steps += 1
        out.is_relaxation = True
    elif stripped.startswith("Geometry optimization: Attempting") or stripped.startswith("Geometry relaxation:"):
        out.is_relaxation = True
    elif stripped.startswith(RELAX_CONVERGED):
        out.relaxation_converged = True
    elif stripped.startswith(COMPLETED):
        out.completed = True
    elif stripped.startswith("| Total energy of the DFT / Hartree-Fock s.c.f. calculation"):
        out.final_total_energy = float(stripped.split()[-2])
    elif step is None:
        return
    elif stripped.startswith(MIXER_RESTART):
        # the energies printed since this SCF cycle began are not a result
        state.provisional = True
        step.energy = step.total_energy = None
    elif stripped.startswith("Begin self-consistency loop"):
        state.provisional = False
    elif stripped.startswith(SCF_CONVERGED):
        step.scf_converged = True
    elif "scf_solver: SCF cycle not converged" in line:
        step.scf_converged = False
    elif stripped.startswith("SCF ") and stripped.split()[1].isdigit() or stripped.startswith(
        "End self-consistency iteration #"
    ):
        step.scf_iterations += 1
    elif state.provisional:
        return
    elif stripped.startswith("| Electronic free energy") and "per atom" not in stripped:
        step.energy = _ev(stripped)
    elif stripped.startswith("| Total energy uncorrected"):
        step.total_energy = _ev(stripped)
    elif "Analytical stress tensor" in stripped or "Numerical stress tensor" in stripped:
        stress = _stress_block(lines, i)
        if stress is not None:
            step.stress = stress
    elif stripped.startswith("Total atomic forces") and out.n_atoms:
        forces = _forces_block(lines, i, out.n_atoms)
        if forces is not None:
            step.forces = forces


def read_aims_output(path: str | os.PathLike) -> AimsOutput:
    return parse_aims_output(Path(path).read_text(errors="replace"))


def voigt(stress: np.ndarray) -> np.ndarray:
    """3x3 -> (xx, yy, zz, yz, xz, xy), ASE's order."""
    s = np.asarray(stress, dtype=float)
    return np.array([s[0, 0], s[1, 1], s[2, 2], (s[1, 2] + s[2, 1]) / 2, (s[0, 2] + s[2, 0]) / 2, (s[0, 1] + s[1, 0]) / 2])
