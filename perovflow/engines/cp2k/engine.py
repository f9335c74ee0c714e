"""CP2K through custodian behind the engine interface of :mod:`perovflow.engines.base`."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ase import Atoms
from custodian.custodian import Custodian, CustodianError

from perovflow import files
from perovflow.engines.ase_driver import driven_relaxation
from perovflow.engines.base import EngineError, Label, Relaxation, absolute_folder, scratch_folder, settings_hash
from perovflow.engines.cp2k.handlers import OutputValidator, ScfConvergenceHandler
from perovflow.engines.cp2k.inputs import OUTPUT, STDERR, write_inputs
from perovflow.engines.cp2k.job import PidCp2kJob
from perovflow.engines.cp2k.outputs import SCF_FAILED, read_output
from perovflow.engines.cp2k.settings import Cp2kSettings, data_dir, find_binary
from perovflow.provenance import cp2k_version
from perovflow.structures.identity import structure_id


class Cp2kEngine:
    """DFT labels from CP2K (PBE, GTH, MOLOPT, Gamma only), run and repaired by custodian.

    ``command`` is how to start CP2K (``"cp2k.psmp"``, ``"mpirun -np 4 cp2k.psmp"``);
    by default the first CP2K binary on ``PATH``. Every single point runs in the folder
    ``<workdir>/sp-<structure id>-<settings hash>`` (kept with its inputs, output, custodian
    log and ``perovflow_corrections.json``); ``workdir`` is ``<scratch>/cp2k``, ``scratch``
    an absolute path (default ``$PEROVFLOW_SCRATCH`` or ``~/.perovflow/scratch``). A call
    for a structure whose folder holds a finished label returns it without running CP2K
    again, from any launch directory; ``keep_runs=False`` deletes each folder after its
    label (and so gives that up). ``max_corrections`` bounds how often the SCF handler may
    edit the input before the label fails for good. Physics and SCF settings are the fields
    of :class:`Cp2kSettings`, given as a ``settings`` object or as keywords.
    """

    name = "cp2k"
    is_dft = True

    def __init__(self, command: str | list[str] | None = None, settings: Cp2kSettings | None = None,
                 workdir: str | Path | None = None, max_corrections: int = 4, omp_threads: int = 1,
                 keep_runs: bool = True, scratch: str | os.PathLike | None = None, **overrides: Any):
        if settings is not None and overrides:
            raise ValueError("give Cp2kEngine either settings=Cp2kSettings(...) or keywords, not both")
        if max_corrections < 0:
            raise ValueError(f"max_corrections must be >= 0, got {max_corrections}")
        self.cp2k_settings = settings or Cp2kSettings.from_dict(overrides)
        self.command = command
        # not physics: where the run folders live
        self.workdir = scratch_folder(scratch) / self.name if workdir is None else absolute_folder(workdir, "workdir")
        self.max_corrections = max_corrections
        self.omp_threads = omp_threads
        self.keep_runs = keep_runs

    @property
    def settings(self) -> dict[str, Any]:
        return self.cp2k_settings.physics()

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def run_folder(self, atoms: Atoms, kind: str = "sp") -> Path:
        return self.workdir / f"{kind}-{structure_id(atoms)}-{self.settings_hash}"

    def single_point(self, atoms: Atoms) -> Label:
        return self._single_point(atoms, self.run_folder(atoms))

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation:
        """ASE BFGS in which every force call is one CP2K single point (in its own folder,
        named after the step's geometry). A rerun after an interruption replays BFGS from
        the start: the steps already done are read back from their folders (the same
        numbers, so BFGS takes the same steps) and CP2K runs only from the first step that
        has no finished label, so the relaxation goes on from its last complete geometry
        with its full trajectory and optimizer history. ``cell="symmetric"`` moves the cell
        too, with CP2K's analytical stress."""
        return driven_relaxation(atoms, lambda plain, _call: self.single_point(plain), fmax, max_steps, cell=cell)

    def _binary_command(self) -> str | list[str]:
        command = self.command or find_binary()
        if not command:
            raise EngineError("cp2k not installed: no cp2k.psmp/cp2k.ssmp on PATH "
                              "(Debian: apt-get install cp2k cp2k-data)")
        return command

    def _single_point(self, atoms: Atoms, folder: Path) -> Label:
        start = time.perf_counter()
        done = folder / CORRECTIONS_FILE
        if done.is_file():  # a finished label of this structure and physics
            label = self._label(atoms, folder, _read_corrections(done), 0.0)
            if label is not None:
                return label
        command = self._binary_command()
        done.unlink(missing_ok=True)
        write_inputs(atoms, self.cp2k_settings, folder, data_dir())
        handler = ScfConvergenceHandler(max_corrections=self.max_corrections)
        custodian = Custodian(
            handlers=[handler],
            jobs=[PidCp2kJob(command, omp_threads=self.omp_threads)],
            validators=[OutputValidator()],
            max_errors=self.max_corrections + 1,
            directory=str(folder),
        )
        try:
            custodian.run()
        except CustodianError as error:
            raise EngineError(failure_reason(error, folder), corrections_of(custodian.run_log)) from error
        except OSError as error:  # the command could not start at all
            raise EngineError(f"cannot run CP2K command {command!r}: {error}",
                              corrections_of(custodian.run_log)) from error
        corrections = corrections_of(custodian.run_log)
        label = self._label(atoms, folder, corrections, time.perf_counter() - start)
        if label is None:
            raise EngineError(failure_reason(None, folder), corrections)
        # written last: marks the folder as holding a finished label
        files.write_text_atomic(done, json.dumps(corrections, indent=1, default=str))
        if not self.keep_runs:
            shutil.rmtree(folder, ignore_errors=True)
        return label

    def _label(self, atoms: Atoms, folder: Path, corrections: list[dict], seconds: float) -> Label | None:
        """The label in ``folder``'s output, or None when it holds no converged, finished one."""
        out = read_output(folder / OUTPUT)
        if not (out.finished and out.scf_converged) or out.energy is None or out.forces is None:
            return None
        if len(out.forces) != len(atoms):
            raise EngineError(f"CP2K printed forces for {len(out.forces)} atoms, expected {len(atoms)}",
                              corrections)
        try:
            return Label(energy=out.energy, forces=out.forces, stress=out.stress, engine=self.name,
                         is_dft=True, corrections=corrections, seconds=seconds,
                         program_version=cp2k_version(folder / OUTPUT))
        except EngineError as error:  # NaN or inf in the output: a failed label, with its corrections
            raise EngineError(f"{error.reason} in {folder}", corrections) from error


CORRECTIONS_FILE = "perovflow_corrections.json"


def _read_corrections(path: Path) -> list[dict]:
    try:
        corrections = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return corrections if isinstance(corrections, list) else []


def corrections_of(run_log: list[dict]) -> list[dict]:
    """custodian's correction records as plain JSON-able dicts (handler by class name)."""
    records = []
    for entry in run_log:
        for correction in entry.get("corrections", []):
            record = {k: v for k, v in correction.items() if k != "handler"}
            record["handler"] = type(correction.get("handler")).__name__
            records.append(record)
    return records


def failure_reason(error: CustodianError | None, folder: Path) -> str:
    """One line that says why CP2K failed for good, from custodian's error and the output."""
    out = read_output(folder / OUTPUT)
    parts = []
    if out.scf_failures:
        parts.append(f"CP2K: {SCF_FAILED} (still unconverged after the allowed corrections)")
    if out.abort_message:
        parts.append(f"CP2K aborted: {out.abort_message}")
    elif error is not None and not out.finished:
        stderr = _last_line(folder / STDERR)
        parts.append("CP2K stopped before the end of its output" + (f"; stderr: {stderr}" if stderr else ""))
    if error is not None:
        parts.append(f"custodian: {type(error).__name__}: {error.message}")
    return "; ".join(parts) or "CP2K printed no converged energy and forces"


def _last_line(path: Path) -> str:
    if not path.is_file():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""
