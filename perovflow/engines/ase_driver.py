"""Labels and BFGS relaxations from any in-process ASE calculator (the stand-in oracles)."""
from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from perovflow.engines.base import EngineError, Label, Relaxation


def calculator_label(atoms: Atoms, calculator: Calculator, engine: str, is_dft: bool,
                     guard: AbstractContextManager | None = None) -> Label:
    """Energy, forces and (periodic cells) stress of ``atoms``; ``guard`` wraps the calculation."""
    if not np.all(np.isfinite(atoms.positions)):
        raise EngineError("structure has non-finite positions")
    start = time.perf_counter()
    work = atoms.copy()
    work.calc = calculator
    with guard or nullcontext():
        energy = float(work.get_potential_energy())
        forces = np.asarray(work.get_forces(), dtype=float)
        stress = np.asarray(work.get_stress(), dtype=float) if all(work.pbc) else None
    return Label(energy=energy, forces=forces, stress=stress, engine=engine,
                 is_dft=is_dft, seconds=time.perf_counter() - start)


def calculator_relaxation(atoms: Atoms, calculator: Calculator, engine: str, fmax: float, max_steps: int,
                          guard: Callable[[list[Label]], AbstractContextManager] | None = None) -> Relaxation:
    """ASE BFGS with one recorded label and structure per step; ``guard(labels)`` wraps the run."""
    from ase.optimize import BFGS

    work = atoms.copy()
    work.calc = calculator
    structures: list[Atoms] = []
    labels: list[Label] = []

    def record() -> None:
        labels.append(Label(energy=float(work.get_potential_energy()),
                            forces=np.asarray(work.get_forces(), float), engine=engine))
        structures.append(work.copy())

    optimizer = BFGS(work, logfile=None)
    optimizer.attach(record, interval=1)
    with guard(labels) if guard else nullcontext():
        converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    return Relaxation(structures=structures, labels=labels, converged=converged)
