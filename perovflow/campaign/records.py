"""Typed records of a campaign: model names, acquisitions and fit metrics.

Model versions are numbered in the order they are stored; each also has a *tag* that says
what it is, and steps find models by tag, never by arithmetic on version numbers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from perovflow.models.calibration import Calibration

FINAL_MODEL = "final"


def initial_model_tag(batch: int) -> str:
    """The fit after initial batch ``batch`` (0-based)."""
    return f"initial/batch-{batch}"


def refit_model_tag(iteration: int) -> str:
    """The refit after active-learning iteration ``iteration`` (1-based)."""
    return f"active/iteration-{iteration}"


@dataclass(frozen=True)
class RelaxationRequest:
    """An engine relaxation to run: a trajectory ``key``, the stored start, the structure
    whose symmetry the cell and halides keep, and the stopping rule."""

    key: str
    start_id: str
    reference_id: str
    fmax: float
    max_steps: int
    purpose: str  # relax_test, stage1 or stage2
    iteration: int | None = None

    def as_args(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Continuation:
    """A trajectory that active learning continues with the engine (stored with its iteration
    as one of its ``acquisitions``)."""

    key: str
    phase: str
    index: int  # which ML relaxation of the phase
    step: int  # the ML step the engine continues from
    sigma_mev: float
    start_id: str  # the snapshot at that step
    reference_id: str  # the ML relaxation's start: its symmetry is kept
    fmax: float
    max_steps: int

    def as_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Continuation:
        return cls(**{key: doc[key] for key in cls.__dataclass_fields__})

    def request(self, stage: str, iteration: int) -> RelaxationRequest:
        return RelaxationRequest(self.key, self.start_id, self.reference_id, self.fmax, self.max_steps,
                                 purpose=stage, iteration=iteration)


@dataclass(frozen=True)
class TestErrors:
    """Errors of a model on the labelled test set: energies (meV/atom), force components
    (meV/Å; None without force labels) and how well sigma describes the energy errors."""

    mae_mev: float
    rmse_mev: float
    n_test: int
    force_mae_mev: float | None = None
    force_rmse_mev: float | None = None
    n_test_forces: int = 0  # test structures whose labels have forces
    calibration: Calibration | None = None  # None with fewer than three test structures

    def as_metrics(self) -> dict[str, Any]:
        return {"test_energy_mae_mev_per_atom": self.mae_mev, "test_energy_rmse_mev_per_atom": self.rmse_mev,
                "n_test": self.n_test, "test_force_mae_mev_per_angstrom": self.force_mae_mev,
                "test_force_rmse_mev_per_angstrom": self.force_rmse_mev, "n_test_forces": self.n_test_forces,
                **(self.calibration.as_metrics() if self.calibration is not None else {})}
