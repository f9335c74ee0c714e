"""What every campaign step works with: the settings, the store, and the engine, descriptor
and perovskite system built once from them."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from ase import Atoms

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.engines import Engine, make_engine
from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.models.relaxation import MLRelaxation, ml_relax
from perovflow.models.saved import model_from_record
from perovflow.settings import CampaignSettings
from perovflow.store.store import Store
from perovflow.structures import PerovskiteSystem, SymmetryConstraint


@dataclass
class CampaignContext:
    settings: CampaignSettings
    store: Store
    fw_id: int | None = field(default=None)

    @cached_property
    def engine(self) -> Engine:
        labelling = self.settings.labelling
        return make_engine(labelling.engine, **labelling.options)

    @cached_property
    def descriptor(self) -> MBTRDescriptor:
        return MBTRDescriptor(MBTRSettings(species=self.settings.species, **_fields(self.settings.descriptor)))

    @cached_property
    def system(self) -> PerovskiteSystem:
        return self.settings.system.perovskite()

    def labelled_energies(self, ids: list[str]) -> dict[str, float]:
        """Energies per atom of this engine's completed labels among ``ids``."""
        return self.store.energies(ids, self.engine.name, self.engine.settings_hash)

    def labelled_forces(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Forces (eV/Å) of this engine's completed labels among ``ids``."""
        return self.store.forces(ids, self.engine.name, self.engine.settings_hash)

    def features(self, role: str) -> tuple[list[str], np.ndarray]:
        return self.store.load_features(self.descriptor.settings.hash, role)

    def model(self, tag: str) -> tuple[KernelRidgeEnergy, dict[str, Any]]:
        """A stored model by tag, checked against this campaign's descriptor."""
        arrays, meta = self.store.load_model(tag=tag, descriptor=self.descriptor.settings)
        return model_from_record(arrays, meta, expected=self.descriptor.settings).model, meta

    def calculator(self, tag: str) -> MBTRKRRCalculator:
        return self.calculator_and_record(tag)[0]

    def calculator_and_record(self, tag: str) -> tuple[MBTRKRRCalculator, dict[str, Any]]:
        """An ASE calculator of a stored model and the model's record (version, metrics, ...)."""
        model, meta = self.model(tag)
        return MBTRKRRCalculator(model, self.descriptor), meta

    def ml_relax(self, start: Atoms, calculator: MBTRKRRCalculator, track_sigma: bool) -> MLRelaxation:
        """The campaign's ML relaxation of an undistorted start: halides and cell in the start's
        symmetry (the cell moving as ``relax.cell`` says), the active section's fmax and steps."""
        active = self.settings.active
        return ml_relax(start, calculator, fmax=active.ml_fmax, max_steps=active.ml_max_steps,
                        track_sigma=track_sigma, constraint=SymmetryConstraint(start), cell=self.settings.relax.cell)


def _fields(section: Any) -> dict[str, Any]:
    return {name: getattr(section, name) for name in section.__dataclass_fields__}


def symmetry_constrained(atoms: Atoms, reference: Atoms) -> Atoms:
    """A copy of ``atoms`` whose halides (and cell) keep the symmetry of ``reference``."""
    work = atoms.copy()
    work.set_constraint(SymmetryConstraint(work, reference=reference))
    return work
