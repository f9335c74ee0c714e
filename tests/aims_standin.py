"""A stand-in for ``aims.x`` (FHI-aims cannot be installed here): it reads ``geometry.in``,
evaluates a Lennard-Jones potential for it and prints the result in the format of FHI-aims'
standard output, so the engine's inputs, custodian run, handlers and output parser all
work on it as on the real program."""
from __future__ import annotations

import sys
from pathlib import Path

from ase.data import atomic_numbers

LJ = dict(sigma=3.0, epsilon=0.02, rc=7.0, smooth=True)

LJ_AIMS = r'''
import os, sys
from pathlib import Path
from ase.calculators.lj import LennardJones
from perovflow.engines.aims.inputs import read_geometry

with open(os.environ["FAKE_AIMS_LOG"], "a") as log:
    log.write(f"{os.getpid()}\n")
atoms = read_geometry("geometry.in")
atoms.set_constraint()
atoms.calc = LennardJones(sigma=3.0, epsilon=0.02, rc=7.0, smooth=True)
energy = atoms.get_potential_energy()
forces = atoms.get_forces()
out = ["  Invoking FHI-aims ...", f"  | Number of atoms                   : {len(atoms):8d}", "",
       "  Input geometry:", "  | Unit cell:"]
out += ["  | " + "".join(f"{v:16.8f}" for v in row) for row in atoms.cell]
out += ["  | Atomic structure:", "  |       Atom                x [A]            y [A]            z [A]"]
out += [f"  | {i + 1:5d}: Species {s:2s} " + "".join(f"{v:16.8f}" for v in p)
        for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions))]
out += ["", "  Begin self-consistency loop: Initialization.", "  End self-consistency iteration #     1",
        "  Self-consistency cycle converged.",
        f"  | Total energy uncorrected      :   {energy / 27.211386:18.10f} Ha   {energy:18.10f} eV",
        f"  | Electronic free energy        :   {energy / 27.211386:18.10f} Ha   {energy:18.10f} eV",
        "  Total atomic forces (unitary forces cleaned) [eV/Ang]:"]
out += [f"  | {i + 1:5d} " + "".join(f"{v:20.12e}" for v in f) for i, f in enumerate(forces)]
if "compute_analytical_stress" in Path("control.in").read_text():
    stress = atoms.get_stress(voigt=False)
    out += ["", "  +-------------------------------------------------------------------+",
            "  |              Analytical stress tensor - Symmetrized               |",
            "  |                  Cartesian components [eV/A**3]                   |",
            "  +-------------------------------------------------------------------+",
            "  |                x                y                z                |",
            "  |                                                                   |"]
    out += [f"  |  {axis}  " + "".join(f"{v:17.8f}" for v in row) + "           |" for axis, row in zip("xyz", stress)]
out += ["", f"  | Total energy of the DFT / Hartree-Fock s.c.f. calculation      : {energy:20.10f} eV",
        "", "          Have a nice day.", ""]
sys.stdout.write("\n".join(out))
'''


def standin_aims(folder: Path, monkeypatch) -> tuple[list[str], Path]:
    """The command that runs the stand-in, and the file where each run appends its pid."""
    script = folder / "lj_aims.py"
    script.write_text(LJ_AIMS)
    log = folder / "aims.pids"
    log.touch()
    monkeypatch.setenv("FAKE_AIMS_LOG", str(log))
    return [sys.executable, str(script)], log


def runs(log: Path) -> int:
    return len(log.read_text().split())


def species_folder(folder: Path, symbols) -> Path:
    """``<folder>/species_defaults/tight/NN_X_default`` files the input writer accepts."""
    tight = folder / "species_defaults" / "tight"
    tight.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        z = atomic_numbers[symbol]
        (tight / f"{z:02d}_{symbol}_default").write_text(
            f"  species        {symbol}\n    nucleus             {z}\n    hydro 2 s 2.1\n")
    return folder / "species_defaults"
