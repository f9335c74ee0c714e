"""FHI-aims input files: ``control.in`` from one settings object, ``geometry.in`` from Atoms.

The physics of a label (functional, relativistic treatment, species defaults, k-grid,
spin, charge) lives in :class:`AimsSettings` and is hashed; numerical aids (mixing,
iteration limits, ...) may be preset in ``numerical`` and are not part of the hash.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import atomic_numbers

from perovflow import files
from perovflow.engines.aims.guard import NUMERICAL_KEYS

SPECIES_DIR_ENV = "AIMS_SPECIES_DIR"
CONTROL = "control.in"
GEOMETRY = "geometry.in"


@dataclass(frozen=True)
class AimsSettings:
    """Settings of one FHI-aims labelling campaign (defaults: those of Homm et al. 2025)."""

    xc: str = "pbesol"
    relativistic: str = "atomic_zora scalar"
    species_defaults: str = "tight"
    k_grid: tuple[int, int, int] | None = (4, 4, 4)
    spin: str = "none"
    charge: float = 0.0
    compute_forces: bool = True
    # analytical stress in single points; relaxations that move the cell always compute it
    compute_stress: bool = False
    relax_unit_cell: str | None = None  # None (fixed cell), "full" or "shape"
    numerical: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.k_grid is not None:
            k = tuple(int(v) for v in self.k_grid)
            if len(k) != 3 or min(k) < 1:
                raise ValueError(f"k_grid must be three positive integers or None, got {self.k_grid!r}")
            object.__setattr__(self, "k_grid", k)
        if self.relax_unit_cell not in (None, "full", "shape", "fixed_angles"):
            raise ValueError(
                f"relax_unit_cell must be None, 'full', 'shape' or 'fixed_angles', got {self.relax_unit_cell!r}"
            )
        bad = sorted(set(self.numerical) - NUMERICAL_KEYS)
        if bad:
            raise ValueError(
                f"numerical settings may only hold numerical aids {sorted(NUMERICAL_KEYS)}; got {bad}"
            )

    def physics(self) -> dict[str, Any]:
        """What defines a label: hashed, never changed by a correction."""
        out = asdict(self)
        out.pop("numerical")
        out["k_grid"] = None if self.k_grid is None else list(self.k_grid)
        return out


def species_directory(species_dir: str | os.PathLike | None, tier: str) -> Path:
    """``<species_dir>/<tier>``, with ``species_dir`` falling back to ``$AIMS_SPECIES_DIR``."""
    root = species_dir if species_dir is not None else os.environ.get(SPECIES_DIR_ENV)
    if not root:
        raise FileNotFoundError(
            f"no FHI-aims species defaults configured: pass species_dir or set ${SPECIES_DIR_ENV} "
            f"to the folder that holds '{tier}/' (FHI-aims ships it as species_defaults/defaults_2020)"
        )
    folder = Path(root).expanduser() / tier
    if not folder.is_dir():
        raise FileNotFoundError(f"species defaults folder {folder} does not exist (species_dir={root!s}, tier={tier!r})")
    return folder


def species_files_sha256(species_dir: str | os.PathLike | None, tier: str) -> dict[str, str] | None:
    """sha256 of the content of every species-defaults file of ``<species_dir>/<tier>`` by
    file name, or None when no such folder is configured. Part of the settings hash: two
    species folders of the same tier name (``defaults_2010`` and ``defaults_2020``
    ``tight``) that differ in any file give different labels."""
    try:
        folder = species_directory(species_dir, tier)
    except FileNotFoundError:
        return None
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir()) if path.is_file() and path.name.endswith("_default")}


def species_block(symbol: str, folder: Path) -> str:
    """The text of ``<folder>/<NN>_<Symbol>_default`` (checked to be that species' block)."""
    if symbol not in atomic_numbers:
        raise ValueError(f"unknown chemical symbol {symbol!r}")
    path = folder / f"{atomic_numbers[symbol]:02d}_{symbol}_default"
    if not path.is_file():
        raise FileNotFoundError(f"species defaults for {symbol} not found: expected {path}")
    text = path.read_text()
    declared = [line.split() for line in text.splitlines() if line.split()[:1] == ["species"]]
    if not declared or len(declared[0]) < 2 or declared[0][1] != symbol:
        raise ValueError(f"{path} is not a species block for {symbol} (no 'species {symbol}' line)")
    return text if text.endswith("\n") else text + "\n"


def _fortran_bool(value: bool) -> str:
    return ".true." if value else ".false."


def control_lines(
    settings: AimsSettings, *, relax_fmax: float | None = None, max_steps: int | None = None
) -> list[tuple[str, str]]:
    """Keyword/value pairs of ``control.in`` (without species blocks)."""
    lines: list[tuple[str, str]] = [
        ("xc", settings.xc),
        ("relativistic", settings.relativistic),
        ("spin", settings.spin),
        ("charge", f"{settings.charge:g}"),
    ]
    if settings.k_grid is not None:
        lines.append(("k_grid", " ".join(str(k) for k in settings.k_grid)))
    lines.append(("compute_forces", _fortran_bool(settings.compute_forces)))
    relaxes_cell = relax_fmax is not None and settings.relax_unit_cell is not None
    if settings.compute_stress or relaxes_cell:
        if settings.k_grid is None:
            raise ValueError("stress needs a periodic calculation (k_grid)")
        lines.append(("compute_analytical_stress", ".true."))
    if relax_fmax is not None:
        if relax_fmax <= 0:
            raise ValueError(f"fmax must be positive, got {relax_fmax}")
        lines.append(("relax_geometry", f"trm {relax_fmax:g}"))
        if max_steps is not None:
            lines.append(("max_relaxation_steps", str(int(max_steps))))
        if relaxes_cell:
            lines.append(("relax_unit_cell", settings.relax_unit_cell))
    for key, value in settings.numerical.items():
        lines.append((key, str(value)))
    return lines


def control_text(
    settings: AimsSettings,
    symbols: list[str],
    species_dir: str | os.PathLike | None = None,
    *,
    relax_fmax: float | None = None,
    max_steps: int | None = None,
) -> str:
    folder = species_directory(species_dir, settings.species_defaults)
    out = [f"# perovflow FHI-aims input (species defaults: {settings.species_defaults})"]
    out += [f"{key:<28s}{value}" for key, value in control_lines(settings, relax_fmax=relax_fmax, max_steps=max_steps)]
    body = "\n".join(out) + "\n"
    unique = list(dict.fromkeys(symbols))
    return body + "".join(species_block(s, folder) for s in unique)


def geometry_can_express(constraints) -> bool:
    """Whether ``geometry.in`` can hold these ASE constraints (fixed atoms only)."""
    return all(isinstance(c, FixAtoms) for c in constraints)


def geometry_text(atoms: Atoms) -> str:
    fixed: set[int] = set()
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed.update(int(i) for i in constraint.get_indices())
        else:
            raise ValueError(f"geometry.in can express FixAtoms only, not {type(constraint).__name__}")
    out = ["# perovflow geometry"]
    if any(atoms.pbc):
        if not all(atoms.pbc):
            raise ValueError("FHI-aims needs either a fully periodic cell or none (pbc all True or all False)")
        out += ["lattice_vector " + " ".join(f"{v:18.10f}" for v in vec) for vec in atoms.cell]
    for i, (pos, sym) in enumerate(zip(atoms.positions, atoms.get_chemical_symbols())):
        out.append("atom " + " ".join(f"{v:18.10f}" for v in pos) + f" {sym}")
        if i in fixed:
            out.append("    constrain_relaxation .true.")
    return "\n".join(out) + "\n"


def read_geometry(path: str | os.PathLike) -> Atoms:
    """Read a ``geometry.in`` (lattice_vector, atom, atom_frac, constrain_relaxation .true.)."""
    cell: list[list[float]] = []
    symbols: list[str] = []
    cart: list[list[float] | None] = []
    frac: list[list[float] | None] = []
    fixed: list[int] = []
    for raw in Path(path).read_text().splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "lattice_vector":
            cell.append([float(v) for v in words[1:4]])
        elif words[0] in ("atom", "atom_frac"):
            xyz = [float(v) for v in words[1:4]]
            symbols.append(words[4])
            cart.append(xyz if words[0] == "atom" else None)
            frac.append(xyz if words[0] == "atom_frac" else None)
        elif words[0] == "constrain_relaxation" and words[1:2] == [".true."] and symbols:
            fixed.append(len(symbols) - 1)
    if cell and len(cell) != 3:
        raise ValueError(f"{path}: {len(cell)} lattice vectors (need 0 or 3)")
    cell_array = np.array(cell) if cell else np.zeros((3, 3))
    positions = [
        c if c is not None else list(np.dot(f, cell_array)) for c, f in zip(cart, frac)
    ]
    atoms = Atoms(symbols, positions=positions, cell=cell_array if cell else None, pbc=bool(cell))
    if fixed:
        atoms.set_constraint(FixAtoms(indices=fixed))
    return atoms


def write_inputs(
    directory: str | os.PathLike,
    atoms: Atoms,
    settings: AimsSettings,
    species_dir: str | os.PathLike | None = None,
    *,
    relax_fmax: float | None = None,
    max_steps: int | None = None,
) -> None:
    """Write ``control.in`` and ``geometry.in`` into ``directory`` (created if needed)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    control = control_text(
        settings, atoms.get_chemical_symbols(), species_dir, relax_fmax=relax_fmax, max_steps=max_steps
    )
    files.write_text_atomic(folder / GEOMETRY, geometry_text(atoms))
    files.write_text_atomic(folder / CONTROL, control)
