"""Settings of the structure generator: base tilts and the spreads of random deviations."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perovflow.structures.phases import MAX_TILT_DEGREES, N_TILT_PARAMETERS, PHASES, normalise_phase


def _default_tilts() -> dict[str, tuple[float, ...]]:
    return {"Pm-3m": (), "P4/mbm": (8.0,), "I4/mcm": (8.0,), "Pnma": (8.0, 8.0)}


@dataclass(frozen=True)
class PerturbationSettings:
    """How structures are built and randomised (the paper's random deviations).

    Every spread is the standard deviation of a normal distribution.

    - ``tilt_angles``: base tilt angles in degrees per phase (P4/mbm, I4/mcm: the c tilt;
      Pnma: the a- tilt shared by x and z, then the b+ tilt). Each in [0, 30].
    - ``displacement_std_a`` / ``displacement_std_b``: Cartesian displacement of every A / B
      atom, per component, Angstrom (default 0.1).
    - ``displacement_std_x``: the same for halides; 0 by default (the paper displaces only A, B).
    - ``tilt_std``: deviation of each tilt parameter of a tilted phase, degrees (default 2.5);
      the cubic phase stays untilted so each phase keeps its tilt pattern.
    - ``volume_std``: relative deviation of the cell volume (default 0.03).
    - ``ca_ratio_std``: relative deviation of the c/a ratio at fixed volume (default 0.02).
    - ``gamma_std``: deviation of the angle between a and b from 90 degrees, degrees (default 1.5).
    """

    tilt_angles: Mapping[str, tuple[float, ...]] = field(default_factory=_default_tilts)
    displacement_std_a: float = 0.1
    displacement_std_b: float = 0.1
    displacement_std_x: float = 0.0
    tilt_std: float = 2.5
    volume_std: float = 0.03
    ca_ratio_std: float = 0.02
    gamma_std: float = 1.5

    _LIMITS = {
        "displacement_std_a": 1.0, "displacement_std_b": 1.0, "displacement_std_x": 1.0,
        "tilt_std": 10.0, "volume_std": 0.2, "ca_ratio_std": 0.2, "gamma_std": 10.0,
    }

    def __post_init__(self) -> None:
        for name, upper in self._LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a number, got {value!r}; allowed: 0 <= {name} <= {upper}")
            if not 0.0 <= value <= upper:
                raise ValueError(f"{name} = {value!r} is out of range; allowed: 0 <= {name} <= {upper}")
        tilts = _default_tilts()
        for key, value in dict(self.tilt_angles).items():
            phase = normalise_phase(key)
            values = (value,) if isinstance(value, (int, float)) else tuple(value)
            if len(values) != N_TILT_PARAMETERS[phase]:
                raise ValueError(
                    f"tilt_angles[{key!r}]: {phase} takes {N_TILT_PARAMETERS[phase]} tilt angle(s), "
                    f"got {list(values)}; allowed: P4/mbm and I4/mcm one, Pnma two (a-, b+), Pm-3m none"
                )
            for v in values:
                if not math.isfinite(float(v)) or not 0.0 <= float(v) <= MAX_TILT_DEGREES:
                    raise ValueError(
                        f"tilt_angles[{key!r}] = {list(values)} is out of range; "
                        f"allowed: 0 <= tilt <= {MAX_TILT_DEGREES} degrees"
                    )
            tilts[phase] = tuple(float(v) for v in values)
        object.__setattr__(self, "tilt_angles", tilts)

    def replace(self, **changes: Any) -> PerturbationSettings:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def without_deviations(self) -> PerturbationSettings:
        """The same base tilts with every spread zero (relaxation starting structures)."""
        return self.replace(**{name: 0.0 for name in self._LIMITS})

    def todict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tilt_angles": {p: list(self.tilt_angles[p]) for p in PHASES}}
        out.update({name: getattr(self, name) for name in self._LIMITS})
        return out

    @classmethod
    def fromdict(cls, data: Mapping[str, Any]) -> PerturbationSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"settings: unknown names {unknown}; allowed: {sorted(known)}")
        return cls(**dict(data))
