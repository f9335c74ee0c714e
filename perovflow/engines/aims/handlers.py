"""custodian error handlers for the FHI-aims failures listed in ``docs/fhi-aims.md``.

Every correction restarts from the last complete geometry (never from scratch), edits
``control.in`` only through :func:`perovflow.engines.aims.guard.edit_control` (numerical
aids only), and is returned as ``{"errors": [...], "actions": [...]}``. Each handler has
``max_num_corrections`` and raises when it is reached (``raise_on_max``); a handler with
nothing left to try returns ``actions=None`` so that custodian gives up.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from ase.constraints import FixAtoms
from custodian.custodian import ErrorHandler

from perovflow import files
from perovflow.engines.aims.guard import control_value, edit_control, split_control
from perovflow.engines.aims.inputs import CONTROL, GEOMETRY, geometry_text, read_geometry
from perovflow.engines.aims.job import PID_FILE
from perovflow.engines.aims.outputs import read_aims_output
from perovflow.engines.aims.restart import ABORT_FILES, ORIGINAL_SUFFIX, OUTPUT, prepare_restart
from perovflow.processes import process_alive

# FHI-aims defaults, used when control.in does not set a value
DEFAULT_SC_ITER_LIMIT = 1000
DEFAULT_CHARGE_MIX = 0.05
DEFAULT_SMEARING = 0.01
DEFAULT_HARMONIC_LENGTH = 0.025
SMEARING_LADDER = (0.02, 0.05)


def _is_relaxation(directory: str | os.PathLike) -> bool:
    return control_value(directory, "relax_geometry") is not None


def _original_value(directory: str | os.PathLike, key: str) -> str | None:
    original = Path(directory) / (CONTROL + ORIGINAL_SUFFIX)
    if not original.is_file():
        return None
    values = split_control(original.read_text())[0].get(key)
    return values[0] if values else None


class AimsErrorHandler(ErrorHandler):
    """Finds one kind of error message in aims.out; subclasses say how to fix it."""

    is_monitor = False
    raises_runtime_error = True
    raise_on_max = True
    errors: tuple[str, ...] = ()  # keys of outputs.ERROR_MARKERS
    # most errors only matter when the run stopped; an unconverged SCF poisons a label even
    # in a run that finished
    fires_on_completed_runs = False
    default_max = 1

    def __init__(self, output_file: str = OUTPUT, max_num_corrections: int | None = None):
        self.output_file = output_file
        self.max_num_corrections = self.default_max if max_num_corrections is None else max_num_corrections

    def _found(self, directory: str | os.PathLike) -> list[str]:
        path = Path(directory) / self.output_file
        if not path.is_file():
            return []
        out = read_aims_output(path)
        if out.completed and not self.fires_on_completed_runs:
            return []
        return [e for e in self.errors if e in out.errors]

    def check(self, directory: str = "./") -> bool:
        return bool(self._found(directory))

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        """The control.in changes to make next (None: nothing left) and why."""
        raise NotImplementedError

    def correct(self, directory: str = "./") -> dict:
        found = self._found(directory) or list(self.errors)
        changes, why = self.plan(directory)
        if changes is None:
            return {"errors": found, "actions": None, "reason": why}
        actions = [prepare_restart(directory)]
        actions += edit_control(directory, changes)
        return {"errors": found, "actions": actions, "reason": why}


class ScfConvergenceHandler(AimsErrorHandler):
    """``scf_solver: SCF cycle not converged``: more iterations, gentler mixing, smearing."""

    errors = ("scf_not_converged",)
    fires_on_completed_runs = True
    default_max = 4

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        limit = control_value(directory, "sc_iter_limit")
        if limit == _original_value(directory, "sc_iter_limit"):
            current = int(limit) if limit else DEFAULT_SC_ITER_LIMIT
            return {"sc_iter_limit": str(2 * current)}, "raise the SCF iteration limit"
        mix = control_value(directory, "charge_mix_param")
        if mix == _original_value(directory, "charge_mix_param"):
            current = float(mix) if mix else DEFAULT_CHARGE_MIX
            return (
                {"mixer": "pulay", "charge_mix_param": f"{current / 2:g}", "n_max_pulay": "10"},
                "gentler Pulay charge mixing",
            )
        occupation = (control_value(directory, "occupation_type") or "").split()
        width = float(occupation[1]) if len(occupation) >= 2 and occupation[0] == "gaussian" else None
        if not occupation:
            width = DEFAULT_SMEARING
        wider = [w for w in SMEARING_LADDER if width is not None and w > width + 1e-12]
        if wider:
            return {"occupation_type": f"gaussian {wider[0]:g}"}, "Gaussian occupation smearing"
        return None, "SCF still not converged after more iterations, gentler mixing and 0.05 eV smearing"


class TrustedDescentHandler(AimsErrorHandler):
    """Relaxation steps rejected again and again: shorter harmonic length scale."""

    errors = ("trusted_descent",)
    default_max = 3

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        current = control_value(directory, "harmonic_length_scale")
        value = float(current) if current else DEFAULT_HARMONIC_LENGTH
        return {"harmonic_length_scale": f"{value / 2:g}"}, "halve harmonic_length_scale"


class CloseEncounterHandler(AimsErrorHandler):
    """Atoms too close (or too many neighbours): push the closest pair apart.

    Only in relaxations, whose trajectory records every geometry it evaluated. A single
    point must label the structure it was given, so there it gives up instead.
    """

    errors = ("close_encounter", "too_many_neighbors")
    default_max = 3

    def __init__(self, output_file: str = OUTPUT, max_num_corrections: int | None = None, push: float = 0.1):
        super().__init__(output_file, max_num_corrections)
        self.push = push

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        if not _is_relaxation(directory):
            return None, "atoms too close in a single point: moving them would label another structure"
        return {}, f"push the closest pair {self.push:g} Å apart"

    def correct(self, directory: str = "./") -> dict:
        record = super().correct(directory)
        if record["actions"] is None:
            return record
        moved = self._push_apart(Path(directory) / GEOMETRY)
        if moved is None:
            return {**record, "actions": None, "reason": "the closest pair is fixed by constraints"}
        record["actions"].append(moved)
        return record

    def _push_apart(self, path: Path) -> dict | None:
        atoms = read_geometry(path)
        if len(atoms) < 2:
            return None
        mic = bool(atoms.pbc.all())
        distances = atoms.get_all_distances(mic=mic)
        np.fill_diagonal(distances, np.inf)
        i, j = (int(k) for k in np.unravel_index(np.argmin(distances), distances.shape))
        vector = atoms.get_distance(i, j, mic=mic, vector=True)
        unit = vector / np.linalg.norm(vector)
        fixed = {int(k) for c in atoms.constraints if isinstance(c, FixAtoms) for k in c.get_indices()}
        share = {i: 0.0 if i in fixed else 1.0, j: 0.0 if j in fixed else 1.0}
        total = share[i] + share[j]
        if total == 0:
            return None
        positions = atoms.positions.copy()
        image_shift = vector - (positions[j] - positions[i])
        positions[i] -= unit * self.push * share[i] / total
        positions[j] += unit * self.push * share[j] / total
        atoms.positions = positions
        files.write_text_atomic(path, geometry_text(atoms))
        # measured along the same periodic image as the closest contact
        after = float(np.linalg.norm(positions[j] - positions[i] + image_shift))
        return {"file": GEOMETRY, "action": "push_apart", "atoms": [i, j],
                "old": float(distances[i, j]), "new": after}


class IllConditionedOverlapHandler(AimsErrorHandler):
    """Ill-conditioned overlap matrix: prune near-dependent basis functions."""

    errors = ("ill_conditioned_overlap",)
    default_max = 1

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        wanted = {"basis_threshold": "1e-6", "override_illconditioning": ".true."}
        if all(control_value(directory, k) == v for k, v in wanted.items()):
            return None, "overlap still ill-conditioned with basis_threshold 1e-6"
        return wanted, "basis_threshold 1e-6 with override_illconditioning"


class CpuConsistencyHandler(AimsErrorHandler):
    """Tasks disagree on a matrix (check_cpu_consistency_matrix): switch the check off once."""

    errors = ("cpu_consistency",)
    default_max = 1

    def plan(self, directory: str) -> tuple[dict[str, str | None] | None, str]:
        if control_value(directory, "check_cpu_consistency") == ".false.":
            return None, "inconsistency persists with check_cpu_consistency .false."
        return {"check_cpu_consistency": ".false."}, "switch off check_cpu_consistency"


class WallTimeHandler(ErrorHandler):
    """Asks FHI-aims to stop cleanly before the wall time ends.

    The limit is either ``end_time`` (epoch seconds; default ``$SLURM_JOB_END_TIME`` or
    ``$PEROVFLOW_JOB_END_TIME``, the earlier, so
    that every calculation of a long-lived worker sees the allocation's real end) or
    ``wall_time`` seconds after ``start_time`` (default: when the handler was made;
    ``$PEROVFLOW_WALL_TIME`` if unset). Writes ``abort_opt`` (relaxations: stop after this
    step) or ``abort_scf`` (single points) once, ``buffer_time`` before the limit;
    FHI-aims then stops by itself. The next attempt on this folder (a rerun of the
    Firework) restarts from the last complete geometry via ``AimsJob.setup``.
    """

    is_monitor = True
    is_terminating = False
    raises_runtime_error = False
    raise_on_max = False

    def __init__(self, wall_time: float | None = None, buffer_time: float = 300.0, start_time: float | None = None,
                 end_time: float | None = None, max_num_corrections: int = 1):
        if wall_time is None and os.environ.get("PEROVFLOW_WALL_TIME"):
            wall_time = float(os.environ["PEROVFLOW_WALL_TIME"])
        if end_time is None:  # PBS has no end-time variable: its job script sets PEROVFLOW_JOB_END_TIME
            ends = [float(os.environ[name]) for name in ("SLURM_JOB_END_TIME", "PEROVFLOW_JOB_END_TIME")
                    if os.environ.get(name, "").isdigit()]
            end_time = min(ends) if ends else None
        self.wall_time = wall_time
        self.buffer_time = buffer_time
        self.start_time = time.time() if start_time is None else start_time
        self.end_time = end_time
        self.max_num_corrections = max_num_corrections

    def deadline(self) -> float | None:
        limits = [t for t in (self.end_time, None if self.wall_time is None else self.start_time + self.wall_time)
                  if t is not None]
        return min(limits) if limits else None

    def check(self, directory: str = "./") -> bool:
        deadline = self.deadline()
        if deadline is None:
            return False
        if any((Path(directory) / name).exists() for name in ABORT_FILES):
            return False
        return time.time() >= deadline - self.buffer_time

    def correct(self, directory: str = "./") -> dict:
        name = "abort_opt" if _is_relaxation(directory) else "abort_scf"
        (Path(directory) / name).write_text("stop requested by perovflow: wall time near\n")
        return {"errors": ["wall_time"], "actions": None, "stop_file": name,
                "reason": f"wall time near: wrote {name}; the next attempt restarts from the last geometry"}


class FrozenRunHandler(ErrorHandler):
    """A run whose output stopped growing, or that died without a known message.

    As a monitor it fires when ``aims.out`` has not grown for ``timeout`` seconds (custodian
    then calls ``AimsJob.terminate``, which kills the job's own process by pid); after a
    run it fires when the process is gone but the output is unfinished. Either way the
    run restarts from its last complete geometry.
    """

    is_monitor = True
    is_terminating = True
    raises_runtime_error = True
    raise_on_max = True

    def __init__(self, timeout: float = 1800.0, output_file: str = OUTPUT, max_num_corrections: int = 3):
        self.timeout = timeout
        self.output_file = output_file
        self.max_num_corrections = max_num_corrections

    def _state(self, directory: str | os.PathLike) -> str | None:
        folder = Path(directory)
        path = folder / self.output_file
        if not path.is_file() or any((folder / name).exists() for name in ABORT_FILES):
            return None
        out = read_aims_output(path)
        if out.completed or out.errors:  # finished, or a message another handler knows
            return None
        if time.time() - path.stat().st_mtime > self.timeout:
            return f"no output for more than {self.timeout:g} s"
        pid = _read_pid(folder / PID_FILE)
        if pid is not None and not process_alive(pid):
            return "the run ended without finishing (killed or crashed)"
        return None

    def check(self, directory: str = "./") -> bool:
        return self._state(directory) is not None

    def correct(self, directory: str = "./") -> dict:
        why = self._state(directory) or "frozen or killed run"
        return {"errors": ["frozen_run"], "actions": [prepare_restart(directory)], "reason": why}


def _read_pid(path: Path) -> int | None:
    """The pid in ``aims.pid``, or None when there is none (or only half a write of one)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def default_handlers(
    *, wall_time: float | None = None, wall_buffer: float = 300.0, frozen_timeout: float = 1800.0
) -> list[ErrorHandler]:
    """All handlers, most specific first."""
    return [
        ScfConvergenceHandler(),
        TrustedDescentHandler(),
        CloseEncounterHandler(),
        IllConditionedOverlapHandler(),
        CpuConsistencyHandler(),
        WallTimeHandler(wall_time=wall_time, buffer_time=wall_buffer),
        FrozenRunHandler(timeout=frozen_timeout),
    ]
