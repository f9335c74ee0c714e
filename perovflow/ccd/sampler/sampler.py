"""The training-set sampler of Thomas et al. 2019 for CsPbBr3 in a 2x2x2 supercell.

Steps (each structure records its origin in ``info["source"]``):

1. ``reference``: the cubic lattice constant a0, by a scan of the cubic cell's energy.
2. ``tilt_scan``: each of the 15 Glazer tilt systems at a list of tilt angles; the lowest
   energy angle stands for the relaxed tilt system (a cheap stand-in for the paper's full
   geometric relaxation).
3. ``modes``: displacements of every relaxed tilt system along symmetry-adapted
   displacement modes of the reference supercell.
4. ``strain``: homogeneous strains of the cubic cell from the A1g, Eg and T2g subspaces,
   one structure per symmetrically distinct direction (the irreducible wedge).
5. ``random``: random strain and displacement directions on n-spheres with random
   amplitudes, on random bases; a candidate is kept only if its correlation vector
   (orbit-summed invariant polynomials) is not too close to one already in the set.
6. ``interpolation``: linear paths cubic -> tetragonal (a0a0c+) -> orthorhombic (a-a-c+).

Energies come from a callable ``energy(structures) -> eV/atom``; nothing here knows an engine.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from perovflow.ccd.sampler.glazer import TILT_SYSTEMS, build_tilted
from perovflow.ccd.sampler.modes import STRAIN_SUBSPACES, canonical_strain, displacement_modes, strain_tensor

EnergyFn = Callable[[Sequence[Atoms]], np.ndarray]
SPECIES = ("Cs", "Pb", "Br")
TETRAGONAL, ORTHORHOMBIC = "a0a0c+", "a-a-c+"


@dataclass(frozen=True)
class SamplerSettings:
    """Sizes of each step (defaults: a few hundred structures; the paper had 31,000)."""

    a0_guess: float = 5.87
    a0_scan: tuple[float, ...] = (-0.03, -0.015, 0.0, 0.015, 0.03)
    tilt_systems: tuple[str, ...] = tuple(TILT_SYSTEMS)
    scan_angles: tuple[float, ...] = (3.0, 6.0, 9.0, 12.0)
    modes_per_system: int = 6
    mode_amplitudes: tuple[float, ...] = (0.05, 0.1)
    strain_magnitudes: tuple[float, ...] = (0.01, 0.02, 0.03)
    strain_directions: int = 12
    n_random: int = 300
    random_max_strain: float = 0.03
    random_max_displacement: float = 0.12
    uniqueness_tolerance: float = 0.02
    interpolation_points: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("modes_per_system", "strain_directions", "n_random", "interpolation_points", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"sampler.{name}: expected an integer >= 0, got {value!r}")
        for name in ("tilt_systems", "scan_angles", "mode_amplitudes", "strain_magnitudes", "a0_scan"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = [s for s in self.tilt_systems if s not in TILT_SYSTEMS]
        if unknown:
            raise ValueError(f"sampler.tilt_systems: unknown {unknown}; allowed: {list(TILT_SYSTEMS)}")
        if any(not 0 < abs(a) <= 30 for a in self.scan_angles):
            raise ValueError(f"sampler.scan_angles: expected angles in (0, 30] degrees, got {list(self.scan_angles)}")
        if any(not 0 < m < 0.2 for m in self.strain_magnitudes + (self.random_max_strain,)):
            raise ValueError("sampler.strain_magnitudes / random_max_strain: expected strains in (0, 0.2)")
        if any(not 0 < m < 0.5 for m in self.mode_amplitudes + (self.random_max_displacement,)):
            raise ValueError("sampler.mode_amplitudes / random_max_displacement: expected RMS displacements "
                             "in (0, 0.5) Angstrom")
        if not 2.0 < self.a0_guess < 15.0:
            raise ValueError(f"sampler.a0_guess: expected a lattice constant in (2, 15) Angstrom, got {self.a0_guess}")

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _tag(atoms: Atoms, source: str, **info) -> Atoms:
    atoms.info["source"] = source
    atoms.info.update(info)
    return atoms


def cubic(a0: float) -> Atoms:
    return build_tilted("a0a0a0", 0.0, a0 / 2.0, SPECIES)


def strained(atoms: Atoms, strain: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return out


def displaced(atoms: Atoms, vector: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.positions = atoms.positions + np.asarray(vector).reshape(-1, 3)
    return out


def fit_lattice_constant(a_values: np.ndarray, energies: np.ndarray) -> float:
    """Minimum of a parabola through the scan (clipped to the scanned range)."""
    c = np.polyfit(a_values, energies, 2)
    if c[0] <= 0:
        return float(a_values[int(np.argmin(energies))])
    return float(np.clip(-c[1] / (2 * c[0]), a_values.min(), a_values.max()))


@dataclass
class SampleSet:
    """Structures with their sources, plus what the sampler learned on the way."""

    structures: list[Atoms] = field(default_factory=list)
    a0: float = 0.0
    best_angles: dict[str, float] = field(default_factory=dict)

    def add(self, items: Sequence[Atoms]) -> None:
        self.structures.extend(items)


class CsPbBr3Sampler:
    """The sampler of Thomas et al. 2019; ``energy`` labels the few structures the sampler itself needs
    (reference scan and tilt scans); those labels are kept in ``info["energy_per_atom"]``."""

    def __init__(self, settings: SamplerSettings = SamplerSettings(), energy: EnergyFn | None = None,
                 fingerprint: Callable[[Sequence[Atoms]], np.ndarray] | None = None,
                 progress: Callable[[str], None] | None = None):
        self.settings = settings
        self.energy = energy
        self.fingerprint = fingerprint
        self.progress = progress or (lambda msg: None)
        self.rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(3,)))

    def _label(self, structures: list[Atoms]) -> np.ndarray:
        if self.energy is None:
            raise ValueError("sampler: the reference and tilt scans need an energy function (an oracle)")
        e = np.asarray(self.energy(structures), float)
        for a, v in zip(structures, e):
            a.info["energy_per_atom"] = float(v)
        return e

    def reference(self) -> tuple[float, list[Atoms]]:
        s = self.settings
        a_values = s.a0_guess * (1.0 + np.asarray(s.a0_scan))
        structures = [_tag(cubic(a), "reference", lattice_constant=float(a)) for a in a_values]
        e = self._label(structures)
        a0 = fit_lattice_constant(a_values, e)
        self.progress(f"reference: cubic a0 = {a0:.4f} A from {len(a_values)} energies")
        return a0, structures

    def tilt_scan(self, a0: float, systems: Sequence[str] | None = None) -> tuple[dict[str, float], list[Atoms]]:
        """Scan each tilt system's angle; best angle (0 if no tilt lowers the energy)."""
        s = self.settings
        systems = list(systems or s.tilt_systems)
        out, best = [], {}
        e_cubic = float(self._label([cubic(a0)])[0])
        for symbol in systems:
            if symbol == "a0a0a0":
                best[symbol] = 0.0
                continue
            structures = [_tag(build_tilted(symbol, ang, a0 / 2.0, SPECIES), "tilt_scan", tilt_system=symbol,
                               tilt_angle=float(ang)) for ang in s.scan_angles]
            e = self._label(structures)
            k = int(np.argmin(e))
            best[symbol] = float(s.scan_angles[k]) if e[k] < e_cubic else 0.0
            out += structures
        self.progress(f"tilt scan: {len(out)} structures; best angles "
                      + ", ".join(f"{k} {v:g}" for k, v in best.items()))
        return best, out

    def bases(self, a0: float, best: dict[str, float]) -> list[tuple[str, Atoms]]:
        return [(sym, build_tilted(sym, ang, a0 / 2.0, SPECIES)) for sym, ang in best.items()]

    def modes(self, a0: float, best: dict[str, float]) -> list[Atoms]:
        s = self.settings
        blocks = displacement_modes((2, 2, 2))
        out = []
        for symbol, base in self.bases(a0, best):
            chosen = self.rng.choice(len(blocks), size=min(s.modes_per_system, len(blocks)), replace=False)
            for b in chosen:
                direction = blocks[b][:, 0]
                for amp in s.mode_amplitudes:
                    vec = direction * amp * np.sqrt(len(base))  # RMS displacement per atom = amp
                    out.append(_tag(displaced(base, vec), "modes", tilt_system=symbol, mode=int(b),
                                    amplitude=float(amp)))
        self.progress(f"symmetry-adapted modes: {len(out)} structures")
        return out

    def strains(self, a0: float) -> list[Atoms]:
        s = self.settings
        base = cubic(a0)
        out, seen = [], set()
        for label, basis in STRAIN_SUBSPACES.items():
            dim = len(basis)
            if dim == 1:
                directions = np.array([[1.0], [-1.0]])
            elif dim == 2:
                t = np.linspace(0, 2 * np.pi, s.strain_directions, endpoint=False)
                directions = np.stack([np.cos(t), np.sin(t)], axis=1)
            else:
                directions = _sphere_points(s.strain_directions, dim)
            for mag in s.strain_magnitudes:
                for d in directions:
                    tensor = strain_tensor(mag * d @ basis)
                    key = canonical_strain(tensor)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.append(_tag(strained(base, tensor), "strain", subspace=label, magnitude=float(mag)))
        self.progress(f"strain enumeration: {len(out)} symmetrically distinct strains")
        return out

    def random(self, a0: float, best: dict[str, float], existing: Sequence[Atoms]) -> list[Atoms]:
        s = self.settings
        bases = [("a0a0a0", cubic(a0))] + self.bases(a0, best)
        blocks = np.hstack(displacement_modes((2, 2, 2)))  # (120, 117): no translations
        out: list[Atoms] = []
        known = self.fingerprint(list(existing)) if (self.fingerprint and len(existing)) else None
        rejected, tries = 0, 0
        while len(out) < s.n_random and tries < 20 * max(s.n_random, 1):
            tries += 1
            symbol, base = bases[int(self.rng.integers(len(bases)))]
            e = self.rng.normal(size=6)
            e *= s.random_max_strain * self.rng.uniform() / np.linalg.norm(e)
            u = self.rng.normal(size=blocks.shape[1])
            u /= np.linalg.norm(u)
            amp = s.random_max_displacement * self.rng.uniform()
            atoms = strained(displaced(base, blocks @ u * amp * np.sqrt(len(base))), strain_tensor(e))
            if self.fingerprint is not None:
                fp = self.fingerprint([atoms])
                if known is not None and len(known):
                    if np.min(np.linalg.norm(known - fp, axis=1)) < s.uniqueness_tolerance:
                        rejected += 1
                        continue
                known = fp if known is None else np.vstack([known, fp])
            out.append(_tag(atoms, "random", tilt_system=symbol, strain=float(np.linalg.norm(e)),
                            amplitude=float(amp)))
        self.progress(f"random strains and displacements: {len(out)} kept, {rejected} rejected as not unique")
        return out

    def interpolations(self, a0: float, best: dict[str, float]) -> list[Atoms]:
        n = self.settings.interpolation_points
        if n == 0:
            return []
        path = phase_path(a0, best.get(TETRAGONAL, 6.0), best.get(ORTHORHOMBIC, 6.0), n)
        for a in path:
            a.info["source"] = "interpolation"
        self.progress(f"interpolations: {len(path)} structures")
        return path

    def run(self) -> SampleSet:
        result = SampleSet()
        a0, ref = self.reference()
        result.a0 = a0
        result.add(ref)
        systems = list(dict.fromkeys(list(self.settings.tilt_systems) + [ORTHORHOMBIC]))
        best, scans = self.tilt_scan(a0, systems)
        result.best_angles = best
        result.add(scans)
        main_best = {k: v for k, v in best.items() if k in self.settings.tilt_systems}
        result.add(self.modes(a0, main_best))
        result.add(self.strains(a0))
        result.add(self.interpolations(a0, best))
        result.add(self.random(a0, main_best, result.structures))
        return result


