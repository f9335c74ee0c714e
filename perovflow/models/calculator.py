"""An ASE calculator for MBTR-KRR: energy and analytic forces, GP sigma on request."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.models.krr import KernelRidgeEnergy


class MBTRKRRCalculator(Calculator):
    """``energy`` (eV), ``forces`` (eV/Å) and ``sigma`` (GP std of the energy, eV/atom).

    ``sigma`` costs a triangular solve against the training set, so it is only computed
    when asked for (``calc.get_property("sigma", atoms)``); asking for it after the forces
    of the same structure reuses their features. ``features`` holds the descriptor vector
    of the last structure, so callers can batch sigmas of many structures later
    (:meth:`KernelRidgeEnergy.sigma` on a stacked matrix reads the factor once).
    """

    implemented_properties = ["energy", "free_energy", "forces", "sigma"]

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
        if "sigma" in properties and not system_changes and self.features is not None \
                and "energy" in self.results:
            # same structure, energy and forces already known: only the uncertainty is new
            self.results["sigma"] = float(self.model.sigma(self.features[None, :])[0])
            return
        super().calculate(atoms, properties, system_changes)
        features, derivatives = self.descriptor.create_with_derivatives(self.atoms)
        energy, forces = self.model.energy_and_forces(features, derivatives)
        self.features = features
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if "sigma" in properties:
            self.results["sigma"] = float(self.model.sigma(features[None, :])[0])
