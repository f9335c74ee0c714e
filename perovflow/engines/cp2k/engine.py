"""CP2K through custodian behind the engine interface of :mod:`perovflow.engines.base`."""
from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ase import Atoms
from custodian.custodian import Custodian, CustodianError

from perovflow.engines.ase_driver import driven_relaxation
from perovflow.engines.base import EngineError, Label, Relaxation, settings_hash
from perovflow.engines.cp2k.handlers import OutputValidator, ScfConvergenceHandler
from perovflow.engines.cp2k.inputs import OUTPUT, STDERR, write_inputs
from perovflow.engines.cp2k.job import PidCp2kJob
from perovflow.engines.cp2k.outputs import SCF_FAILED, read_output
from perovflow.engines.cp2k.settings import Cp2kSettings, data_dir, find_binary


class Cp2kEngine:
    """DFT labels from CP2K (PBE, GTH, MOLOPT, Gamma only), run and repaired by custodian.

    ``command`` is how to start CP2K (``"cp2k.psmp"``, ``"mpirun -np 4 cp2k.psmp"``);
    by default the first CP2K binary on ``PATH``. Every call runs in a new folder under
    ``workdir`` (default ``./cp2k_runs``) that keeps the inputs, output and custodian log.
    ``max_corrections`` bounds how often the SCF handler may edit the input before the
    label fails for good. Physics and SCF settings are the fields of :class:`Cp2kSettings`,
    given as a ``settings`` object or as keywords.
    """

    name = "cp2k"
    is_dft = True

    def __init__(self, command: str | list[str] | None = None, settings: Cp2kSettings | None = None,
                 workdir: str | Path | None = None, max_corrections: int = 4, omp_threads: int = 1,
                 keep_runs: bool = True, **overrides: Any):
        if settings is not None and overrides:
            raise ValueError("give Cp2kEngine either settings=Cp2kSettings(...) or keywords, not both")
        if max_corrections < 0:
            raise ValueError(f"max_corrections must be >= 0, got {max_corrections}")
        self.cp2k_settings = settings or Cp2kSettings.from_dict(overrides)
        self.command = command
        self.workdir = Path(workdir) if workdir is not None else None
        self.max_corrections = max_corrections
        self.omp_threads = omp_threads
        self.keep_runs = keep_runs

    @property
    def settings(self) -> dict[str, Any]:
        return self.cp2k_settings.physics()

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def single_point(self, atoms: Atoms) -> Label:
        return self._single_point(atoms, self._new_folder("sp"))

    def relax(self, atoms: Atoms, fmax: float, max_steps: int) -> Relaxation:
        """ASE BFGS in which every force call is one CP2K single point (in its own subfolder)."""
        root = self._new_folder("relax")
        return driven_relaxation(atoms, lambda plain, call: self._single_point(plain, root / f"step-{call:03d}"),
                                 fmax, max_steps)

    def _binary_command(self) -> str | list[str]:
        command = self.command or find_binary()
        if not command:
            raise EngineError("cp2k not installed: no cp2k.psmp/cp2k.ssmp on PATH "
                              "(Debian: apt-get install cp2k cp2k-data)")
        return command

    def _new_folder(self, kind: str) -> Path:
        root = self.workdir if self.workdir is not None else Path.cwd() / "cp2k_runs"
        folder = root / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def _single_point(self, atoms: Atoms, folder: Path) -> Label:
        start = time.perf_counter()
        command = self._binary_command()
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
        out = read_output(folder / OUTPUT)
        if not out.scf_converged or out.energy is None or out.forces is None:
            raise EngineError(failure_reason(None, folder), corrections)
        if len(out.forces) != len(atoms):
            raise EngineError(f"CP2K printed forces for {len(out.forces)} atoms, expected {len(atoms)}",
                              corrections)
        if not self.keep_runs:
            shutil.rmtree(folder, ignore_errors=True)
        try:
            return Label(energy=out.energy, forces=out.forces, stress=out.stress, engine=self.name,
                         is_dft=True, corrections=corrections, seconds=time.perf_counter() - start)
        except EngineError as error:  # NaN or inf in the output: a failed label, with its corrections
            raise EngineError(f"{error.reason} in {folder}", corrections) from error


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
