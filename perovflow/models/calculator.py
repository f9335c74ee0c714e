"""An ASE calculator for MBTR-KRR: energy, analytic forces and stress, GP sigma on request."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.descriptors.mbtr_strain import STRAIN_NORMALIZATIONS, k2_features_and_strain_derivatives
from perovflow.models.krr import KernelRidgeEnergy


class MBTRKRRCalculator(Calculator):
    """``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å^3) and ``sigma`` (GP std of
    the energy, eV/atom).

    The stress is the strain derivative of the model's energy divided by the volume, from
    the analytic strain derivative of the MBTR (:mod:`perovflow.descriptors.mbtr_strain`)
    for the normalisations ``none`` and ``n_atoms`` (Table S1), else by central differences
    of the features under +-1e-5 strains. It is computed only when asked for (cell
    relaxations), as are sigmas.

    ``sigma`` costs a triangular solve against the training set, so it is only computed
    when asked for (``calc.get_property("sigma", atoms)``); asking for it after the forces
    of the same structure reuses their features. ``features`` holds the descriptor vector
    of the last structure, so callers can batch sigmas of many structures later
    (:meth:`KernelRidgeEnergy.sigma` on a stacked matrix reads the factor once).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "sigma"]
    strain_step = 1e-5

    def __init__(self, model: KernelRidgeEnergy, descriptor: MBTRDescriptor, **kwargs):
        super().__init__(**kwargs)
        if model.n_features != descriptor.n_features:
            raise ValueError(
                f"model was trained on {model.n_features} features but the descriptor makes "
                f"{descriptor.n_features} (species {list(descriptor.settings.species)}): "
                "use the descriptor settings stored with the model")
        self.model = model
        self.descriptor = descriptor
        self.features: np.ndarray | None = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if not system_changes and self.features is not None and "energy" in self.results:
            # same structure, energy and forces already known: only sigma or stress is new
            if "sigma" in properties:
                self.results["sigma"] = float(self.model.sigma(self.features[None, :])[0])
            if "stress" in properties:
                self.results["stress"] = self._stress(self.atoms, self.features)
            return
        super().calculate(atoms, properties, system_changes)
        features, derivatives = self.descriptor.create_with_derivatives(self.atoms)
        energy, forces = self.model.energy_and_forces(features, derivatives)
        self.features = features
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if "sigma" in properties:
            self.results["sigma"] = float(self.model.sigma(features[None, :])[0])
        if "stress" in properties:
            self.results["stress"] = self._stress(self.atoms, features)

    def _stress(self, atoms: Atoms, features: np.ndarray) -> np.ndarray:
        """Voigt stress (eV/Å^3): (1/V) dE/d(strain) = (N/V) g . dx/d(strain)."""
        if not all(atoms.pbc):
            raise ValueError("stress: the structure must be periodic in all three directions")
        _, gradient = self.model.energy_gradient(features)
        strain_derivatives = self._strain_derivatives(atoms)
        full = len(atoms) * np.einsum("abk,k->ab", strain_derivatives, gradient) / atoms.get_volume()
        return full_3x3_to_voigt_6_stress(0.5 * (full + full.T))

    def _strain_derivatives(self, atoms: Atoms) -> np.ndarray:
        settings = self.descriptor.settings
        if settings.normalization in STRAIN_NORMALIZATIONS:
            return k2_features_and_strain_derivatives(atoms, settings)[1]
        h = self.strain_step
        strained = []
        for a in range(3):
            for b in range(3):
                for sign in (1.0, -1.0):
                    eps = np.zeros((3, 3))
                    eps[a, b] += sign * h / 2
                    eps[b, a] += sign * h / 2
                    copy = atoms.copy()
                    copy.set_constraint()
                    copy.set_cell(np.array(atoms.cell) @ (np.eye(3) + eps).T, scale_atoms=True)
                    strained.append(copy)
        rows = self.descriptor.create(strained).reshape(3, 3, 2, -1)
        return (rows[:, :, 0] - rows[:, :, 1]) / (2 * h)
