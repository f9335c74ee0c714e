"""MBTR k=2 (inverse distances) with the paper's hyperparameters as defaults.

Defaults are Table S1 of Homm et al. 2025 for CsSn(Cl/Br/I)3: grid -0.1..0.6 1/Å with 50 points,
sigma 4.279e-2 1/Å, exponential weighting with r_cut 7.04 Å and threshold 1e-3, and
features normalised by the number of atoms. Campaigns take their values from a column of
Table S1 (``perovflow.settings.TABLE_S1``; the CsPb(Cl/Br)3 column: sigma 1.752e-2, r_cut 6.27,
normalization "none").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from ase import Atoms


@dataclass(frozen=True)
class MBTRSettings:
    species: tuple[str, ...] = field(default_factory=tuple)
    x_min: float = -0.1
    x_max: float = 0.6
    n_grid: int = 50
    sigma: float = 4.279e-2
    r_cut: float = 7.04
    w_cut: float = 1.0e-3
    normalization: str = "n_atoms"

    def __post_init__(self):
        if not self.species:
            raise ValueError("descriptor.species: give at least one element symbol")
        from ase.data import atomic_numbers

        unknown = [s for s in self.species if s not in atomic_numbers]
        if unknown:
            raise ValueError(f"descriptor.species: unknown element(s) {unknown}")
        if self.sigma <= 0 or self.r_cut <= 0 or self.n_grid < 2:
            raise ValueError("descriptor: sigma and r_cut must be > 0 and n_grid >= 2")
        if not 0 < self.w_cut < 1:
            raise ValueError("descriptor.w_cut: must lie in (0, 1)")
        if self.normalization not in ("none", "l2", "n_atoms", "valle_oganov"):
            raise ValueError("descriptor.normalization: allowed none, l2, n_atoms, valle_oganov")

    def as_dict(self) -> dict:
        data = asdict(self)
        data["species"] = list(self.species)
        return data

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


class MBTRDescriptor:
    """Thin wrapper around DScribe's MBTR that fixes the paper's settings."""

    def __init__(self, settings: MBTRSettings):
        from dscribe.descriptors import MBTR

        self.settings = settings
        self._mbtr = MBTR(
            species=list(settings.species),
            geometry={"function": "inverse_distance"},
            grid={"min": settings.x_min, "max": settings.x_max, "n": settings.n_grid,
                  "sigma": settings.sigma},
            weighting={"function": "exp", "r_cut": settings.r_cut, "threshold": settings.w_cut},
            normalization=settings.normalization,
            periodic=True,
            sparse=False,
        )

    @property
    def n_features(self) -> int:
        return self._mbtr.get_number_of_features()

    def check(self, atoms: Atoms) -> None:
        """ValueError for a structure the descriptor cannot describe (foreign species, NaN)."""
        foreign = set(atoms.get_chemical_symbols()) - set(self.settings.species)
        if foreign:
            raise ValueError(
                f"structure has species {sorted(foreign)} that the descriptor does not know; "
                f"allowed: {list(self.settings.species)}"
            )
        if not np.all(np.isfinite(atoms.positions)):
            raise ValueError("structure has non-finite positions")

    def create(self, structures: Sequence[Atoms]) -> np.ndarray:
        """Feature matrix of shape (n_structures, n_features)."""
        for atoms in structures:
            self.check(atoms)
        if not structures:
            return np.zeros((0, self.n_features))
        return np.asarray(self._mbtr.create(list(structures), n_jobs=1), dtype=np.float64).reshape(
            len(structures), -1
        )

    def create_with_derivatives(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """Features (n_features,) and their analytic derivatives with respect to every
        atom position, shape (n_atoms, 3, n_features)."""
        self.check(atoms)
        derivatives, features = self._mbtr.derivatives(atoms, method="analytical", return_descriptor=True)
        return np.asarray(features, dtype=np.float64), np.asarray(derivatives, dtype=np.float64)

