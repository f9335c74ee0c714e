"""Helpers for the FHI-aims tests: ASE's real outputs, a fake species folder, run folders."""
from __future__ import annotations

from pathlib import Path

import ase
import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from perovflow.engines.aims.inputs import AimsSettings, write_inputs
from perovflow.engines.aims.outputs import read_aims_output

TESTDATA = Path(ase.__file__).parent / "test" / "testdata" / "aims"


def real_output(name: str) -> str:
    return (TESTDATA / name).read_text()


def ase_images(name: str) -> list[Atoms]:
    return ase.io.read(TESTDATA / name, format="aims-output", index=":")


def fake_species_text(symbol: str) -> str:
    z = atomic_numbers[symbol]
    return (
        "################################################################################\n"
        f"#  test stand-in for the FHI-aims 'tight' defaults of {symbol}\n"
        "################################################################################\n"
        f"  species        {symbol}\n"
        f"    nucleus             {z}\n"
        "    l_hartree           6\n"
        "    radial_base         24 7.0\n"
        "    angular_grids       specified\n"
        "      division   0.3   50\n"
        "      outer_grid  434\n"
        "    hydro 2 s 2.1\n"
    )


def make_species_dir(tmp_path: Path) -> Path:
    root = tmp_path / "species_defaults"
    (root / "tight").mkdir(parents=True)
    for symbol in ("H", "O", "Si", "Cs", "Pb", "Br"):
        name = f"{atomic_numbers[symbol]:02d}_{symbol}_default"
        (root / "tight" / name).write_text(fake_species_text(symbol))
    return root


def water() -> Atoms:
    """The molecule of ASE's singlepoint.out."""
    return read_aims_output(TESTDATA / "singlepoint.out").steps[0].atoms


def silicon() -> Atoms:
    """The starting cell of ASE's relax.out."""
    return read_aims_output(TESTDATA / "relax.out").steps[0].atoms


SP_SETTINGS = AimsSettings(k_grid=None)
RELAX_SETTINGS = AimsSettings(relax_unit_cell="full")


def cut_after(text: str, marker: str, occurrence: int = 1) -> str:
    """``text`` up to and including the line holding the n-th ``marker``."""
    lines = text.splitlines(keepends=True)
    seen = 0
    for i, line in enumerate(lines):
        if marker in line:
            seen += 1
            if seen == occurrence:
                return "".join(lines[: i + 1])
    raise AssertionError(f"{marker!r} occurs fewer than {occurrence} times")


def make_run(folder: Path, species_dir: Path, kind: str) -> Path:
    """A run folder with inputs for the water single point or the Si cell relaxation."""
    if kind == "sp":
        write_inputs(folder, water(), SP_SETTINGS, species_dir)
    else:
        write_inputs(folder, silicon(), RELAX_SETTINGS, species_dir, relax_fmax=0.01, max_steps=50)
    return folder


def positions_close(a: Atoms, b: Atoms, tol: float = 1e-6) -> bool:
    return np.abs(a.positions - b.positions).max() < tol and np.abs(a.cell.array - b.cell.array).max() < tol

