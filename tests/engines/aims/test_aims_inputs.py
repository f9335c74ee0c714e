from __future__ import annotations

import pytest
from aims_testkit import silicon, water
from ase.constraints import FixAtoms

from perovflow.engines.aims.guard import split_control
from perovflow.engines.aims.inputs import AimsSettings, control_text, read_geometry, write_inputs


def test_defaults_of_homm_et_al_2025_in_control(species_dir):
    text = control_text(AimsSettings(), ["Si", "Si"], species_dir)
    keywords, species = split_control(text)
    assert keywords["xc"] == ["pbesol"]
    assert keywords["relativistic"] == ["atomic_zora scalar"]
    assert keywords["k_grid"] == ["4 4 4"]
    assert keywords["compute_forces"] == [".true."]
    assert "compute_analytical_stress" not in keywords and "relax_geometry" not in keywords
    assert species.count("species Si") == 1  # one block per element


def test_relaxation_keywords_and_stress_only_when_cell_moves(species_dir):
    fixed_cell = split_control(control_text(AimsSettings(), ["Si"], species_dir, relax_fmax=0.1, max_steps=5))[0]
    assert fixed_cell["relax_geometry"] == ["trm 0.1"] and fixed_cell["max_relaxation_steps"] == ["5"]
    assert "compute_analytical_stress" not in fixed_cell and "relax_unit_cell" not in fixed_cell
    moving = split_control(
        control_text(AimsSettings(relax_unit_cell="full"), ["Si"], species_dir, relax_fmax=0.1, max_steps=5)
    )[0]
    assert moving["compute_analytical_stress"] == [".true."] and moving["relax_unit_cell"] == ["full"]


def test_species_blocks_come_from_the_configured_folder(species_dir, monkeypatch):
    monkeypatch.setenv("AIMS_SPECIES_DIR", str(species_dir))
    text = control_text(AimsSettings(k_grid=None), ["O", "H", "H"])
    assert text.index("species        O") < text.index("species        H")
    assert "test stand-in for the FHI-aims 'tight' defaults of H" in text


def test_missing_species_folder_or_species_is_a_clear_error(species_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("AIMS_SPECIES_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="AIMS_SPECIES_DIR"):
        control_text(AimsSettings(), ["Si"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        control_text(AimsSettings(), ["Si"], tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"species defaults for Sn not found: expected .*tight/50_Sn_default"):
        control_text(AimsSettings(), ["Sn"], species_dir)
    (species_dir / "tight" / "55_Cs_default").write_text("  species  Pb\n")
    with pytest.raises(ValueError, match="not a species block for Cs"):
        control_text(AimsSettings(), ["Cs"], species_dir)


def test_numerical_presets_are_checked():
    with pytest.raises(ValueError, match="numerical aids"):
        AimsSettings(numerical={"xc": "pbe"})
    assert "numerical" not in AimsSettings(numerical={"sc_iter_limit": "200"}).physics()


def test_geometry_round_trip_keeps_cell_and_constraints(tmp_path, species_dir):
    atoms = silicon()
    atoms.set_constraint(FixAtoms(indices=[1]))
    write_inputs(tmp_path, atoms, AimsSettings(), species_dir)
    back = read_geometry(tmp_path / "geometry.in")
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    assert abs(back.positions - atoms.positions).max() < 1e-9
    assert abs(back.cell.array - atoms.cell.array).max() < 1e-9 and back.pbc.all()
    assert back.constraints[0].get_indices().tolist() == [1]
    molecule = tmp_path / "mol"
    write_inputs(molecule, water(), AimsSettings(k_grid=None), species_dir)
    assert "lattice_vector" not in (molecule / "geometry.in").read_text()
    assert not read_geometry(molecule / "geometry.in").pbc.any()


def test_science_code_never_imports_fireworks_or_pymongo():
    import os
    import subprocess
    import sys
    from pathlib import Path

    import perovflow

    root = str(Path(perovflow.__file__).resolve().parents[1])
    code = ("import sys, perovflow.engines.aims; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fireworks', 'pymongo')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env={**os.environ, "PYTHONPATH": root})
