"""Shared pieces of the CP2K tests: the 5-atom cell, recorded outputs, a fake data folder."""
from __future__ import annotations

import gzip
from pathlib import Path

from ase import Atoms

DATA = Path(__file__).parent / "data"


def cspbbr3(a: float = 5.9, cs_shift: float = 0.05) -> Atoms:
    """Cubic CsPbBr3 (5 atoms) with Cs moved off its site along x so that forces are not zero."""
    atoms = Atoms("CsPbBr3", cell=[a, a, a], pbc=True,
                  scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    atoms.positions[0, 0] += cs_shift
    return atoms


def recorded_output(name: str, folder: Path, as_name: str = "cp2k.out") -> Path:
    """Unpack one real CP2K 2023.1 output (Debian's cp2k.psmp on the cell above) into ``folder``."""
    path = folder / as_name
    path.write_bytes(gzip.decompress((DATA / f"{name}.out.gz").read_bytes()))
    return path


def fake_data_dir(folder: Path, elements: tuple[str, ...] = ("Cs", "Pb", "Br")) -> Path:
    """Basis and potential files with headers for ``elements`` only (enough for the checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    basis = "".join(f" {e} SZV-MOLOPT-SR-GTH SZV-MOLOPT-SR-GTH-q1\n 1\n 2 0 1 1 1 1\n 1.0 1.0 1.0\n"
                    for e in elements)
    potential = "".join(f"{e} GTH-PBE-q1 GTH-PBE\n 1\n 0.5 0\n 0\n" for e in elements)
    (folder / "BASIS_MOLOPT").write_text("# fake basis file\n" + basis)
    (folder / "GTH_POTENTIALS").write_text("# fake potential file\n" + potential)
    return folder
