"""CHGNet as a stand-in oracle (not DFT): its pretrained weights ship inside the wheel.

Every label carries ``engine="chgnet"`` and ``is_dft=False`` so that stand-in labels can
never be mistaken for DFT. The model is loaded once per process (``rlaunch rapidfire``
runs all its Fireworks in one process) because loading takes ~1.5 s.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms

from perovflow.engines.base import EngineError, Label, Relaxation, settings_hash


@lru_cache(maxsize=2)
def _calculator(model_version: str):
    import torch  # noqa: F401  (the start-up hook limits torch to one thread)
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(model_name=model_version, verbose=False, use_device="cpu")
    return CHGNetCalculator(model=model, use_device="cpu")


class CHGNetEngine:
    name = "chgnet"
    is_dft = False

    def __init__(self, model_version: str = "0.3.0"):
        self.model_version = model_version

    @property
    def settings(self) -> dict[str, Any]:
        return {"model_version": self.model_version}

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def single_point(self, atoms: Atoms) -> Label:
        if not np.all(np.isfinite(atoms.positions)):
            raise EngineError("structure has non-finite positions")
        start = time.perf_counter()
        work = atoms.copy()
        work.calc = _calculator(self.model_version)
        energy = float(work.get_potential_energy())
        forces = np.asarray(work.get_forces(), dtype=float)
        stress = np.asarray(work.get_stress(), dtype=float) if all(work.pbc) else None
        return Label(energy=energy, forces=forces, stress=stress, engine=self.name,
                     is_dft=False, seconds=time.perf_counter() - start)

    def relax(self, atoms: Atoms, fmax: float, max_steps: int) -> Relaxation:
        from ase.optimize import BFGS

        work = atoms.copy()
        work.calc = _calculator(self.model_version)
        structures, labels = [], []

        def record():
            labels.append(Label(energy=float(work.get_potential_energy()),
                                forces=np.asarray(work.get_forces(), float), engine=self.name))
            structures.append(work.copy())

        optimizer = BFGS(work, logfile=None)
        optimizer.attach(record, interval=1)
        converged = bool(optimizer.run(fmax=fmax, steps=max_steps))
        return Relaxation(structures=structures, labels=labels, converged=converged)
