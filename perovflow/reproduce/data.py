"""Labelled data sets for the reproductions: a structure pool and a test set, their MBTR
features, and stand-in oracle labels (energy per atom, forces) cached on disk.

Labels are cached in chunks under the cache folder, keyed by everything that decides them
(system, phases, structures per composition, compositions, seed, oracle and its settings),
so a rerun, or an interrupted run started again, labels nothing twice.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.settings import TABLE_S1
from perovflow.structures import PerovskiteSystem, enumerate_compositions, generate_pool, generate_test_set

CHUNK = 250  # structures labelled between two cache writes
ORACLES = ("chgnet", "tblite")


@dataclass(frozen=True)
class DataSpec:
    """One structure set: ``role`` pool or test, ``per_composition`` structures per
    composition and phase, over ``n_compositions`` compositions drawn at random (all: None)."""

    a: str
    b: str
    x: tuple[str, ...]
    role: str
    per_composition: int
    seed: int
    n_compositions: int | None = None

    @property
    def system(self) -> PerovskiteSystem:
        return PerovskiteSystem(a=self.a, b=self.b, x=self.x)

    @property
    def species(self) -> tuple[str, ...]:
        return (self.a, self.b, *self.x)

    def compositions(self) -> list[tuple[int, ...]] | None:
        if self.n_compositions is None:
            return None
        every = enumerate_compositions(self.system)
        if self.n_compositions >= len(every):
            return None
        rng = np.random.default_rng(self.seed + 7919)
        keep = np.sort(rng.choice(len(every), size=self.n_compositions, replace=False))
        return [every[i] for i in keep]

    def structures(self):
        make = generate_pool if self.role == "pool" else generate_test_set
        return make(self.system, per_composition=self.per_composition, seed=self.seed,
                    compositions=self.compositions())

    def key(self, *extra: object) -> str:
        payload = json.dumps([asdict(self), *extra], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class Labelled:
    """Features (n, F), energies per atom (eV, n), forces (n, atoms, 3) in eV/Å, structures."""

    structures: list
    features: np.ndarray
    energy: np.ndarray
    forces: np.ndarray
    label_seconds: float
    relabelled: int


def descriptor_settings(preset: str, species: tuple[str, ...]) -> MBTRSettings:
    """The MBTR settings of a Table S1 column (Homm, Laakso, Rinke 2025) for these species."""
    return MBTRSettings(species=species, **TABLE_S1[preset]["descriptor"])


def make_oracle(name: str):
    """The stand-in oracle (not DFT) by name."""
    if name not in ORACLES:
        raise ValueError(f"--oracle: unknown oracle {name!r}; allowed: {', '.join(ORACLES)}")
    from perovflow.engines import make_engine

    return make_engine(name)


def _label_chunks(structures, oracle, oracle_name: str, folder: Path, key: str, desc: str):
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    n = len(structures)
    energy = np.empty(n)
    forces = np.empty((n, len(structures[0]), 3))
    seconds = 0.0
    relabelled = 0
    starts = range(0, n, CHUNK)
    todo = [s for s in starts if not (folder / f"labels_{key}_{s:06d}.npz").is_file()]
    bar = tqdm(total=sum(min(CHUNK, n - s) for s in todo), desc=f"{oracle_name} labels ({desc})",
               unit="structure", disable=not todo)
    for start in starts:
        path = folder / f"labels_{key}_{start:06d}.npz"
        if path.is_file():
            data = np.load(path)
        else:
            chunk = structures[start:start + CHUNK]
            e = np.empty(len(chunk))
            f = np.empty((len(chunk), len(chunk[0]), 3))
            took = 0.0
            for i, atoms in enumerate(chunk):
                label = oracle.single_point(atoms)
                e[i] = label.energy / len(atoms)
                f[i] = label.forces
                took += label.seconds or 0.0
                bar.update(1)
            relabelled += len(chunk)
            data = {"energy": e, "forces": f, "seconds": np.array(took)}
            temporary = path.with_suffix(".partial.npz")
            np.savez(temporary, **data)
            temporary.replace(path)
        stop = start + len(data["energy"])
        energy[start:stop] = data["energy"]
        forces[start:stop] = data["forces"]
        seconds += float(data["seconds"])
    bar.close()
    return energy, forces, seconds, relabelled


def load(spec: DataSpec, preset: str, oracle_name: str, cache: Path) -> Labelled:
    """Structures, MBTR features (cached) and oracle labels (cached) of ``spec``."""
    structures = spec.structures()
    settings = descriptor_settings(preset, spec.species)
    feature_path = cache / f"features_{spec.key(settings.as_dict())}.npy"
    if feature_path.is_file():
        features = np.load(feature_path)
    else:
        features = MBTRDescriptor(settings).create(structures)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(feature_path, features)
    oracle = make_oracle(oracle_name)  # cheap: the model loads at the first label
    energy, forces, seconds, relabelled = _label_chunks(
        structures, oracle, oracle_name, cache, spec.key(oracle_name, oracle.settings_hash), spec.role)
    return Labelled(structures, features, energy, forces, seconds, relabelled)
