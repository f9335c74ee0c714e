"""An ASE calculator for MBTR-KRR: energy, analytic forces and stress, GP sigma on request."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.descriptors.mbtr_strain import STRAIN_NORMALIZATIONS, k2_derivatives
from perovflow.models.krr import KernelRidgeEnergy


class MBTRKRRCalculator(Calculator):
    """``energy`` (eV), ``forces`` (eV/Å), ``stress`` (eV/Å^3) and ``sigma`` (GP std of
    the energy, eV/atom).

    The stress is the strain derivative of the model's energy divided by the volume. For the
    normalisations ``none`` and ``n_atoms`` (Table S1) features, forces and stress come from
    one analytic pass over the atom pairs (:mod:`perovflow.descriptors.mbtr_strain`); for
    the others forces come from DScribe and the stress from central differences of the
    features under +-1e-5 strains, computed only when asked for (cell relaxations).

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
        self._strain_derivatives_now: np.ndarray | None = None  # of the structure in self.atoms

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if not system_changes and self.features is not None and "energy" in self.results:
            # same structure, energy and forces already known: only sigma or stress is new
            if "sigma" in properties:
                self.results["sigma"] = float(self.model.sigma(self.features[None, :])[0])
            if "stress" in properties:
                self.results["stress"] = self._stress(self.atoms, self.features)
            return
        super().calculate(atoms, properties, system_changes)
        features, derivatives = self._features_and_derivatives(self.atoms)
        energy, forces = self.model.energy_and_forces(features, derivatives)
        self.features = features
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if "sigma" in properties:
            self.results["sigma"] = float(self.model.sigma(features[None, :])[0])
        if "stress" in properties:
            self.results["stress"] = self._stress(self.atoms, features)

    def _features_and_derivatives(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """Features and position derivatives; the strain derivatives come along (kept for a
        stress request) where the normalisation allows perovflow's own k=2 pass, which
        also replaces DScribe's slower derivatives."""
        self._strain_derivatives_now = None
        if self.descriptor.settings.normalization in STRAIN_NORMALIZATIONS:
            self.descriptor.check(atoms)
            terms = k2_derivatives(atoms, self.descriptor.settings)
            self._strain_derivatives_now = terms.strain
            return terms.features, terms.positions
        return self.descriptor.create_with_derivatives(atoms)

    def _stress(self, atoms: Atoms, features: np.ndarray) -> np.ndarray:
        """Voigt stress (eV/Å^3): (1/V) dE/d(strain) = (N/V) g . dx/d(strain)."""
        if not all(atoms.pbc):
            raise ValueError("stress: the structure must be periodic in all three directions")
        _, gradient = self.model.energy_gradient(features)
        strain_derivatives = self._strain_derivatives(atoms)
        full = len(atoms) * np.einsum("abk,k->ab", strain_derivatives, gradient) / atoms.get_volume()
        return full_3x3_to_voigt_6_stress(0.5 * (full + full.T))

    def _strain_derivatives(self, atoms: Atoms) -> np.ndarray:
        if self._strain_derivatives_now is not None:
            return self._strain_derivatives_now
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
