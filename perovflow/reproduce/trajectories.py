"""Relaxation trajectories labelled by the stand-in oracle, for the reproductions of the
paper's Figs. 4 and 5 (Homm et al. 2025 emulate active learning and pruning on 200 DFT
relaxation trajectories of CsPb(Cl/Br)3, 50 per phase).

The starts are the campaign's relaxation starts (undistorted, a random composition and
decoration each); the oracle relaxes each with BFGS, halides and cell in the start's
symmetry (the campaign's constraint), and every step is a labelled snapshot. Each
trajectory is cached on its own, keyed by everything that decides it, so a rerun (or an
interrupted run started again) relaxes nothing twice, and fig4 and fig5 share the cache.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from perovflow.reproduce.data import make_oracle
from perovflow.structures import PerovskiteSystem, generate_relaxation_starts
from perovflow.structures.constraint import SymmetryConstraint


@dataclass(frozen=True)
class TrajectorySpec:
    """``per_phase`` oracle relaxations per phase from starts drawn with ``seed``."""

    a: str
    b: str
    x: tuple[str, ...]
    per_phase: int
    seed: int
    fmax: float  # eV/Å, the oracle's convergence criterion
    max_steps: int
    cell: str = "fixed"

    @property
    def system(self) -> PerovskiteSystem:
        return PerovskiteSystem(a=self.a, b=self.b, x=self.x)

    def starts(self) -> list[Atoms]:
        return generate_relaxation_starts(self.system, per_phase=self.per_phase, seed=self.seed)

    def key(self, *extra: object) -> str:
        payload = json.dumps([asdict(self), *extra], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class Trajectory:
    """One oracle relaxation: its start, one structure per step, energies per atom (eV),
    forces (steps, atoms, 3) in eV/Å."""

    start: Atoms
    phase: str
    structures: list[Atoms]
    energy: np.ndarray
    forces: np.ndarray
    converged: bool

    @property
    def relaxed_energy(self) -> float:
        """eV/atom at the last step."""
        return float(self.energy[-1])


def constrained(atoms: Atoms) -> Atoms:
    """A copy whose halides and cell keep the start's symmetry (the campaign's constraint)."""
    work = atoms.copy()
    work.set_constraint(SymmetryConstraint(work))
    return work


def _relax(start: Atoms, oracle, spec: TrajectorySpec) -> dict:
    relaxation = oracle.relax(constrained(start), fmax=spec.fmax, max_steps=spec.max_steps, cell=spec.cell)
    n = len(start)
    return {"positions": np.array([s.positions for s in relaxation.structures]),
            "cells": np.array([np.array(s.cell) for s in relaxation.structures]),
            "energy": np.array([label.energy / n for label in relaxation.labels]),
            "forces": np.array([label.forces for label in relaxation.labels]),
            "converged": np.array(relaxation.converged)}


def _trajectory(start: Atoms, data) -> Trajectory:
    structures = []
    for positions, cell in zip(data["positions"], data["cells"]):
        atoms = Atoms(numbers=start.numbers, positions=positions, cell=cell, pbc=True)
        atoms.info["phase"] = start.info.get("phase")
        structures.append(atoms)
    return Trajectory(start, str(start.info.get("phase")), structures, np.asarray(data["energy"]),
                      np.asarray(data["forces"]), bool(data["converged"]))


def load(spec: TrajectorySpec, oracle_name: str, cache: Path) -> tuple[list[Trajectory], int, float]:
    """Every trajectory of ``spec`` (oracle labels cached); also how many were relaxed in
    this call and the seconds they took."""
    import time

    from tqdm import tqdm

    cache.mkdir(parents=True, exist_ok=True)
    oracle = make_oracle(oracle_name)
    key = spec.key(oracle_name, oracle.settings_hash)
    starts = spec.starts()
    paths = [cache / f"trajectory_{key}_{i:04d}.npz" for i in range(len(starts))]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    trajectories, seconds = [], 0.0
    bar = tqdm(total=len(todo), desc=f"{oracle_name} relaxations", unit="trajectory", disable=not todo)
    for start, path in zip(starts, paths):
        if path.is_file():
            data = dict(np.load(path))
        else:
            began = time.perf_counter()
            data = _relax(start, oracle, spec)
            seconds += time.perf_counter() - began
            temporary = path.with_suffix(".partial.npz")
            np.savez(temporary, **data)
            temporary.replace(path)
            bar.update(1)
        trajectories.append(_trajectory(start, data))
    bar.close()
    return trajectories, len(todo), seconds


def split_per_phase(trajectories: list[Trajectory], seed: int) -> tuple[list[int], list[int]]:
    """A random half of each phase's trajectories (indices) and the other half."""
    rng = np.random.default_rng([seed, 4])
    first, second = [], []
    for phase in dict.fromkeys(t.phase for t in trajectories):
        members = [i for i, t in enumerate(trajectories) if t.phase == phase]
        members = list(rng.permutation(members))
        half = len(members) // 2
        first += [int(i) for i in members[:half]]
        second += [int(i) for i in members[half:]]
    return sorted(first), sorted(second)


@dataclass
class Snapshots:
    """Every snapshot of a trajectory set as rows: features (n, F), energies per atom (eV),
    the trajectory of each row; for the force rows (a few evenly spaced steps of each
    trajectory) their feature derivatives and oracle forces."""

    features: np.ndarray
    energy: np.ndarray
    trajectory: np.ndarray
    force_rows: np.ndarray
    force_features: np.ndarray
    derivatives: np.ndarray
    forces: np.ndarray

    def rows_of(self, trajectories) -> np.ndarray:
        return np.flatnonzero(np.isin(self.trajectory, list(trajectories)))

    def test_set(self, trajectories):
        """The snapshots of ``trajectories`` as a learning.TestSet."""
        from perovflow.reproduce.learning import TestSet

        rows = self.rows_of(trajectories)
        force = np.flatnonzero(np.isin(self.trajectory[self.force_rows], list(trajectories)))
        return TestSet(self.features[rows], self.energy[rows], self.force_features[force], self.derivatives[force],
                       self.forces[force])


def snapshots(trajectories: list[Trajectory], descriptor, force_per_trajectory: int, cache: Path,
              key: str) -> Snapshots:
    """Features of every snapshot (cached under ``key``) and derivatives of the force rows."""
    structures = [s for t in trajectories for s in t.structures]
    path = cache / f"snapshot_features_{key}.npy"
    if path.is_file():
        features = np.load(path)
    else:
        features = descriptor.create(structures)
        np.save(path, features)
    owner = np.concatenate([np.full(len(t.structures), i) for i, t in enumerate(trajectories)])
    offsets = np.concatenate([[0], np.cumsum([len(t.structures) for t in trajectories])])
    force_rows = []
    for i, t in enumerate(trajectories):
        steps = np.unique(np.linspace(0, len(t.structures) - 1, min(force_per_trajectory, len(t.structures)))
                          .round().astype(int))
        force_rows += [int(offsets[i] + s) for s in steps]
    force_rows = np.array(force_rows, dtype=np.intp)
    pairs = [descriptor.create_with_derivatives(structures[r]) for r in force_rows]
    energy = np.concatenate([t.energy for t in trajectories])
    forces = np.concatenate([t.forces for t in trajectories])
    return Snapshots(features, energy, owner, force_rows, np.array([p[0] for p in pairs]),
                     np.array([p[1] for p in pairs]), forces[force_rows])
