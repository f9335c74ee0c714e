"""The relaxation test's numbers (Homm et al. 2025, section IV.B and Fig. 7), without a
store: how many ML relaxations converged, how far their relaxed energies are from the
engine's, and mixing enthalpies from each method's own relaxed end members.

dH = E/atom - sum_h c_h E_h/atom, with c_h the fraction of X sites holding h.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from ase import Atoms

from perovflow.structures import PerovskiteSystem, build_structure
from perovflow.units import EV_TO_MEV


@dataclass(frozen=True)
class RelaxedEnergy:
    energy_per_atom: float  # eV/atom at the last step
    converged: bool
    steps: int


def end_member_starts(system: PerovskiteSystem, phases: Sequence[str]) -> list[Atoms]:
    """One undistorted single-halide structure per phase and halide (the dH references)."""
    starts = []
    for phase in phases:
        for halide in system.x:
            atoms = build_structure(system, phase, halides=[halide] * 24)
            atoms.info.update({"phase": phase, "end_member": halide})
            starts.append(atoms)
    return starts


def halide_fractions(atoms: Atoms, halides: Sequence[str]) -> np.ndarray:
    symbols = atoms.get_chemical_symbols()
    counts = np.array([symbols.count(h) for h in halides], dtype=float)
    if counts.sum() == 0:
        raise ValueError(f"structure {atoms.get_chemical_formula()} has none of the halides {list(halides)}")
    return counts / counts.sum()


def mixing_enthalpy(energy_per_atom: float, fractions: np.ndarray, end_members: Sequence[float]) -> float:
    """meV/atom relative to the linear interpolation between the end members."""
    return (energy_per_atom - float(np.dot(fractions, end_members))) * EV_TO_MEV


def relaxation_test_metrics(ml: Sequence[RelaxedEnergy], reference: Sequence[RelaxedEnergy]) -> dict:
    """Convergence rate of the ML relaxations and the MAE/RMSE (meV/atom) of the relaxed
    energies of those that converged (against the engine's relaxed energies)."""
    if len(ml) != len(reference) or not ml:
        raise ValueError(f"need as many ML as reference relaxations (>0), got {len(ml)} and {len(reference)}")
    converged = [i for i, r in enumerate(ml) if r.converged]
    errors = np.array([(ml[i].energy_per_atom - reference[i].energy_per_atom) * EV_TO_MEV for i in converged])
    return {
        "n": len(ml),
        "n_converged": len(converged),
        "convergence": len(converged) / len(ml),
        "mae_mev": float(np.abs(errors).mean()) if errors.size else None,
        "rmse_mev": float(np.sqrt((errors ** 2).mean())) if errors.size else None,
        "mean_ml_steps": float(np.mean([r.steps for r in ml])),
    }


def mixing_enthalpies(structures: Sequence[Atoms], energies: Sequence[float], halides: Sequence[str],
                      end_members: Mapping[str, Mapping[str, float]]) -> list[float | None]:
    """dH (meV/atom) of each structure from its phase's end members ``end_members[phase][halide]``
    (energies per atom); None where a phase lacks an end member."""
    out = []
    for atoms, energy in zip(structures, energies):
        references = end_members.get(atoms.info.get("phase"), {})
        if not all(h in references for h in halides):
            out.append(None)
            continue
        out.append(mixing_enthalpy(energy, halide_fractions(atoms, halides), [references[h] for h in halides]))
    return out