def _sphere_points(n: int, dim: int) -> np.ndarray:
    """Deterministic, roughly uniform points on the unit sphere in ``dim`` dimensions
    (Fibonacci lattice for dim 3)."""
    if dim != 3:
        pts = np.random.default_rng(0).normal(size=(n, dim))
        return pts / np.linalg.norm(pts, axis=1, keepdims=True)
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def interpolate(start: Atoms, end: Atoms, fractions: Sequence[float]) -> list[Atoms]:
    """Linear interpolation of positions (same atom order, minimal image) and cells."""
    out = []
    delta = end.get_scaled_positions(wrap=False) - start.get_scaled_positions(wrap=False)
    delta -= np.rint(delta)
    f0 = start.get_scaled_positions(wrap=False)
    for x in fractions:
        cell = (1 - x) * start.cell.array + x * end.cell.array
        a = start.copy()
        a.set_cell(cell)
        a.set_scaled_positions(f0 + x * delta)
        out.append(a)
    return out


def phase_path(a0: float, tetragonal_angle: float, orthorhombic_angle: float, n: int) -> list[Atoms]:
    """Cubic -> tetragonal (a0a0c+) -> orthorhombic (a-a-c+): 2n+1 structures, with
    ``info["path_x"]`` from 0 (cubic) over 1 (tetragonal) to 2 (orthorhombic)."""
    c = cubic(a0)
    t = build_tilted(TETRAGONAL, tetragonal_angle, a0 / 2.0, SPECIES)
    o = build_tilted(ORTHORHOMBIC, orthorhombic_angle, a0 / 2.0, SPECIES)
    xs = np.linspace(0, 1, n + 1)
    out = interpolate(c, t, xs)
    out += interpolate(t, o, xs[1:])
    for k, a in enumerate(out):
        a.info["path_x"] = float(k / n)
    return out
