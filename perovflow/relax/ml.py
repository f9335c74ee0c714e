"""ML relaxations that record energy, max force and GP sigma along the trajectory.

Seed defaults (000, IV.B): BFGS to fmax 0.005 eV/Å within 200 steps. The cell is kept
fixed (the KRR model has no stress); pass the structures module's SymmetryConstraint to
keep halides on their parent-phase sites while A and B move.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.optimize import BFGS

from perovflow.models.calculator import MBTRKRRCalculator

EV_TO_MEV = 1000.0


@dataclass
class MLRelaxation:
    energies: list[float] = field(default_factory=list)  # eV
    max_forces: list[float] = field(default_factory=list)  # eV/Å
    sigmas: list[float] = field(default_factory=list)  # meV/atom (empty without tracking)
    structures: list[Atoms] = field(default_factory=list)
    converged: bool = False

    @property
    def steps(self) -> int:
        return max(len(self.energies) - 1, 0)

    def first_crossing(self, threshold_mev: float) -> int | None:
        """Index of the first step whose sigma exceeds the threshold (meV/atom), or None."""
        above = np.flatnonzero(np.asarray(self.sigmas) > threshold_mev)
        return int(above[0]) if above.size else None


def ml_relax(atoms: Atoms, calculator: MBTRKRRCalculator, fmax: float = 0.005,
             max_steps: int = 200, track_sigma: bool = True, constraint=None) -> MLRelaxation:
    if fmax <= 0 or max_steps < 0:
        raise ValueError(f"fmax must be > 0 and max_steps >= 0, got {fmax}, {max_steps}")
    work = atoms.copy()
    if constraint is not None:
        work.set_constraint(constraint)
    work.calc = calculator
    trace = MLRelaxation()

    def record():
        calculator.get_property("forces", work)
        if track_sigma:
            trace.sigmas.append(calculator.get_property("sigma", work) * EV_TO_MEV)
        trace.energies.append(float(calculator.results["energy"]))
        trace.max_forces.append(float(np.linalg.norm(work.get_forces(), axis=1).max()))
        trace.structures.append(work.copy())

    optimizer = BFGS(work, logfile=None)
    optimizer.attach(record, interval=1)
    trace.converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    return trace
