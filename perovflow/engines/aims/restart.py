"""Restarting a run from its last complete geometry, and the history across restarts.

Each restart moves ``aims.out`` to ``aims.out.<n>`` (and keeps the geometry it started
from as ``geometry.in.<n>``), so no evaluated step is ever lost; :func:`trajectory` puts
the parts back together in order. ``docs/fhi-aims.md`` (Restarts) describes the whole
restart behaviour.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ase import Atoms

from perovflow import files
from perovflow.engines.aims.guard import control_value, edit_control, split_control
from perovflow.engines.aims.inputs import CONTROL, GEOMETRY, geometry_text, read_geometry
from perovflow.engines.aims.outputs import AimsOutput, AimsStep, read_aims_output
from perovflow.structures.identity import same_structure

OUTPUT = "aims.out"
ABORT_FILES = ("abort_scf", "abort_opt")
ORIGINAL_SUFFIX = ".orig"
_PART = re.compile(r"^aims\.out\.(\d+)$")


def output_parts(directory: str | os.PathLike) -> list[Path]:
    """Archived outputs in order, then the current ``aims.out`` if there is one."""
    folder = Path(directory)
    numbered = sorted(
        (int(m.group(1)), p) for p in folder.iterdir() if (m := _PART.match(p.name)) and p.is_file()
    )
    parts = [p for _, p in numbered]
    if (folder / OUTPUT).is_file():
        parts.append(folder / OUTPUT)
    return parts


def archive_output(directory: str | os.PathLike) -> Path | None:
    """Move ``aims.out`` out of the way as the next ``aims.out.<n>``."""
    folder = Path(directory)
    current = folder / OUTPUT
    if not current.is_file():
        return None
    n = len(output_parts(folder))  # archived parts + the current one
    while (folder / f"{OUTPUT}.{n}").exists():
        n += 1
    target = folder / f"{OUTPUT}.{n}"
    current.rename(target)
    if (folder / GEOMETRY).is_file():
        shutil.copyfile(folder / GEOMETRY, folder / f"{GEOMETRY}.{n}")
    return target


def trajectory(directory: str | os.PathLike) -> tuple[list[AimsStep], list[AimsOutput]]:
    """Complete steps of all parts in order, and the parsed parts.

    A restart re-evaluates its starting geometry when that geometry had already been
    evaluated (e.g. the run died while predicting the next step); the newer evaluation
    (made with the corrected settings) replaces the older one.
    """
    outputs = [read_aims_output(p) for p in output_parts(directory)]
    steps: list[AimsStep] = []
    for out in outputs:
        new = out.complete_steps
        if steps and new and same_structure(steps[-1].atoms, new[0].atoms):
            steps.pop()
        steps.extend(new)
    return steps, outputs


def prepare_restart(directory: str | os.PathLike) -> dict:
    """Archive ``aims.out`` and rewrite ``geometry.in`` at its last complete geometry.

    Returns the recorded action. Never restarts from scratch: without any printed
    geometry the current ``geometry.in`` (the last restart point) is kept.
    """
    folder = Path(directory)
    action: dict = {"action": "restart"}
    last = read_aims_output(folder / OUTPUT).last_complete_geometry if (folder / OUTPUT).is_file() else None
    archived = archive_output(folder)
    if archived is not None:
        action["archived"] = archived.name
    for name in ABORT_FILES:
        (folder / name).unlink(missing_ok=True)
    if last is not None:
        current = read_geometry(folder / GEOMETRY)
        if current.get_chemical_symbols() != last.get_chemical_symbols():
            raise ValueError(f"{folder}: aims.out and geometry.in disagree on the atoms; refusing to restart")
        current.positions = last.positions
        if last.pbc.all():
            current.cell = last.cell
        files.write_text_atomic(folder / GEOMETRY, geometry_text(current))
        action["geometry"] = "last complete geometry of the previous run"
    else:
        action["geometry"] = "unchanged geometry.in (no complete geometry printed)"
    action.update(_remaining_relaxation_steps(folder, last))
    return action


def _remaining_relaxation_steps(folder: Path, restart_geometry: Atoms | None) -> dict:
    original = folder / (CONTROL + ORIGINAL_SUFFIX)
    if not original.is_file() or control_value(folder, "relax_geometry") is None:
        return {}
    budget = split_control(original.read_text())[0].get("max_relaxation_steps")
    if not budget:
        return {}
    steps, _ = trajectory(folder)
    geometries = [s.atoms for s in steps]
    if restart_geometry is not None and not (geometries and same_structure(geometries[-1], restart_geometry)):
        geometries.append(restart_geometry)
    remaining = max(int(budget[0]) - max(len(geometries) - 1, 0), 0)
    edit_control(folder, {"max_relaxation_steps": str(remaining)})
    return {"max_relaxation_steps": remaining}
