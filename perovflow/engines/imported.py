"""Labels brought in by ``perovflow import`` standing in for an engine: a campaign with
``labelling: {engine: imported, options: {labels: NAME}}`` selects from the structures of
label set NAME and trains on their stored labels, never calling a DFT code (the protocols
of Homm et al. 2025 on their published DFT data).

Every label the campaign needs is already in the store under this engine's name and
settings hash (those ``perovflow import --labels NAME`` wrote), so the labelling step finds
it and reuses it; this engine is only asked when a structure has no imported label, and
then it says so.
"""
from __future__ import annotations

from typing import Any

from ase import Atoms

from perovflow.engines.base import EngineError, Label, Relaxation, settings_hash

ENGINE_NAME = "imported"


def imported_labels_hash(labels: str) -> str:
    """The settings hash of label set ``labels`` (one per set, whatever made the labels)."""
    return settings_hash(labels, {"imported": True})


class MissingImportedLabel(EngineError):
    """A structure the campaign wants a label of is not in the imported label set."""


class ImportedLabels:
    """The labels of one imported set, under the set's name (``labelling.options.labels``).

    ``is_dft`` is what the campaign's models record; the pool step checks that the set was
    imported with the same declaration (``perovflow import --dft/--no-dft``).
    """

    def __init__(self, labels: str, is_dft: bool = True):
        if not isinstance(labels, str) or not labels.strip():
            raise ValueError(f"labels must name an imported label set (perovflow import --labels NAME), "
                             f"got {labels!r}")
        if not isinstance(is_dft, bool):
            raise ValueError(f"is_dft must be true or false, got {is_dft!r}")
        self.name = labels
        self.is_dft = is_dft

    @property
    def settings(self) -> dict[str, Any]:
        return {"imported": True, "labels": self.name}

    @property
    def settings_hash(self) -> str:
        return imported_labels_hash(self.name)

    def single_point(self, atoms: Atoms) -> Label:
        sid = atoms.info.get("structure_id", atoms.get_chemical_formula())
        raise MissingImportedLabel(
            f"structure {sid} has no label in the imported label set {self.name!r}; a campaign with "
            f"labelling.engine {ENGINE_NAME} only uses labels stored by `perovflow import --labels {self.name}`")

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation:
        raise MissingImportedLabel(
            f"imported label set {self.name!r} cannot relax structures; a campaign with labelling.engine "
            f"{ENGINE_NAME} builds the initial dataset only (active.enabled: false)")
