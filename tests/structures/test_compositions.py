"""Compositions of the 24 X sites, uniform sampling and uniform random decoration."""
from __future__ import annotations

from collections import Counter
from math import comb

import numpy as np
import pytest

from perovflow.structures import (
    PerovskiteSystem,
    check_composition,
    composition_string,
    enumerate_compositions,
    generate_pool,
    generate_relaxation_starts,
)
from perovflow.structures.compositions import decorate, decorate_many

BINARY = PerovskiteSystem("Cs", "Pb", ("Cl", "Br"))
TERNARY = PerovskiteSystem("Cs", "Sn", ("Cl", "Br", "I"))


@pytest.mark.parametrize(("system", "expected"), [(BINARY, 25), (TERNARY, 325),
                                             (PerovskiteSystem("Cs", "Pb", ("Br",)), 1)])
def test_composition_counts(system, expected):
    comps = enumerate_compositions(system)
    assert len(comps) == expected == comb(24 + len(system.x) - 1, len(system.x) - 1)
    assert len(set(comps)) == expected
    assert all(sum(c) == 24 and min(c) >= 0 and len(c) == len(system.x) for c in comps)
    assert comps == sorted(comps)


def test_composition_string_is_in_system_order_without_zeros():
    assert composition_string(BINARY, (8, 16)) == "Cl8Br16"
    assert composition_string(TERNARY, (0, 24, 0)) == "Br24"
    assert composition_string(TERNARY, (3, 0, 21)) == "Cl3I21"


def test_pool_has_exactly_per_composition_per_composition_and_phase():
    pool = generate_pool(TERNARY, per_composition=3, seed=5, settings=None)
    assert len(pool) == 4 * 325 * 3
    per_block = Counter((a.info["phase"], tuple(a.info["x_counts"])) for a in pool)
    assert set(per_block.values()) == {3}
    assert len(per_block) == 4 * 325
    for atoms in pool[:: 97]:
        symbols = atoms.get_chemical_symbols()[16:]
        assert [symbols.count(x) for x in TERNARY.x] == atoms.info["x_counts"]


def _chi_square(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def test_random_decoration_is_uniform_over_sites():
    rng = np.random.default_rng(11)
    n = 2000
    for counts in [(12, 12), (3, 21), (5, 7, 12)]:
        halides = decorate(counts, n, rng)
        assert (np.sort(halides, axis=1) == np.repeat(np.arange(len(counts)), counts)).all()
        for species, count in enumerate(counts):
            observed = (halides == species).sum(axis=0)
            expected = np.full(24, n * count / 24)
            # 23 degrees of freedom: the 99.99 % quantile is ~ 56
            assert _chi_square(observed, expected) < 56, (counts, species)


def test_pool_decoration_is_uniform_over_sites():
    pool = generate_pool(BINARY, phases=["Pnma"], per_composition=400, seed=2,
                         compositions=[(12, 12)])
    cl = np.array([a.numbers[16:] == 17 for a in pool]).sum(axis=0)
    assert _chi_square(cl, np.full(24, 200.0)) < 56
    # no two decorations identical in 400 draws (C(24,12) ~ 2.7e6 patterns)
    assert len({a.numbers.tobytes() for a in pool}) == 400


def test_decorate_many_matches_counts():
    rng = np.random.default_rng(0)
    counts = np.array(enumerate_compositions(TERNARY))
    halides = decorate_many(counts, rng)
    got = np.stack([(halides == j).sum(axis=1) for j in range(3)], axis=1)
    np.testing.assert_array_equal(got, counts)


def test_relaxation_starts_draw_compositions_uniformly():
    starts = generate_relaxation_starts(BINARY, phases=["cubic"], per_phase=5000, seed=1)
    observed = np.bincount([a.info["x_counts"][0] for a in starts], minlength=25)
    # 24 degrees of freedom: the 99.99 % quantile is ~ 58
    assert _chi_square(observed, np.full(25, 200.0)) < 58


@pytest.mark.parametrize("counts", [(1, 2), (25, 0), (-1, 25), (24,), (8, 8, 8)])
def test_bad_composition_names_field_and_rule(counts):
    with pytest.raises(ValueError, match="composition"):
        check_composition(BINARY, counts)
    with pytest.raises(ValueError, match="composition"):
        generate_pool(BINARY, compositions=[counts], per_composition=1)
