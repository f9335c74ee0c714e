"""CP2K settings: the physics that identifies a label, and the SCF aids that do not."""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# Where Debian's ``cp2k-data`` puts the basis and potential files.
DEBIAN_DATA_DIR = Path("/usr/share/cp2k")
BINARY_NAMES = ("cp2k.psmp", "cp2k.ssmp", "cp2k.popt", "cp2k.sopt", "cp2k")
SCF_SOLVERS = ("diagonalization", "ot")


@dataclass(frozen=True)
class Cp2kSettings:
    """One CP2K single point: PBE with GTH pseudopotentials and MOLOPT basis sets, Gamma only.

    ``max_scf``, ``scf_solver`` and ``mixing_alpha`` only help the SCF converge; they are
    left out of :meth:`physics` so that a label the error handler rescued (more SCF
    steps, smaller mixing, OT) counts as the same physics as one that converged at once.
    """

    functional: str = "PBE"
    basis_set: str = "SZV-MOLOPT-SR-GTH"
    basis_file: str = "BASIS_MOLOPT"
    potential: str = "GTH-PBE"
    potential_file: str = "GTH_POTENTIALS"
    cutoff_ry: float = 250.0
    rel_cutoff_ry: float = 50.0
    eps_scf: float = 1.0e-6
    eps_default: float = 1.0e-10
    charge: int = 0
    max_scf: int = 50
    scf_solver: str = "diagonalization"
    mixing_alpha: float = 0.4

    def __post_init__(self) -> None:
        if self.functional.upper() != "PBE":
            raise ValueError(f"cp2k.functional: only 'PBE' is supported, got {self.functional!r}")
        if self.scf_solver not in SCF_SOLVERS:
            raise ValueError(f"cp2k.scf_solver: {self.scf_solver!r}; allowed: {', '.join(SCF_SOLVERS)}")
        if self.cutoff_ry <= 0 or self.rel_cutoff_ry <= 0:
            raise ValueError("cp2k.cutoff_ry and cp2k.rel_cutoff_ry must be positive (Rydberg)")
        if self.max_scf < 1:
            raise ValueError(f"cp2k.max_scf must be at least 1, got {self.max_scf}")
        if not 0 < self.eps_scf < 1:
            raise ValueError(f"cp2k.eps_scf must lie in (0, 1), got {self.eps_scf}")
        if not 0 < self.mixing_alpha <= 1:
            raise ValueError(f"cp2k.mixing_alpha must lie in (0, 1], got {self.mixing_alpha}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Cp2kSettings:
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValueError(f"cp2k settings: unknown {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def physics(self) -> dict[str, Any]:
        """The settings that change the converged result (hashed into the label's identity)."""
        aids = {"max_scf", "scf_solver", "mixing_alpha"}
        return {k: v for k, v in self.as_dict().items() if k not in aids} | {"kpoints": "gamma"}


def find_binary() -> str | None:
    """The first CP2K executable on ``PATH`` (Debian's ``cp2k`` package installs ``cp2k.psmp``)."""
    for name in BINARY_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def data_dir() -> Path:
    """The folder with CP2K's basis and potential files: ``$CP2K_DATA_DIR`` or Debian's."""
    return Path(os.environ.get("CP2K_DATA_DIR", DEBIAN_DATA_DIR))
