"""What the paper's cell relaxation costs the MBTR-KRR model, measured side by side.

1. One ML force call of a 40-atom CsPb(Cl/Br)3 cell: DScribe's features and analytic
   position derivatives, against perovflow's own pass over the pairs that also gives the
   strain derivatives (the stress), and against the stress by central differences.
2. ML BFGS relaxations of the same starts (the paper's constraint, fmax 0.005 eV/Å, at
   most 200 steps) with the cell fixed, with ``UnitCellFilter`` (perovflow's choice) and
   with ``FrechetCellFilter``: steps, time per step, relaxed energies and volumes.

The model is MBTR-KRR fitted on CHGNet energies of a small pool (labels are made here, so
the script needs no stored data). Run: ``python benchmarks/bench_cell_relaxation.py``.
Prints a table and saves JSON to ``benchmarks/results/cell_relaxation.json``.
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ase.filters import FrechetCellFilter, UnitCellFilter  # noqa: E402
from ase.optimize import BFGS  # noqa: E402

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings  # noqa: E402
from perovflow.descriptors.mbtr_strain import k2_derivatives  # noqa: E402
from perovflow.models.calculator import MBTRKRRCalculator  # noqa: E402
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters  # noqa: E402
from perovflow.structures import (  # noqa: E402
    PHASES,
    PerovskiteSystem,
    SymmetryConstraint,
    generate_pool,
    generate_relaxation_starts,
)

RESULTS = ROOT / "benchmarks" / "results" / "cell_relaxation.json"
SYSTEM = PerovskiteSystem(a="Cs", b="Pb", x=("Cl", "Br"))
SETTINGS = MBTRSettings(species=("Cs", "Pb", "Cl", "Br"))


def per_call(function, repeats: int = 30) -> float:
    function()
    began = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - began) / repeats


def fitted_model(descriptor: MBTRDescriptor) -> KernelRidgeEnergy:
    from perovflow.engines.chgnet import CHGNetEngine

    pool = generate_pool(SYSTEM, phases=PHASES, per_composition=2, seed=11)
    engine = CHGNetEngine()
    energies = np.array([engine.single_point(atoms).energy / len(atoms) for atoms in pool])
    return KernelRidgeEnergy(KRRHyperparameters()).fit(descriptor.create(pool), energies)


def relax_all(starts, model, descriptor, target) -> dict:
    steps, rows = 0, []
    began = time.perf_counter()
    for start in starts:
        work = start.copy()
        work.set_constraint(SymmetryConstraint(work))
        work.calc = MBTRKRRCalculator(model, descriptor)
        optimizer = BFGS(target(work), logfile=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # scipy's logm accuracy notes
            converged = bool(optimizer.run(fmax=0.005, steps=200))
        steps += optimizer.nsteps
        rows.append({"converged": converged, "steps": optimizer.nsteps,
                     "energy_per_atom": work.get_potential_energy() / len(work),
                     "volume_ratio": work.get_volume() / start.get_volume()})
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "steps": steps, "ms_per_step": 1000 * seconds / max(steps, 1), "relaxations": rows}


def main() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)
    descriptor = MBTRDescriptor(SETTINGS)
    model = fitted_model(descriptor)
    atoms = generate_relaxation_starts(SYSTEM, phases=("Pnma",), per_phase=1, seed=3)[0]
    atoms.rattle(0.05, seed=1)
    calculator = MBTRKRRCalculator(model, descriptor)
    features = descriptor.create([atoms])[0]

    def central_difference_stress():
        calculator._strain_derivatives_now = None
        return calculator._stress(atoms, features)

    calls = {"dscribe_features_and_forces_ms": 1000 * per_call(lambda: descriptor.create_with_derivatives(atoms)),
             "perovflow_features_forces_and_strain_ms": 1000 * per_call(lambda: k2_derivatives(atoms, SETTINGS)),
             "central_difference_strain_ms": 1000 * per_call(central_difference_stress, repeats=5)}
    starts = generate_relaxation_starts(SYSTEM, phases=PHASES, per_phase=2, seed=1007)
    runs = {"fixed": relax_all(starts, model, descriptor, lambda w: w),
            "unit_cell_filter": relax_all(starts, model, descriptor, UnitCellFilter),
            "frechet_cell_filter": relax_all(starts, model, descriptor, FrechetCellFilter)}
    print("one ML force call, 40 atoms (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in calls.items()))
    print(f"{'cell':<20} {'steps':>6} {'ms/step':>8} {'converged':>9} {'mean V/V0':>9}")
    for name, run in runs.items():
        rows = run["relaxations"]
        print(f"{name:<20} {run['steps']:>6} {run['ms_per_step']:>8.1f} "
              f"{sum(r['converged'] for r in rows):>5}/{len(rows):<3} "
              f"{np.mean([r['volume_ratio'] for r in rows]):>9.4f}")
    same = max(abs(a["energy_per_atom"] - b["energy_per_atom"]) for a, b in
               zip(runs["unit_cell_filter"]["relaxations"], runs["frechet_cell_filter"]["relaxations"]))
    print(f"largest relaxed-energy difference, UnitCellFilter vs FrechetCellFilter: {1000 * same:.3f} meV/atom")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"calls": calls, "runs": runs, "filter_energy_difference_ev": same}, indent=1))
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
