"""Relaxations for the relaxation test without a store: the oracle's, cached on disk (keyed
by start, symmetry reference, fmax, step limit and oracle settings), and the ML model's with
the campaign's settings (BFGS to ``active.ml_fmax``, halides and cell in the start's symmetry)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.relaxation import MLRelaxation, ml_relax
from perovflow.settings import ActiveSettings, RelaxSettings
from perovflow.structures import SymmetryConstraint
from perovflow.structures.identity import structure_id

CELL = RelaxSettings().cell  # the campaign's default: the lattice relaxes within the phase's symmetry


@dataclass
class OracleRelaxation:
    structures: list[Atoms]
    energies_per_atom: list[float]  # eV/atom, one per step
    converged: bool

    @property
    def steps(self) -> int:
        return len(self.structures) - 1

    @property
    def energy_per_atom(self) -> float:
        return self.energies_per_atom[-1]


class CachedRelaxations:
    """The oracle's relaxations, each stored as one .npz under ``folder``."""

    def __init__(self, engine, folder: Path):
        self.engine = engine
        self.folder = Path(folder)
        self.new_relaxations = 0
        self.new_calls = 0

    def relax(self, start: Atoms, reference: Atoms, fmax: float, max_steps: int) -> OracleRelaxation:
        payload = [structure_id(start), structure_id(reference), fmax, max_steps, CELL, self.engine.name,
                   self.engine.settings_hash]
        key = hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:20]
        path = self.folder / f"relax_{key}.npz"
        if not path.is_file():
            work = start.copy()
            work.set_constraint(SymmetryConstraint(work, reference=reference))
            result = self.engine.relax(work, fmax=fmax, max_steps=max_steps, cell=CELL)
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".partial.npz")
            np.savez(temporary, positions=np.array([a.positions for a in result.structures]),
                     cells=np.array([np.asarray(a.cell) for a in result.structures]),
                     energies=np.array([label.energy / len(start) for label in result.labels]),
                     converged=np.array(bool(result.converged)))
            temporary.replace(path)
            self.new_relaxations += 1
            self.new_calls += len(result.labels)
        data = np.load(path)
        structures = []
        for positions, cell in zip(data["positions"], data["cells"]):
            atoms = Atoms(numbers=start.numbers, positions=positions, cell=cell, pbc=True)
            atoms.info["phase"] = start.info.get("phase")
            structures.append(atoms)
        return OracleRelaxation(structures, [float(e) for e in data["energies"]], bool(data["converged"]))


def ml_relaxation(start: Atoms, model, descriptor, max_steps: int, track_sigma: bool) -> MLRelaxation:
    """The campaign's ML relaxation of ``start`` with an MBTR-KRR model."""
    return ml_relax(start, MBTRKRRCalculator(model, descriptor), fmax=ActiveSettings().ml_fmax, max_steps=max_steps,
                    track_sigma=track_sigma, constraint=SymmetryConstraint(start), cell=CELL)
