"""Halide fractions of a structure as plain numbers, so that a database query can ask for a
composition region (``{"x_I": {"$gte": 0.5}}``) without parsing composition strings."""
from __future__ import annotations

from collections.abc import Sequence

HALIDE_NUMBERS = {"F": 9, "Cl": 17, "Br": 35, "I": 53}
FRACTION_FIELDS = tuple(f"x_{symbol}" for symbol in HALIDE_NUMBERS)


def halide_fractions(numbers: Sequence[int]) -> dict[str, float | None]:
    """``x_F``, ``x_Cl``, ``x_Br``, ``x_I``: each halide's share of the halide sites (they sum
    to 1; 0.0 for a halide that is absent). Every field is ``None`` for a structure without
    halides, so each structure carries all four keys either way."""
    numbers = [int(z) for z in numbers]
    counts = {f"x_{symbol}": numbers.count(z) for symbol, z in HALIDE_NUMBERS.items()}
    total = sum(counts.values())
    if total == 0:
        return dict.fromkeys(FRACTION_FIELDS)
    return {name: count / total for name, count in counts.items()}
