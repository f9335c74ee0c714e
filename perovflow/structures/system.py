"""The chemical system of an alloy: one A, one B and a list of mixed X species."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from perovflow.structures.vegard import default_lattice_constant

ALLOWED_A: tuple[str, ...] = ("Cs", "Rb", "K")
ALLOWED_B: tuple[str, ...] = ("Pb", "Sn", "Ge")
ALLOWED_X: tuple[str, ...] = ("F", "Cl", "Br", "I")


@dataclass(frozen=True)
class PerovskiteSystem:
    """A perovskite alloy A B X3 with the X sites shared by the halides in ``x``.

    ``lattice_constants`` (halide -> Angstrom) overrides the default end-member table
    of :mod:`perovflow.structures.vegard`; halides missing from both raise ValueError.
    """

    a: str = "Cs"
    b: str = "Pb"
    x: tuple[str, ...] = ("Cl", "Br")
    lattice_constants: Mapping[str, float] | None = field(default=None, compare=False)
    end_members: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = (self.x,) if isinstance(self.x, str) else tuple(self.x)
        object.__setattr__(self, "x", x)
        if self.a not in ALLOWED_A:
            raise ValueError(f"a: unknown A-site species {self.a!r}; allowed: {list(ALLOWED_A)}")
        if self.b not in ALLOWED_B:
            raise ValueError(f"b: unknown B-site species {self.b!r}; allowed: {list(ALLOWED_B)}")
        if not x:
            raise ValueError(f"x: give at least one halide; allowed: {list(ALLOWED_X)}")
        for s in x:
            if s not in ALLOWED_X:
                raise ValueError(f"x: unknown halide {s!r}; allowed: {list(ALLOWED_X)}")
        if len(set(x)) != len(x):
            raise ValueError(f"x: halides must be distinct, got {list(x)}")
        overrides = dict(self.lattice_constants or {})
        for key, value in overrides.items():
            if key not in x:
                raise ValueError(
                    f"lattice_constants: key {key!r} is not a halide of this system; allowed: {list(x)}"
                )
            if not np.isfinite(value) or not 2.0 <= float(value) <= 15.0:
                raise ValueError(
                    f"lattice_constants[{key!r}] = {value!r} is out of range; "
                    "allowed: a pseudo-cubic lattice constant between 2 and 15 Angstrom"
                )
        values = []
        for s in x:
            value = overrides.get(s, default_lattice_constant(self.a, self.b, s))
            if value is None:
                raise ValueError(
                    f"lattice_constants: no default for {self.a}{self.b}{s}3; "
                    f"give lattice_constants={{{s!r}: <Angstrom>}}"
                )
            values.append(float(value))
        object.__setattr__(self, "end_members", tuple(values))

    @classmethod
    def parse(cls, text: str, lattice_constants: Mapping[str, float] | None = None) -> PerovskiteSystem:
        """Parse ``"Cs Sn Cl,Br,I"`` (A, B and comma-separated halides)."""
        parts = text.replace("/", ",").split()
        if len(parts) != 3:
            raise ValueError(
                f"system: expected 'A B X1,X2,...' such as 'Cs Sn Cl,Br,I', got {text!r}"
            )
        halides = tuple(s.strip() for s in parts[2].split(",") if s.strip())
        return cls(a=parts[0], b=parts[1], x=halides, lattice_constants=lattice_constants)

    @property
    def label(self) -> str:
        """Formula-like label such as ``CsSn(Cl/Br/I)3``."""
        xs = self.x[0] if len(self.x) == 1 else "(" + "/".join(self.x) + ")"
        return f"{self.a}{self.b}{xs}3"

    def todict(self) -> dict:
        return {"a": self.a, "b": self.b, "x": list(self.x),
                "lattice_constants": dict(zip(self.x, self.end_members))}

    def validate_species(self, halides: Sequence[str]) -> None:
        """Raise ValueError if a halide site list holds species outside ``x``."""
        bad = sorted(set(halides) - set(self.x))
        if bad:
            raise ValueError(f"halides: species {bad} are not in this system; allowed: {list(self.x)}")
