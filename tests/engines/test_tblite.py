"""GFN1-xTB through tblite: real SCF runs on a 5-atom cubic CsPbBr3 cell (~0.2 s each)."""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from perovflow.engines.base import EngineError
from perovflow.engines.tblite import TBLiteEngine


def cspbbr3(a: float = 5.9) -> Atoms:
    atoms = Atoms("CsPbBr3", cell=[a, a, a], pbc=True,
                  scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    atoms.rattle(0.05, seed=3)
    return atoms


def test_single_point_is_a_labelled_stand_in_with_consistent_forces():
    engine = TBLiteEngine()
    atoms = cspbbr3()
    label = engine.single_point(atoms)
    assert label.engine == "tblite" and label.is_dft is False
    assert np.isfinite(label.energy) and label.forces.shape == (5, 3) and label.stress.shape == (6,)
    assert np.all(np.isfinite(label.forces))
    step = 1e-3
    energies = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[1, 2] += sign * step
        energies.append(engine.single_point(moved).energy)
    numeric = -(energies[0] - energies[1]) / (2 * step)
    assert label.forces[1, 2] == pytest.approx(numeric, rel=0.02, abs=2e-3)


def test_unconverged_scf_is_an_engine_error_with_tblites_message():
    with pytest.raises(EngineError) as caught:
        TBLiteEngine(max_iterations=1).single_point(cspbbr3())
    assert "SCF not converged in 1 cycles" in caught.value.reason


def test_relax_lowers_the_energy():
    relaxation = TBLiteEngine().relax(cspbbr3(), fmax=0.1, max_steps=30)
    energies = [label.energy for label in relaxation.labels]
    assert relaxation.converged
    assert len(relaxation.structures) == len(energies) >= 2
    assert energies[-1] < energies[0]
    assert np.abs(relaxation.labels[-1].forces).max() < 0.1 * np.sqrt(3)


def test_relax_failure_says_which_step():
    with pytest.raises(EngineError, match="relaxation step 0: tblite: SCF not converged"):
        TBLiteEngine(max_iterations=1).relax(cspbbr3(), fmax=0.1, max_steps=3)


def test_settings_are_hashed_and_checked():
    base = TBLiteEngine()
    assert base.settings == {"method": "GFN1-xTB", "accuracy": 1.0, "electronic_temperature": 300.0}
    # the SCF cycle limit is no physics: raising it retries a failed label in its slot
    assert TBLiteEngine(max_iterations=40).settings_hash == base.settings_hash
    assert TBLiteEngine(electronic_temperature=1000.0).settings_hash != base.settings_hash
    gfn2 = TBLiteEngine(method="GFN2-xTB")
    assert gfn2.name == base.name == "tblite"  # the method tells them apart, not the name
    assert gfn2.settings["method"] == "GFN2-xTB" and gfn2.settings_hash != base.settings_hash
    assert TBLiteEngine().settings_hash == base.settings_hash
    with pytest.raises(ValueError, match="allowed"):
        TBLiteEngine(method="PM7")
    with pytest.raises(ValueError):
        TBLiteEngine(max_iterations=0)
