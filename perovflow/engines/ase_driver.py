"""Labels and BFGS relaxations from any in-process ASE calculator (the stand-in oracles),
and BFGS relaxations in which every force call is one labelled engine calculation (CP2K,
and FHI-aims where ``geometry.in`` cannot express the constraint)."""
from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from perovflow.engines.base import EngineError, Label, Relaxation
from perovflow.structures.cell import check_cell_mode, quiet_cell_filter, relaxation_target


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
    return Label(
        energy=energy, forces=forces, stress=stress, engine=engine, is_dft=is_dft, seconds=time.perf_counter() - start
    )


def calculator_relaxation(
    atoms: Atoms,
    calculator: Calculator,
    engine: str,
    fmax: float,
    max_steps: int,
    guard: Callable[[list[Label]], AbstractContextManager] | None = None,
    cell: str = "fixed",
) -> Relaxation:
    """ASE BFGS with one recorded label and structure per step; ``guard(labels)`` wraps the
    run. ``cell="symmetric"``: the cell relaxes too (see :mod:`perovflow.structures.cell`)
    and every label keeps its stress."""
    from ase.optimize import BFGS

    relaxes_cell = check_cell_mode(cell) != "fixed"
    work = atoms.copy()
    work.calc = calculator
    structures: list[Atoms] = []
    labels: list[Label] = []

    def record() -> None:
        try:
            label = Label(
                energy=float(work.get_potential_energy()),
                forces=np.asarray(work.get_forces(), float),
                engine=engine,
                stress=np.asarray(work.get_stress(apply_constraint=False), float) if relaxes_cell else None,
            )
        except EngineError as error:
            raise EngineError(f"relaxation step {len(labels)}: {error.reason}") from error
        labels.append(label)
        structures.append(work.copy())

    with guard(labels) if guard else nullcontext(), quiet_cell_filter():
        optimizer = BFGS(relaxation_target(work, cell), logfile=None)
        optimizer.attach(record, interval=1)
        converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    return Relaxation(structures=structures, labels=labels, converged=converged)


#: label_of(atoms, call): one engine calculation of ``atoms`` (without constraints: the
#: optimizer applies them), ``call`` counting the force calls of this relaxation from 0
LabelFunction = Callable[[Atoms, int], Label]


class _LabelCalculator(Calculator):
    """Lets ASE optimizers drive an engine's single points."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, label_of: LabelFunction):
        super().__init__()
        self.label_of = label_of
        self.calls = 0
        self.last_label: Label | None = None
        self.require_stress = False

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        plain = self.atoms.copy()
        plain.set_constraint()
        label = self.label_of(plain, self.calls)
        self.calls += 1
        self.last_label = label
        self.results = {"energy": label.energy, "free_energy": label.energy, "forces": np.asarray(label.forces)}
        if label.stress is not None:
            self.results["stress"] = np.asarray(label.stress)
        elif self.require_stress:
            raise EngineError(
                "relax.cell 'symmetric' needs the stress, and this engine's label has none "
                "(FHI-aims: set labelling.options.compute_stress: true; or relax.cell: fixed)",
                label.corrections,
            )


def driven_relaxation(
    atoms: Atoms, label_of: LabelFunction, fmax: float, max_steps: int, cell: str = "fixed"
) -> Relaxation:
    """ASE BFGS on the positions of ``atoms`` (its constraints applied by ASE) and, with
    ``cell="symmetric"``, its cell, one ``label_of`` call per step; every step's label and
    structure is recorded. A failed step raises :class:`EngineError` naming the step, with
    the corrections of all steps so far; so does a label without the stress a cell
    relaxation needs."""
    from ase.optimize import BFGS

    relaxes_cell = check_cell_mode(cell) != "fixed"
    work = atoms.copy()
    work.calc = _LabelCalculator(label_of)
    structures: list[Atoms] = []
    labels: list[Label] = []

    def record() -> None:
        labels.append(work.calc.last_label)
        structures.append(work.copy())

    optimizer = BFGS(relaxation_target(work, cell), logfile=None)
    optimizer.attach(record, interval=1)
    if relaxes_cell:
        work.calc.require_stress = True
    try:
        with quiet_cell_filter():
            converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
    except EngineError as error:
        done = [c for label in labels for c in label.corrections]
        raise EngineError(f"relaxation step {len(labels)}: {error.reason}", done + error.corrections) from error
    return Relaxation(structures=structures, labels=labels, converged=converged,
                      corrections=[c for label in labels for c in label.corrections])
