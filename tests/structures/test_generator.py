"""Vegard's law, the random deviations, reproducibility and the info of every structure."""
from __future__ import annotations

import time

import numpy as np
import pytest

from perovflow.structures import (
    DEFAULT_LATTICE_CONSTANTS,
    PHASES,
    PerovskiteSystem,
    PerturbationSettings,
    build_structure,
    generate_calibration_set,
    generate_pool,
    generate_relaxation_starts,
    generate_test_set,
    vegard_lattice_constant,
)

from .helpers import halide_space_group

BINARY = PerovskiteSystem("Cs", "Pb", ("Cl", "Br"))
TERNARY = PerovskiteSystem("Cs", "Sn", ("Cl", "Br", "I"))
QUIET = PerturbationSettings().without_deviations()


def test_default_table_covers_cs_pb_sn_ge_halides():
    for b in ("Pb", "Sn", "Ge"):
        for x in ("Cl", "Br", "I"):
            assert 5.2 < DEFAULT_LATTICE_CONSTANTS[("Cs", b, x)] < 6.5
    assert DEFAULT_LATTICE_CONSTANTS[("Cs", "Pb", "Br")] == pytest.approx(5.87, abs=0.02)
    assert DEFAULT_LATTICE_CONSTANTS[("Cs", "Sn", "I")] == pytest.approx(6.2, abs=0.05)


def test_vegard_end_points_and_midpoint():
    ends = TERNARY.end_members
    for j in range(3):
        counts = [0, 0, 0]
        counts[j] = 24
        assert vegard_lattice_constant(counts, ends) == pytest.approx(ends[j])
    assert vegard_lattice_constant([12, 12, 0], ends) == pytest.approx((ends[0] + ends[1]) / 2)
    assert vegard_lattice_constant([8, 8, 8], ends) == pytest.approx(sum(ends) / 3)


def test_cubic_cell_follows_vegard_at_end_points_and_between():
    pool = generate_pool(TERNARY, phases=["Pm-3m"], per_composition=1, seed=0, settings=QUIET)
    for atoms in pool:
        a = vegard_lattice_constant(atoms.info["x_counts"], TERNARY.end_members)
        np.testing.assert_allclose(atoms.cell.cellpar(), [2 * a] * 3 + [90] * 3, atol=1e-9)
        if max(atoms.info["x_counts"]) == 24:
            assert a == pytest.approx(TERNARY.end_members[int(np.argmax(atoms.info["x_counts"]))])


def test_lattice_constant_override():
    system = PerovskiteSystem("Cs", "Pb", ("Cl", "Br"), lattice_constants={"Br": 6.0})
    assert system.end_members == (DEFAULT_LATTICE_CONSTANTS[("Cs", "Pb", "Cl")], 6.0)
    atoms = build_structure(system, "cubic", ["Br"] * 24)
    np.testing.assert_allclose(atoms.cell.lengths(), 12.0)


def test_info_and_shape_of_every_structure():
    pool = generate_pool(BINARY, per_composition=2, seed=9)
    assert len(pool) == 4 * 25 * 2
    for i, atoms in enumerate(pool):
        assert len(atoms) == 40 and atoms.pbc.all()
        info = atoms.info
        assert info["pool_index"] == i and info["seed"] == 9 and info["role"] == "pool"
        assert info["phase"] in PHASES
        assert sum(info["x_counts"]) == 24
        assert info["composition"] == "".join(
            f"{x}{c}" for x, c in zip(BINARY.x, info["x_counts"]) if c)
        assert atoms.get_chemical_symbols()[:16] == ["Cs"] * 8 + ["Pb"] * 8
    assert [a.info["phase"] for a in pool[::50]] == list(PHASES)


def test_reproducible_and_streams_differ():
    a = generate_pool(BINARY, per_composition=2, seed=3)
    b = generate_pool(BINARY, per_composition=2, seed=3)
    c = generate_pool(BINARY, per_composition=2, seed=4)
    t = generate_test_set(BINARY, per_composition=2, seed=3)
    assert all(np.array_equal(x.positions, y.positions) and np.array_equal(x.numbers, y.numbers)
               for x, y in zip(a, b))
    assert not any(np.allclose(x.positions, y.positions) for x, y in zip(a, c))
    assert not any(np.allclose(x.positions, y.positions) for x, y in zip(a, t))
    assert {x.info["role"] for x in t} == {"test"}


def test_calibration_set_is_its_own_stream_of_the_asked_size():
    cells = 25 * 4  # CsPb(Cl/Br)3: 25 compositions, 4 phases
    test = generate_test_set(BINARY, per_composition=2, seed=3)
    for size in (cells, 130):  # one per composition and phase; two each, 130 of them kept
        held_out = generate_calibration_set(BINARY, size=size, seed=3)
        again = generate_calibration_set(BINARY, size=size, seed=3)
        assert len(held_out) == size and {a.info["role"] for a in held_out} == {"calibration"}
        assert all(np.array_equal(x.positions, y.positions) for x, y in zip(held_out, again))
        assert not any(np.allclose(x.positions, y.positions) for x in held_out for y in test[:20])
    assert len({a.info["phase"] for a in generate_calibration_set(BINARY, size=8, seed=3)}) > 1
    with pytest.raises(ValueError, match="size"):
        generate_calibration_set(BINARY, size=0)


