"""The one small interface every labelling engine (DFT code or stand-in oracle) offers.

Science code only: ASE ``Atoms`` in, plain results out; nothing here knows FireWorks or
MongoDB. ``settings_hash`` identifies the physics of a label so that a structure is never
labelled twice with the same engine and settings, and labels of different physics are
never mixed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ase import Atoms


class EngineError(RuntimeError):
    """An engine failed for good (after any corrections); ``reason`` says why."""

    def __init__(self, reason: str, corrections: list[dict] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.corrections = corrections or []


SCRATCH_ENV = "PEROVFLOW_SCRATCH"


def scratch_folder(scratch: str | os.PathLike | None = None) -> Path:
    """The absolute folder under which external engines keep their run folders.

    ``scratch`` (the campaign's ``labelling.options.scratch``), else ``$PEROVFLOW_SCRATCH``,
    else ``~/.perovflow/scratch``. It must be absolute: a relative folder would be resolved
    in each FireWorks launch directory (a new ``launcher_*`` per launch), so a rerun would
    never find the finished or interrupted run of the previous launch. Not physics, so
    never part of a settings hash.
    """
    given = scratch if scratch is not None else os.environ.get(SCRATCH_ENV) or "~/.perovflow/scratch"
    source = "" if scratch is not None or not os.environ.get(SCRATCH_ENV) else f" (from ${SCRATCH_ENV})"
    return absolute_folder(given, "scratch", source)


def absolute_folder(folder: str | os.PathLike, option: str, source: str = "") -> Path:
    """``folder`` (``~`` expanded) if absolute; else ValueError naming ``labelling.options.<option>``."""
    path = Path(os.path.expanduser(os.fspath(folder)))
    if not path.is_absolute():
        raise ValueError(f"labelling.options.{option} must be an absolute path, got {os.fspath(folder)!r}{source}: "
                         "run folders are found again by their path when a job is rerun")
    return path


def settings_hash(engine: str, settings: dict[str, Any]) -> str:
    """Stable short hash of an engine name and its physics settings."""
    payload = json.dumps({"engine": engine, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_finite(energy: float, forces: np.ndarray, stress: np.ndarray | None, engine: str) -> None:
    """EngineError unless energy, forces and stress (if any) are all finite numbers.

    CHGNet on two atoms on top of each other returns NaN; a DFT code can print NaN or
    ``*****``. Such a value stored as a label would make every later fit fail, so it is a
    failed calculation instead. Every :class:`Label` is checked here when it is made.
    """
    source = engine or "the engine"
    if not np.isfinite(energy):
        raise EngineError(f"non-finite energy from {source} (energy={energy})")
    for name, values in (("forces", forces), ("stress", stress)):
        if values is None:
            continue
        array = np.asarray(values, dtype=float)
        bad = ~np.isfinite(array)
        if bad.any():
            if array.ndim == 2:
                where = f"atoms {sorted({int(i) for i in np.argwhere(bad)[:, 0]})}"
            else:
                where = f"components {[int(i) for i in np.flatnonzero(bad)]}"
            raise EngineError(f"non-finite {name} from {source} ({int(bad.sum())} of {array.size} values, {where})")


@dataclass
class Label:
    """Result of one single-point calculation (energies in eV, forces in eV/Å).

    Making a Label with a NaN or infinite energy, force or stress raises
    :class:`EngineError` (:func:`check_finite`), so no engine can return one.
    """

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None
    engine: str = ""
    is_dft: bool = False
    corrections: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    # the engine program's version where its output printed one (kept out of as_dict: it
    # goes into the calculation's provenance)
    program_version: str | None = None

    def __post_init__(self) -> None:
        try:
            self.energy = float(self.energy)
        except (TypeError, ValueError):
            raise EngineError(f"non-numeric energy from {self.engine or 'the engine'}: {self.energy!r}") from None
        check_finite(self.energy, self.forces, self.stress, self.engine)

    def as_dict(self) -> dict[str, Any]:
        return {
            "energy": float(self.energy),
            "energy_per_atom": float(self.energy) / len(self.forces),
            "forces": np.asarray(self.forces, dtype=float).tolist(),
            "stress": None if self.stress is None else np.asarray(self.stress, float).tolist(),
            "engine": self.engine,
            "is_dft": self.is_dft,
            "corrections": self.corrections,
            "seconds": self.seconds,
        }


@dataclass
class Relaxation:
    """A relaxation trajectory: one ``Label`` and one structure per ionic step."""

    structures: list[Atoms]
    labels: list[Label]
    converged: bool
    corrections: list[dict] = field(default_factory=list)


class Engine(Protocol):
    """What the workflow needs from an engine."""

    name: str
    is_dft: bool

    @property
    def settings(self) -> dict[str, Any]: ...

    @property
    def settings_hash(self) -> str: ...

    def single_point(self, atoms: Atoms) -> Label: ...

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation: ...
