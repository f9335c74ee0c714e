"""Seeded, vectorised generation of pools, test sets and relaxation starting structures.

Every (phase, composition) block draws from its own random stream, derived from
``(seed, role, phase, composition)``: a block is the same whichever phases or
compositions are asked for together, so a pool can be built in chunks, and the pool,
the test set and the relaxation starts of one seed never share a stream.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from perovflow.structures.compositions import (
    N_X_SITES,
    check_composition,
    composition_string,
    decorate_many,
    enumerate_compositions,
)
from perovflow.structures.phases import (
    N_ATOMS,
    N_TILT_PARAMETERS,
    PHASES,
    axis_tilts,
    normalise_phase,
    normalise_phases,
    tilted_frames,
)
from perovflow.structures.settings import PerturbationSettings
from perovflow.structures.system import PerovskiteSystem
from perovflow.structures.vegard import vegard_lattice_constant

ROLES: dict[str, int] = {"pool": 0, "test": 1, "relax_start": 2, "calibration": 3}  # random streams


@dataclass
class StructureBatch:
    """Structures of one phase as arrays; ``to_atoms`` makes ASE objects."""

    phase: str
    counts: np.ndarray  # (n, k) halide counts
    numbers: np.ndarray  # (n, 40)
    positions: np.ndarray  # (n, 40, 3) Cartesian, Angstrom
    cells: np.ndarray  # (n, 3, 3) rows are lattice vectors
    tilts_deg: np.ndarray  # (n, 3) tilt about x, y, z
    volume_scale: np.ndarray  # (n,)
    ca_ratio: np.ndarray  # (n,)
    gamma_deg: np.ndarray  # (n,)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _rng(seed: int, role: str, phase: str, key: Sequence[int] = ()) -> np.random.Generator:
    spawn_key = (ROLES[role], PHASES.index(phase), *[int(k) for k in key])
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


def build_batch(
    system: PerovskiteSystem,
    phase: str,
    counts: np.ndarray,
    rng: np.random.Generator,
    settings: PerturbationSettings,
    halides: np.ndarray | None = None,
) -> StructureBatch:
    """Build one structure per row of ``counts`` (n, k) with random deviations and decoration.

    ``halides`` (n, 24) of halide indices replaces the random decoration when given.
    All draws come from ``rng`` in a fixed order, so the result is reproducible.
    """
    phase = normalise_phase(phase)
    counts = np.atleast_2d(np.asarray(counts, int))
    n = counts.shape[0]
    k = N_TILT_PARAMETERS[phase]
    base = np.radians(np.asarray(settings.tilt_angles[phase], float)).reshape(1, k)
    tilts = base + rng.normal(0.0, math.radians(settings.tilt_std), (n, k))
    frac, lengths = tilted_frames(phase, tilts)
    bond = 0.5 * np.asarray(vegard_lattice_constant(counts, system.end_members)).reshape(n)
    lengths = lengths * bond[:, None]

    volume_scale = np.clip(1.0 + rng.normal(0.0, settings.volume_std, n), 0.5, 1.5)
    ca_ratio = np.clip(1.0 + rng.normal(0.0, settings.ca_ratio_std, n), 0.5, 1.5)
    gamma = np.radians(90.0 + rng.normal(0.0, settings.gamma_std, n))
    iso = np.cbrt(volume_scale)
    la = lengths[:, 0] * iso / np.cbrt(ca_ratio)
    lb = lengths[:, 1] * iso / np.cbrt(ca_ratio)
    lc = lengths[:, 2] * iso * np.cbrt(ca_ratio) ** 2
    cells = np.zeros((n, 3, 3))
    cells[:, 0, 0] = la
    cells[:, 1, 0] = lb * np.cos(gamma)
    cells[:, 1, 1] = lb * np.sin(gamma)
    cells[:, 2, 2] = lc
    positions = frac @ cells
    positions[:, :8] += rng.normal(0.0, settings.displacement_std_a, (n, 8, 3))
    positions[:, 8:16] += rng.normal(0.0, settings.displacement_std_b, (n, 8, 3))
    positions[:, 16:] += rng.normal(0.0, settings.displacement_std_x, (n, N_X_SITES, 3))

    if halides is None:
        halides = decorate_many(counts, rng)
    x_numbers = np.array([atomic_numbers[s] for s in system.x])
    numbers = np.empty((n, N_ATOMS), dtype=int)
    numbers[:, :8] = atomic_numbers[system.a]
    numbers[:, 8:16] = atomic_numbers[system.b]
    numbers[:, 16:] = x_numbers[halides]
    return StructureBatch(
        phase=phase, counts=counts, numbers=numbers, positions=positions, cells=cells,
        tilts_deg=np.degrees(axis_tilts(phase, tilts)), volume_scale=volume_scale,
        ca_ratio=ca_ratio, gamma_deg=np.degrees(gamma),
    )


def batch_to_atoms(
    system: PerovskiteSystem, batch: StructureBatch, info: dict, start_index: int = 0
) -> list[Atoms]:
    """ASE Atoms for a batch; ``info`` entries are shared, per-structure ones are added."""
    out = []
    labels: dict[tuple[int, ...], str] = {}
    for i in range(batch.numbers.shape[0]):
        counts = tuple(int(c) for c in batch.counts[i])
        label = labels.get(counts)
        if label is None:
            label = labels[counts] = composition_string(system, counts)
        atoms = Atoms(numbers=batch.numbers[i], positions=batch.positions[i],
                      cell=batch.cells[i], pbc=True)
        atoms.info.update(info)
        atoms.info.update(
            phase=batch.phase, composition=label, x_counts=list(counts),
            pool_index=start_index + i, tilt_deg=batch.tilts_deg[i].tolist(),
            volume_scale=float(batch.volume_scale[i]), ca_ratio=float(batch.ca_ratio[i]),
            gamma_deg=float(batch.gamma_deg[i]),
        )
        out.append(atoms)
    return out


def _generator_info(system, settings, seed, role, **extra) -> dict:
    record = {"system": system.todict(), "settings": settings.todict(), "role": role, **extra}
    return {"seed": seed, "role": role, "system": system.label,
            "generator": json.dumps(record, sort_keys=True, separators=(",", ":"))}


def _per_composition(
    system: PerovskiteSystem,
    phases: Iterable[str] | str,
    per_composition: int,
    seed: int,
    settings: PerturbationSettings,
    role: str,
    compositions: Sequence[Sequence[int]] | None,
) -> list[Atoms]:
    phases = normalise_phases(phases)
    per_composition = _check_count("per_composition", per_composition)
    seed = _check_seed(seed)
    if not isinstance(settings, PerturbationSettings):
        raise ValueError(f"settings: expected PerturbationSettings, got {type(settings).__name__}")
    comps = (enumerate_compositions(system) if compositions is None
             else [check_composition(system, c) for c in compositions])
    info = _generator_info(system, settings, seed, role, per_composition=per_composition)
    out: list[Atoms] = []
    for phase in phases:
        for counts in comps:
            rng = _rng(seed, role, phase, counts)
            batch = build_batch(system, phase, np.tile(counts, (per_composition, 1)), rng, settings)
            out.extend(batch_to_atoms(system, batch, info, start_index=len(out)))
    return out


def generate_pool(
    system: PerovskiteSystem,
    phases: Iterable[str] | str = PHASES,
    per_composition: int = 100,
    seed: int = 0,
    settings: PerturbationSettings | None = None,
    compositions: Sequence[Sequence[int]] | None = None,
) -> list[Atoms]:
    """The paper's structure pool: ``per_composition`` structures per composition and phase.

    Ordered by phase, then composition (as :func:`enumerate_compositions`), then replica.
    ``compositions`` restricts the pool to some compositions (for chunked generation);
    each block is identical to the same block of the full pool.
    """
    return _per_composition(system, phases, per_composition, seed,
                            settings or PerturbationSettings(), "pool", compositions)


def generate_test_set(
    system: PerovskiteSystem,
    phases: Iterable[str] | str = PHASES,
    per_composition: int = 2,
    seed: int = 0,
    settings: PerturbationSettings | None = None,
    compositions: Sequence[Sequence[int]] | None = None,
) -> list[Atoms]:
    """The test set: like the pool but from a different random stream of the same seed."""
    return _per_composition(system, phases, per_composition, seed,
                            settings or PerturbationSettings(), "test", compositions)


def generate_calibration_set(
    system: PerovskiteSystem,
    phases: Iterable[str] | str = PHASES,
    size: int = 100,
    seed: int = 0,
    settings: PerturbationSettings | None = None,
) -> list[Atoms]:
    """``size`` held-out structures whose errors calibrate sigma, drawn like the test set from
    a random stream of their own: the fewest per composition and phase that give ``size``,
    then a seeded random ``size`` of them (in their generated order)."""
    size = _check_count("size", size)
    seed = _check_seed(seed)
    cells = len(enumerate_compositions(system)) * len(normalise_phases(phases))
    drawn = _per_composition(system, phases, -(-size // cells), seed, settings or PerturbationSettings(),
                             "calibration", None)
    keep = np.sort(np.random.default_rng([seed, ROLES["calibration"]]).choice(len(drawn), size, replace=False))
    return [drawn[i] for i in keep]


def generate_relaxation_starts(
    system: PerovskiteSystem,
    phases: Iterable[str] | str = PHASES,
    per_phase: int = 25,
    seed: int = 0,
    settings: PerturbationSettings | None = None,
) -> list[Atoms]:
    """Starting structures for relaxations: no random deviations (base tilts, Vegard cell,
    ideal A/B sites), a composition drawn uniformly from all compositions and a random
    halide decoration for each; ``per_phase`` per phase."""
    phases = normalise_phases(phases)
    per_phase = _check_count("per_phase", per_phase)
    seed = _check_seed(seed)
    base = (settings or PerturbationSettings()).without_deviations()
    comps = np.array(enumerate_compositions(system), dtype=int)
    info = _generator_info(system, base, seed, "relax_start", per_phase=per_phase)
    out: list[Atoms] = []
    for phase in phases:
        rng = _rng(seed, "relax_start", phase)
        counts = comps[rng.integers(len(comps), size=per_phase)]
        batch = build_batch(system, phase, counts, rng, base)
        out.extend(batch_to_atoms(system, batch, info, start_index=len(out)))
    return out


def build_structure(
    system: PerovskiteSystem,
    phase: str,
    halides: Sequence[str] | None = None,
    tilt_angles: Sequence[float] | None = None,
) -> Atoms:
    """One undistorted structure with the given 24 X-site species (default: all the first
    halide), base tilts of ``PerturbationSettings`` unless ``tilt_angles`` (degrees) is given."""
    phase = normalise_phase(phase)
    halides = [system.x[0]] * N_X_SITES if halides is None else list(halides)
    if len(halides) != N_X_SITES:
        raise ValueError(
            f"halides: a site list needs exactly {N_X_SITES} species (one per X site), got {len(halides)}"
        )
    system.validate_species(halides)
    tilts = {} if tilt_angles is None else {phase: tuple(tilt_angles)}
    settings = PerturbationSettings(tilt_angles=tilts).without_deviations()
    index = np.array([[system.x.index(s) for s in halides]])
    counts = np.array([[int((index == j).sum()) for j in range(len(system.x))]])
    batch = build_batch(system, phase, counts, np.random.default_rng(0), settings, halides=index)
    info = {"role": "template", "system": system.label}
    return batch_to_atoms(system, batch, info)[0]
