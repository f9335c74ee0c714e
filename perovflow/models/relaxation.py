"""ML relaxations that record energy, max force and GP sigma along the trajectory.

Defaults of Homm et al. 2025 (IV.B): BFGS to fmax 0.005 eV/Å within 200 steps. Pass the
structures module's SymmetryConstraint to keep halides on their parent-phase sites while
A and B move; with ``cell="symmetric"`` the lattice relaxes too (the model's stress), kept
in the same symmetry by the constraint.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.optimize import BFGS
from threadpoolctl import threadpool_limits

from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.structures.cell import quiet_cell_filter, relaxation_target
from perovflow.units import EV_TO_MEV


@dataclass
class MLRelaxation:
    energies: list[float] = field(default_factory=list)  # eV
    max_forces: list[float] = field(default_factory=list)  # eV/Å, largest atomic force of each step
    sigmas: list[float] = field(default_factory=list)  # meV/atom (empty without tracking)
    structures: list[Atoms] = field(default_factory=list)
    converged: bool = False
    # the largest force the optimizer compared with fmax at the end: the atoms' and, with a
    # moving cell, the cell's stress terms (an atom-converged relaxation can stop on those)
    final_fmax: float | None = None

    @property
    def steps(self) -> int:
        return max(len(self.energies) - 1, 0)

    def first_crossing(self, threshold_mev: float) -> int | None:
        """Index of the first step whose sigma exceeds the threshold (meV/atom), or None."""
        above = np.flatnonzero(np.asarray(self.sigmas) > threshold_mev)
        return int(above[0]) if above.size else None


def ml_relax(
    atoms: Atoms,
    calculator: MBTRKRRCalculator,
    fmax: float = 0.005,
    max_steps: int = 200,
    track_sigma: bool = True,
    constraint=None,
    cell: str = "fixed",
) -> MLRelaxation:
    """BFGS relaxation with the ML model; the GP sigma of every step when ``track_sigma``.

    The sigmas are exact GP standard deviations of each recorded structure, computed after
    the run from the stored feature vectors in one blocked triangular solve: that reads
    the n x n Cholesky factor once per relaxation instead of once per step, which is
    what makes the trace cheap at 16,000 training structures (see benchmarks/bench_krr.py).
    """
    if fmax <= 0 or max_steps < 0:
        raise ValueError(f"fmax must be > 0 and max_steps >= 0, got {fmax}, {max_steps}")
    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(np.asarray(atoms.cell))):
        raise ValueError("start structure has non-finite positions or cell")
    known = set(calculator.descriptor.settings.species)
    foreign = sorted(set(atoms.get_chemical_symbols()) - known)
    if foreign:
        raise ValueError(f"start structure has species {foreign} that the model does not know; "
                         f"model species: {list(calculator.descriptor.settings.species)}")
    work = atoms.copy()
    if constraint is not None:
        work.set_constraint(constraint)
    work.calc = calculator
    trace = MLRelaxation()
    features: list[np.ndarray] = []

    def record():
        calculator.get_property("forces", work)
        if track_sigma:
            features.append(np.array(calculator.features, copy=True))
        trace.energies.append(float(calculator.results["energy"]))
        trace.max_forces.append(float(np.linalg.norm(work.get_forces(), axis=1).max()))
        trace.structures.append(work.copy())

    target = relaxation_target(work, cell)
    optimizer = BFGS(target, logfile=None)
    optimizer.attach(record, interval=1)
    # one BLAS thread for the steps: BFGS diagonalises a 3N x 3N Hessian every step, and
    # OpenBLAS threads on such small problems wait on each other (2.2 ms with one thread,
    # up to 130 ms with two on a busy 2-core machine); the batched sigma solve below,
    # which is large, gets all threads back
    with threadpool_limits(limits=1, user_api="blas"), quiet_cell_filter():
        trace.converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
        trace.final_fmax = float(np.linalg.norm(target.get_forces(), axis=1).max())
    if track_sigma and features:
        sigmas = calculator.model.sigma(np.vstack(features)) * EV_TO_MEV
        trace.sigmas = [float(s) for s in sigmas]
    return trace
