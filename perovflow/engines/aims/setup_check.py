"""Is FHI-aims set up where the campaign will run it? Checked when a campaign is submitted,
so that a wrong species folder or command is named at once instead of failing on a worker
hours later. Each problem names the campaign-file field to change."""
from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Iterable
from pathlib import Path

from ase.data import atomic_numbers

from perovflow.engines.aims.inputs import SPECIES_DIR_ENV

# programs that start FHI-aims' MPI ranks; the FHI-aims binary is one of their arguments
LAUNCHERS = ("srun", "mpirun", "mpiexec", "mpiexec.hydra", "aprun", "ibrun", "jsrun")
FIELD = "labelling.options"


def species_problems(species_dir: str | os.PathLike | None, tier: str, elements: Iterable[str]) -> list[str]:
    """``<species_dir>/<tier>`` must exist and hold ``NN_Symbol_default`` for every element."""
    root = species_dir if species_dir is not None else os.environ.get(SPECIES_DIR_ENV)
    if not root:
        return [f"{FIELD}.species_dir: not set (nor ${SPECIES_DIR_ENV}); expected the folder of FHI-aims' "
                f"species defaults that holds the tier folder '{tier}/', e.g. .../species_defaults/defaults_2020"]
    root = Path(root).expanduser()
    folder = root / tier
    if not folder.is_dir():
        if root.name == tier and root.is_dir():
            return [f"{FIELD}.species_dir: {root} is the tier folder itself; perovflow appends the tier "
                    f"({FIELD}.species_defaults: {tier}), so give its parent {root.parent}"]
        if not root.is_dir():
            return [f"{FIELD}.species_dir: {root} does not exist; expected the folder of FHI-aims' species "
                    f"defaults that holds '{tier}/', e.g. .../species_defaults/defaults_2020"]
        tiers = sorted(p.name for p in root.iterdir() if p.is_dir())
        return [f"{FIELD}.species_defaults: no tier folder '{tier}' in {root}; found: {', '.join(tiers) or 'none'}"]
    missing = [f"{atomic_numbers[s]:02d}_{s}_default" for s in sorted(set(elements), key=atomic_numbers.get)
               if not (folder / f"{atomic_numbers[s]:02d}_{s}_default").is_file()]
    if missing:
        return [f"{FIELD}.species_dir: {folder} lacks the species files {', '.join(missing)} of this campaign's "
                "elements"]
    return []


def command_problems(command: str | list[str]) -> list[str]:
    """Every program of ``command`` (a launcher such as ``srun`` and the FHI-aims binary) must
    be found: an absolute or relative path that exists, or a name on ``$PATH``."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        return [f"{FIELD}.command: empty; expected how FHI-aims starts, e.g. 'srun aims.x'"]
    programs = [argv[0]]
    if Path(argv[0]).name in LAUNCHERS:
        binary = next((a for a in argv[1:] if "aims" in Path(a).name and not a.startswith("-")), None)
        if binary is not None:
            programs.append(binary)
    problems = []
    for program in programs:
        found = Path(program).expanduser().is_file() if os.sep in program else shutil.which(program) is not None
        if not found:
            problems.append(f"{FIELD}.command: {program!r} not found{'' if os.sep in program else ' on PATH'}; give "
                            f"its full path, or set {FIELD}.remote: true if it exists only on the compute nodes")
    return problems


def setup_problems(command: str | list[str], species_dir: str | os.PathLike | None, tier: str,
                   elements: Iterable[str], remote: bool = False) -> list[str]:
    """Everything wrong with an FHI-aims set-up, an empty list when it looks right."""
    return species_problems(species_dir, tier, elements) + ([] if remote else command_problems(command))
