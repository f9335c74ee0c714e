"""FHI-aims behind the engine interface: inputs -> custodian (AimsJob + handlers) -> labels.

Each calculation runs in its own folder under ``workdir``, named after the kind of
calculation, the structure (:func:`perovflow.structures.identity.structure_id`, the same
id the store uses) and the settings hash. Calling again on the same folder reuses
a finished result, or resumes an unfinished one from its last complete geometry, so a
rerun Firework never starts over and never labels twice.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from custodian.custodian import (
    Custodian,
    CustodianError,
    ErrorHandler,
    MaxCorrectionsError,
    MaxCorrectionsPerHandlerError,
    MaxCorrectionsPerJobError,
    NonRecoverableError,
)

from perovflow import files
from perovflow.engines.aims.handlers import default_handlers
from perovflow.engines.aims.inputs import (
    CONTROL,
    AimsSettings,
    geometry_can_express,
    species_files_sha256,
    write_inputs,
)
from perovflow.engines.aims.job import AimsJob
from perovflow.engines.aims.outputs import AimsStep, read_aims_output, voigt
from perovflow.engines.aims.restart import ABORT_FILES, OUTPUT, trajectory
from perovflow.engines.ase_driver import driven_relaxation
from perovflow.engines.base import EngineError, Label, Relaxation, absolute_folder, scratch_folder, settings_hash
from perovflow.provenance import aims_version
from perovflow.structures.identity import same_structure, structure_id

CORRECTIONS_FILE = "perovflow_corrections.json"


def _tail(path: Path, n: int = 5) -> str:
    if not path.is_file():
        return ""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(line.strip() for line in lines[-n:])


class AimsEngine:
    """FHI-aims labels through custodian, with perovflow's handlers.

    ``command`` is how the cluster starts FHI-aims (``"srun aims.x"``, a list, ...);
    ``species_dir`` (or ``$AIMS_SPECIES_DIR``) holds ``<tier>/<NN>_<Symbol>_default``.
    Run folders live in ``<scratch>/fhi-aims`` (``scratch``: an absolute path, by default
    ``$PEROVFLOW_SCRATCH`` or ``~/.perovflow/scratch``), or in ``workdir`` if given (also
    absolute), so that every launch of a rerun finds the same folders.
    """

    name = "fhi-aims"
    is_dft = True

    def __init__(
        self,
        settings: AimsSettings | dict[str, Any] | None = None,
        *,
        command: str | list[str] = "aims.x",
        species_dir: str | os.PathLike | None = None,
        scratch: str | os.PathLike | None = None,
        workdir: str | os.PathLike | None = None,
        wall_time: float | None = None,
        wall_buffer: float = 300.0,
        frozen_timeout: float = 1800.0,
        polling_time_step: float = 10.0,
        monitor_freq: int = 30,
        max_errors: int = 10,
        handlers: Callable[[], list[ErrorHandler]] | None = None,
        remote: bool = False,
        **fields: Any,
    ):
        # a campaign file may give AimsSettings' fields beside the others (compute_stress: true)
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(AimsSettings)})
        if unknown:
            raise TypeError(f"unknown FHI-aims option(s) {', '.join(unknown)}; allowed besides command, species_dir, "
                            f"scratch, workdir, wall_time, remote, settings: "
                            f"{', '.join(f.name for f in dataclasses.fields(AimsSettings))}")
        if fields:
            base = dataclasses.asdict(settings) if isinstance(settings, AimsSettings) else dict(settings or {})
            settings = {**base, **fields}
        if isinstance(settings, dict):
            settings = AimsSettings(**settings)
        self.aims_settings = settings or AimsSettings()
        # the command exists only on compute nodes: `perovflow submit` does not look for it
        self.remote = remote
        self.command = command
        self.species_dir = species_dir
        # not physics: where the run folders live (scratch/fhi-aims unless workdir is given)
        self.workdir = scratch_folder(scratch) / self.name if workdir is None else absolute_folder(workdir, "workdir")
        self.wall_time = wall_time
        self.wall_buffer = wall_buffer
        self.frozen_timeout = frozen_timeout
        self.polling_time_step = polling_time_step
        self.monitor_freq = monitor_freq
        self.max_errors = max_errors
        self._handlers = handlers

    @property
    def settings(self) -> dict[str, Any]:
        """The physics (hashed): :meth:`AimsSettings.physics` plus ``species_sha256``, one
        digest over the sha256 of every species-defaults file of the tier folder (None when
        no species folder is configured), so that species files of different content
        never share a hash."""
        return {**self.aims_settings.physics(), "species_sha256": self._species_sha256}

    @functools.cached_property
    def _species_sha256(self) -> str | None:
        per_file = species_files_sha256(self.species_dir, self.aims_settings.species_defaults)
        if per_file is None:
            return None
        return hashlib.sha256(json.dumps(per_file, sort_keys=True).encode()).hexdigest()

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def run_folder(self, atoms: Atoms, kind: str) -> Path:
        return self.workdir / f"{kind}-{structure_id(atoms)}-{self.settings_hash}"

    def setup_problems(self, elements) -> list[str]:
        """What is wrong with this set-up for a campaign of ``elements`` (see :mod:`.setup_check`)."""
        from perovflow.engines.aims.setup_check import setup_problems

        return setup_problems(self.command, self.species_dir, self.aims_settings.species_defaults, elements,
                              remote=self.remote)

    def handlers(self) -> list[ErrorHandler]:
        if self._handlers is not None:
            return self._handlers()
        return default_handlers(wall_time=self.wall_time, wall_buffer=self.wall_buffer,
                                frozen_timeout=self.frozen_timeout)

    # -- the interface ------------------------------------------------------------------

    def single_point(self, atoms: Atoms) -> Label:
        folder = self.run_folder(atoms, "sp")
        if not (folder / CONTROL).is_file():
            write_inputs(folder, atoms, self.aims_settings, self.species_dir)
        corrections, seconds = self._execute(folder)
        steps, _ = trajectory(folder)
        if not steps:
            raise EngineError(f"{folder}: no energy and forces in {OUTPUT}", corrections)
        step = steps[-1]
        if not same_structure(step.atoms, atoms):
            raise EngineError(f"{folder}: the evaluated geometry is not the requested structure", corrections)
        return self._label(step, corrections, seconds, folder)

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation:
        """FHI-aims' own relaxer (``relax_geometry trm``; the cell moves as
        ``relax_unit_cell`` says) in one run folder, resumable; or, when ``atoms`` carries a
        constraint that ``geometry.in`` cannot express (the symmetry constraint of the
        active-learning relaxations), ASE's BFGS with one FHI-aims single point per step:
        each step is a folder of its own, named after its geometry, so a rerun relaxation
        reuses every step already done. The driven path moves the cell when ``cell`` is
        ``"symmetric"``, with FHI-aims' analytical stress (``compute_stress: true``)."""
        if max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        if not geometry_can_express(atoms.constraints):
            return driven_relaxation(atoms, lambda plain, _call: self.single_point(plain), fmax, max_steps, cell=cell)
        folder = self.run_folder(atoms, f"relax-f{fmax:g}-n{max_steps}")
        if not (folder / CONTROL).is_file():
            write_inputs(folder, atoms, self.aims_settings, self.species_dir, relax_fmax=fmax, max_steps=max_steps)
        corrections, seconds = self._execute(folder)
        steps, outputs = trajectory(folder)
        if not steps:
            raise EngineError(f"{folder}: the relaxation evaluated no geometry completely", corrections)
        steps = steps[: max_steps + 1]
        labels = [self._label(s, list(corrections), seconds / len(steps), folder) for s in steps]
        structures = []
        for s in steps:
            structure = s.atoms.copy()
            structure.set_constraint(atoms.constraints)
            structures.append(structure)
        return Relaxation(structures=structures, labels=labels, converged=outputs[-1].relaxation_converged,
                          corrections=corrections)

    # -- running ------------------------------------------------------------------------

    def _label(self, step: AimsStep, corrections: list[dict], seconds: float, folder: Path) -> Label:
        want_stress = self.aims_settings.compute_stress or self.aims_settings.relax_unit_cell is not None
        stress = voigt(step.stress) if (step.stress is not None and want_stress) else None
        try:
            return Label(energy=float(step.energy), forces=np.asarray(step.forces, float), stress=stress,
                         engine=self.name, is_dft=True, corrections=corrections, seconds=seconds,
                         program_version=aims_version(folder / OUTPUT))
        except EngineError as error:  # NaN or inf in the output: a failed label, with its corrections
            raise EngineError(error.reason, corrections) from error

    def _finished(self, folder: Path) -> bool:
        if any((folder / name).exists() for name in ABORT_FILES):
            return False
        if not (folder / OUTPUT).is_file():
            return False
        out = read_aims_output(folder / OUTPUT)
        return out.completed and out.scf_converged and not out.errors

    def _execute(self, folder: Path) -> tuple[list[dict], float]:
        log = folder / CORRECTIONS_FILE
        corrections = _read_corrections(log)
        if self._finished(folder):
            return corrections, 0.0
        job = AimsJob(self.command)
        runner = Custodian(
            self.handlers(), [job], max_errors=self.max_errors, polling_time_step=self.polling_time_step,
            monitor_freq=self.monitor_freq, terminate_on_nonzero_returncode=False, directory=str(folder),
        )
        start = time.perf_counter()
        failure: str | None = None
        error: CustodianError | None = None
        try:
            runner.run()
        except EngineError as exc:
            failure = exc.reason
            corrections += exc.corrections
        except CustodianError as exc:
            error = exc
        finally:
            job.terminate(str(folder))  # a handler that raised mid-run must not leave aims running
            new = _corrections(runner.run_log)
            corrections += new
            files.write_text_atomic(log, json.dumps(corrections, indent=1, default=str))
        seconds = time.perf_counter() - start
        if error is not None:
            failure = self._describe(error, folder, new)
        if failure is not None:
            raise EngineError(failure, corrections)
        stops = [name for name in ABORT_FILES if (folder / name).exists()]
        if stops:
            raise EngineError(f"{folder}: stopped near the wall time ({stops[0]}); calling again resumes "
                              "from the last complete geometry", corrections)
        if not self._finished(folder):
            out = read_aims_output(folder / OUTPUT) if (folder / OUTPUT).is_file() else None
            what = "no output" if out is None else ("errors " + ", ".join(out.errors) if out.errors else
                                                    "SCF not converged" if not out.scf_converged else "unfinished run")
            raise EngineError(f"{folder}: FHI-aims did not finish cleanly ({what}); last lines: "
                              f"{_tail(folder / OUTPUT) or _tail(folder / 'aims.err')}", corrections)
        return corrections, seconds

    @staticmethod
    def _describe(exc: CustodianError, folder: Path, corrections: list[dict]) -> str:
        handler = getattr(exc, "handler", None)
        name = type(handler).__name__ if handler is not None else ""
        mine = [c for c in corrections if c["handler"] == name]
        last = mine[-1] if mine else {}
        detail = f" (errors: {', '.join(last.get('errors') or [])}; {last.get('reason', '')})" if last else ""
        if isinstance(exc, MaxCorrectionsPerHandlerError):
            return f"{folder}: {name} gave up after {exc.max_errors_per_handler} corrections{detail}"
        if isinstance(exc, NonRecoverableError):
            return f"{folder}: {name} has no correction left{detail}"
        if isinstance(exc, (MaxCorrectionsError, MaxCorrectionsPerJobError)):
            return f"{folder}: too many errors ({exc.message})"
        return f"{folder}: custodian failed: {exc.message}"


def _read_corrections(log: Path) -> list[dict]:
    """The corrections recorded with this run folder. A log that cannot be read (cut short
    by a worker killed while writing it, before writes were atomic) is kept aside as
    ``<name>.unreadable`` and the run goes on without it, instead of failing every retry."""
    if not log.is_file():
        return []
    try:
        corrections = json.loads(log.read_text())
    except (ValueError, OSError):
        corrections = None
    if isinstance(corrections, list):
        return corrections
    os.replace(log, log.with_name(log.name + ".unreadable"))
    return []


def _corrections(run_log: list[dict]) -> list[dict]:
    """custodian's run log as plain dicts: handler name, errors, actions, reason."""
    out = []
    for entry in run_log:
        for corr in entry.get("corrections", []):
            record = {k: v for k, v in corr.items() if k != "handler"}
            record["handler"] = type(corr.get("handler")).__name__
            out.append(record)
    return out
