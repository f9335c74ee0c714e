"""``perovflow import``: published datasets into the store as structures and labels.

Two layouts are read:
  - extended XYZ with energies (the Homm et al. 2025 dataset: ``sp_train_set.xyz``,
    ``sp_test_set.xyz``, ``al_data.xyz``; anything ``perovflow export`` writes): the energy,
    forces and stress ASE reads into ``atoms.calc`` (or an ``energy_key`` of the info);
  - the earlier CsPb(Cl/Br)3 set: per phase a folder with ``structures.xyz`` and ``etot.dat``
    (one total energy per line, in the order of the structures; energies only).
Every label records its source (file, path, sha256, frame index) and ``is_dft`` as declared,
under the engine name ``labels`` and a settings hash of that name, so imported labels never
mix with an engine's own. Structures are stored by content, labels once per structure and
label set: importing the same files again adds nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from perovflow.engines.imported import imported_labels_hash
from perovflow.exchange.extxyz import Frame
from perovflow.exchange.layout import ROLE_OF_FILE
from perovflow.store.store import Store

ENERGY_UNITS = {"eV": 1.0, "Ha": units.Hartree, "Ry": units.Rydberg}
PER_PHASE_STRUCTURES, PER_PHASE_ENERGIES = "structures.xyz", "etot.dat"
MEMBER_KEYS = ("phase", "composition", "pool_index")


class ImportFailed(ValueError):
    """A file cannot be imported (nothing of it has been stored)."""


@dataclass
class SourceFile:
    path: Path
    layout: str  # extxyz, per-phase
    sha256: str
    frames: list[Frame]


@dataclass
class FileReport:
    file: str
    frames: int = 0
    new_labels: int = 0
    known_labels: int = 0
    conflicts: list[str] = field(default_factory=list)  # structure ids stored with another energy


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_sources(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """(file, layout) for every path: a folder stands for the ``structures.xyz`` below it."""
    found = []
    for given in map(Path, paths):
        if given.is_dir():
            inside = sorted(given.rglob(PER_PHASE_STRUCTURES))
            if not inside:
                raise ImportFailed(f"{given}: a folder must hold {PER_PHASE_STRUCTURES} + {PER_PHASE_ENERGIES} "
                                   "(per phase); give extended XYZ files by name")
            found.extend((path, "per-phase") for path in inside)
        elif not given.exists():
            raise ImportFailed(f"{given}: no such file")
        elif given.name == PER_PHASE_STRUCTURES and (given.parent / PER_PHASE_ENERGIES).exists():
            found.append((given, "per-phase"))
        else:
            found.append((given, "extxyz"))
    return found


def read_source(path: Path, layout: str, energy_unit: str = "eV", energy_key: str | None = None) -> SourceFile:
    if energy_unit not in ENERGY_UNITS:
        raise ImportFailed(f"unknown energy unit {energy_unit!r}; allowed: {', '.join(ENERGY_UNITS)}")
    scale = ENERGY_UNITS[energy_unit]
    frames = read_per_phase(path, scale) if layout == "per-phase" else read_extxyz(path, scale, energy_key)
    return SourceFile(path, layout, sha256_of(path), frames)


def read_extxyz(path: Path, scale: float = 1.0, energy_key: str | None = None) -> list[Frame]:
    from ase.io import read

    try:
        images = read(path, index=":", format="extxyz")
    except Exception as exc:  # ASE raises many kinds for a malformed file
        raise ImportFailed(f"{path}: not readable as extended XYZ ({type(exc).__name__}: {exc})") from None
    frames = []
    for index, atoms in enumerate(images):
        results = dict(atoms.calc.results) if atoms.calc is not None else {}
        info = dict(atoms.info)
        energy = info.pop(energy_key, None) if energy_key else results.get("energy")
        if energy is None:
            raise ImportFailed(f"{path}: frame {index} has no energy"
                               + (f" (info key {energy_key!r})" if energy_key else
                                  " (give its info key with --energy-key)"))
        stress = results.get("stress")
        frames.append(Frame(_bare(atoms), info, energy=float(energy) * scale, forces=results.get("forces"),
                            stress=None if stress is None else np.asarray(stress, float)))
        if scale != 1.0 and (frames[-1].forces is not None or stress is not None):
            raise ImportFailed(f"{path}: --energy-unit applies to energy-only files; forces and stress "
                               "of extended XYZ are read in eV/Å and eV/Å^3")
    return frames


def read_per_phase(path: Path, scale: float = 1.0) -> list[Frame]:
    """``structures.xyz`` + ``etot.dat`` of one phase (the folder's name, when it is one)."""
    from ase.io import read

    from perovflow.structures.phases import normalise_phase

    energies_path = path.parent / PER_PHASE_ENERGIES
    lines = [line.split("#")[0].strip() for line in energies_path.read_text().splitlines()]
    try:
        energies = [float(line.split()[0]) for line in lines if line]
    except ValueError as exc:
        raise ImportFailed(f"{energies_path}: one number per line expected ({exc})") from None
    images = read(path, index=":")
    if len(images) != len(energies):
        raise ImportFailed(f"{path} has {len(images)} structures but {energies_path.name} has {len(energies)} "
                           "energies")
    try:
        phase: str | None = normalise_phase(path.parent.name)
    except ValueError:
        phase = None
    frames = []
    for atoms, energy in zip(images, energies):
        info = {key: value for key, value in atoms.info.items() if key not in ("energy",)}
        if phase is not None:
            info.setdefault("phase", phase)
        frames.append(Frame(_bare(atoms), info, energy=energy * scale))
    return frames


def _bare(atoms: Atoms) -> Atoms:
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def labels_hash(labels: str) -> str:
    return imported_labels_hash(labels)


def import_source(store: Store, source: SourceFile, labels: str, is_dft: bool) -> FileReport:
    """Store the structures (members of ``store``'s campaign) and labels of one file."""
    from perovflow.exchange.dataset import halide_composition

    report = FileReport(str(source.path), frames=len(source.frames))
    default_role = ROLE_OF_FILE.get(source.path.stem, "imported")
    digest = labels_hash(labels)
    for index, frame in enumerate(source.frames):
        atoms = frame.atoms.copy()
        atoms.info.update({key: _plain(frame.info[key]) for key in MEMBER_KEYS if key in frame.info})
        atoms.info.setdefault("composition", halide_composition(atoms))
        role = str(frame.info.get("role") or default_role)
        [sid] = store.add_structures([atoms], role=role)
        result: dict[str, Any] = {
            "energy": frame.energy, "energy_per_atom": frame.energy / len(atoms), "is_dft": is_dft,
            "labels": labels, "imported": True, "settings": {"imported": True, "labels": labels},
            "source": {"file": source.path.name, "path": str(source.path.resolve()), "sha256": source.sha256,
                       "layout": source.layout, "index": index,
                       "info": {key: _plain(value) for key, value in frame.info.items()}},
        }
        if frame.forces is not None:
            result["forces"] = np.asarray(frame.forces, float).tolist()
        if frame.stress is not None:
            result["stress"] = np.asarray(frame.stress, float).tolist()
        if store.add_calculation(sid, labels, digest, result):
            report.new_labels += 1
            continue
        report.known_labels += 1
        stored = store.find_calculation(sid, labels, digest)
        if stored is not None and stored.get("energy") != frame.energy:
            report.conflicts.append(sid)
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
