"""ML against label energies and forces on the held-out test set (the report's parity plots):
the model's predictions from stored features and, for forces, analytic MBTR derivatives."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.units import EV_TO_MEV


@dataclass(frozen=True)
class Parity:
    energy_label: np.ndarray  # eV/atom
    energy_ml: np.ndarray  # eV/atom
    force_label: np.ndarray  # eV/Å, every Cartesian component
    force_ml: np.ndarray  # eV/Å
    n_force_structures: int

    @property
    def n_energies(self) -> int:
        return len(self.energy_label)

    @property
    def energy_mae_mev(self) -> float | None:
        """meV/atom; None without points."""
        if not self.n_energies:
            return None
        return float(np.abs(self.energy_ml - self.energy_label).mean() * EV_TO_MEV)

    @property
    def force_mae_mev(self) -> float | None:
        """meV/Å over every component; None without forces."""
        if not len(self.force_label):
            return None
        return float(np.abs(self.force_ml - self.force_label).mean() * EV_TO_MEV)


def parity_on_test_set(model: KernelRidgeEnergy, descriptor: MBTRDescriptor, features: np.ndarray,
                    energies: Sequence[float], force_structures: Sequence[tuple[Atoms, np.ndarray]],
                    progress: Callable[[int, int], None] | None = None) -> Parity:
    """Energies per atom predicted from ``features`` (one row per entry of ``energies``) and
    forces predicted for each (structure, label forces) pair; ``progress(done, total)`` is
    called while forces are computed (the slow part: ~10 ms of derivatives per structure)."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) != len(energies):
        raise ValueError(f"{len(features)} feature rows for {len(energies)} energies")
    energy_ml = model.predict(features) if len(features) else np.zeros(0)
    labels, predicted = [], []
    for done, (atoms, forces) in enumerate(force_structures, start=1):
        x, derivatives = descriptor.create_with_derivatives(atoms)
        _, ml = model.energy_and_forces(x, derivatives)
        labels.append(np.asarray(forces, dtype=np.float64).ravel())
        predicted.append(ml.ravel())
        if progress is not None:
            progress(done, len(force_structures))
    return Parity(np.asarray(energies, dtype=np.float64), np.asarray(energy_ml, dtype=np.float64),
                  np.concatenate(labels) if labels else np.zeros(0),
                  np.concatenate(predicted) if predicted else np.zeros(0), len(labels))
