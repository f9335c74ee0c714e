"""An ASE calculator for MBTR-KRR: energy and analytic forces, GP sigma on request."""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from perovflow.descriptors.mbtr import MBTRDescriptor
from perovflow.models.krr import KernelRidgeEnergy


class MBTRKRRCalculator(Calculator):
    """``energy`` (eV), ``forces`` (eV/Å) and ``sigma`` (GP std of the energy, eV/atom).

    ``sigma`` costs a triangular solve against the training set, so it is only computed
    when asked for (``calc.get_property("sigma", atoms)``).
    """

    implemented_properties = ["energy", "free_energy", "forces", "sigma"]

    def __init__(self, model: KernelRidgeEnergy, descriptor: MBTRDescriptor, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.descriptor = descriptor

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        features, derivatives = self.descriptor.create_with_derivatives(self.atoms)
        energy, forces = self.model.energy_and_forces(features, derivatives)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if "sigma" in properties:
            self.results["sigma"] = float(self.model.sigma(features[None, :])[0])
