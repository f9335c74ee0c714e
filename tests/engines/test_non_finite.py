"""A label with a NaN or infinite energy, force or stress is an EngineError, never a label.

CHGNet on two atoms on top of each other really returns NaN; the FHI-aims stand-in (a
Lennard-Jones potential) prints ``nan`` for such a pair as FHI-aims would print a broken
number; a CP2K stand-in prints a real CP2K output with one force replaced by ``NaN``.
Every engine's labels pass through the one check in :class:`perovflow.engines.base.Label`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from perovflow.engines.base import EngineError, Label
from tests.aims_standin import runs, species_folder, standin_aims

sys.path.insert(0, str(Path(__file__).parent / "cp2k"))
from cp2k_testkit import cspbbr3, fake_data_dir, recorded_output  # noqa: E402


def overlapping() -> Atoms:
    """Cubic CsPbBr3 with the Pb atom moved onto a Br atom."""
    atoms = cspbbr3()
    atoms.positions[1] = atoms.positions[2]
    return atoms


@pytest.mark.parametrize(("field", "value"), [("energy", np.nan), ("energy", np.inf), ("forces", np.nan),
                                              ("forces", -np.inf), ("stress", np.nan)])
def test_label_refuses_non_finite_values(field, value):
    values = {"energy": -1.0, "forces": np.zeros((2, 3)), "stress": np.zeros(6)}
    if field == "energy":
        values["energy"] = value
    else:
        values[field] = values[field].copy()
        values[field].flat[1] = value
    with pytest.raises(EngineError, match=f"non-finite {field} from chgnet"):
        Label(engine="chgnet", **values)


def test_finite_label_and_missing_stress_pass():
    label = Label(energy=-1.0, forces=np.zeros((2, 3)), stress=None, engine="tblite")
    assert label.as_dict()["energy_per_atom"] == -0.5


def test_chgnet_on_overlapping_atoms_is_an_engine_error():
    from perovflow.engines.chgnet import CHGNetEngine

    engine = CHGNetEngine()
    with pytest.raises(EngineError, match="non-finite energy from chgnet"):
        engine.single_point(overlapping())
    with pytest.raises(EngineError, match="relaxation step 0: non-finite energy from chgnet"):
        engine.relax(overlapping(), fmax=0.1, max_steps=2)


def test_fhi_aims_label_with_nan_is_an_engine_error(tmp_path, monkeypatch):
    from perovflow.engines.aims import AimsEngine, AimsSettings

    command, log = standin_aims(tmp_path, monkeypatch)
    engine = AimsEngine(AimsSettings(k_grid=None), command=command,
                        species_dir=species_folder(tmp_path, ["Cs", "Pb", "Br"]),
                        workdir=tmp_path / "aims_runs", polling_time_step=0.05)
    with pytest.raises(EngineError, match="non-finite energy from fhi-aims"):
        engine.single_point(overlapping())
    assert runs(log) == 1


def test_cp2k_label_with_nan_is_an_engine_error(tmp_path, monkeypatch):
    from perovflow.engines.cp2k import Cp2kEngine

    source = recorded_output("converged", tmp_path)
    source.write_text(source.read_text().replace("0.00031025", "NaN", 1))
    monkeypatch.setenv("CP2K_DATA_DIR", str(fake_data_dir(tmp_path / "data")))
    command = [sys.executable, "-c", f"import sys; sys.stdout.write(open({str(source)!r}).read())"]
    engine = Cp2kEngine(command=command, workdir=tmp_path / "runs")
    with pytest.raises(EngineError, match="non-finite forces from cp2k"):
        engine.single_point(cspbbr3())