def test_chunks_equal_the_full_pool():
    full = generate_pool(TERNARY, per_composition=2, seed=1)
    chunk = generate_pool(TERNARY, phases=["I4/mcm"], per_composition=2, seed=1,
                          compositions=[(1, 2, 21), (24, 0, 0)])
    by_key = {(a.info["phase"], tuple(a.info["x_counts"])): a for a in full[::2]}
    for atoms in chunk[::2]:
        ref = by_key[(atoms.info["phase"], tuple(atoms.info["x_counts"]))]
        np.testing.assert_array_equal(atoms.positions, ref.positions)
        np.testing.assert_array_equal(atoms.numbers, ref.numbers)


def test_deviations_follow_their_settings():
    settings = PerturbationSettings(volume_std=0.05, ca_ratio_std=0.03, gamma_std=2.0,
                                    tilt_std=3.0, displacement_std_a=0.2, displacement_std_b=0.05)
    pool = generate_pool(BINARY, phases=["P4/mbm"], per_composition=160, seed=0, settings=settings)
    vol = np.array([a.info["volume_scale"] for a in pool])
    ca = np.array([a.info["ca_ratio"] for a in pool])
    gamma = np.array([a.info["gamma_deg"] for a in pool])
    tilt = np.array([a.info["tilt_deg"] for a in pool])
    for values, mean, std in [(vol, 1, 0.05), (ca, 1, 0.03), (gamma, 90, 2.0), (tilt[:, 2], 8, 3.0)]:
        assert abs(values.mean() - mean) < 4 * std / np.sqrt(len(values))
        assert values.std() == pytest.approx(std, rel=0.08)
    assert np.allclose(tilt[:, :2], 0.0)
    for atoms in pool[:40]:
        gamma_cell = atoms.cell.cellpar()[5]
        assert gamma_cell == pytest.approx(atoms.info["gamma_deg"])
    # A/B displacements: with tilts fixed at zero every structure is the ideal cubic frame
    # (fractional) in its own cell plus the displacements
    ideal = build_structure(BINARY, "P4/mbm", tilt_angles=[0.0]).get_scaled_positions()
    settings0 = settings.replace(tilt_std=0.0, tilt_angles={"P4/mbm": (0.0,)})
    pool0 = generate_pool(BINARY, phases=["P4/mbm"], per_composition=160, seed=0, settings=settings0)
    disp_a = np.concatenate([a.positions[:8] - ideal[:8] @ np.array(a.cell) for a in pool0])
    disp_b = np.concatenate([a.positions[8:16] - ideal[8:16] @ np.array(a.cell) for a in pool0])
    disp_x = np.concatenate([a.positions[16:] - ideal[16:] @ np.array(a.cell) for a in pool0])
    assert disp_a.std() == pytest.approx(0.2, rel=0.05)
    assert disp_b.std() == pytest.approx(0.05, rel=0.05)
    assert np.abs(disp_x).max() < 1e-9


def test_relaxation_starts_have_no_deviations():
    starts = generate_relaxation_starts(TERNARY, per_phase=25, seed=0)
    assert len(starts) == 100
    assert [a.info["phase"] for a in starts[::25]] == list(PHASES)
    expected = {"Pm-3m": 221, "P4/mbm": 127, "I4/mcm": 140, "Pnma": 62}
    for atoms in starts:
        assert atoms.info["role"] == "relax_start"
        assert halide_space_group(atoms) == expected[atoms.info["phase"]]
        template = build_structure(TERNARY, atoms.info["phase"])
        ratio = atoms.cell.lengths() / template.cell.lengths()
        a = vegard_lattice_constant(atoms.info["x_counts"], TERNARY.end_members)
        np.testing.assert_allclose(ratio, a / TERNARY.end_members[0])
        np.testing.assert_allclose(atoms.get_scaled_positions(), template.get_scaled_positions(),
                                   atol=1e-9)
    again = generate_relaxation_starts(TERNARY, per_phase=25, seed=0)
    assert all(np.array_equal(x.numbers, y.numbers) for x, y in zip(starts, again))


def test_binary_pool_is_fast():
    start = time.perf_counter()
    pool = generate_pool(BINARY, per_composition=100, seed=0)
    elapsed = time.perf_counter() - start
    assert len(pool) == 10_000
    assert elapsed < 10.0  # ~0.4 s here; the 130k benchmark is benchmarks/bench_pool.py
