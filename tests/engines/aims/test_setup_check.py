"""FHI-aims set-up checks made when a campaign is submitted: species folder, tier, files, command."""
from __future__ import annotations

import sys

from perovflow.engines import make_engine, setup_problems
from perovflow.engines.aims.setup_check import command_problems, species_problems
from tests.aims_standin import species_folder

ELEMENTS = ("Cs", "Pb", "Cl", "Br")


def test_a_complete_species_folder_passes(tmp_path):
    root = species_folder(tmp_path, ELEMENTS)
    assert species_problems(root, "tight", ELEMENTS) == []


def test_the_tier_folder_itself_is_named_with_its_parent(tmp_path):
    root = species_folder(tmp_path, ELEMENTS)
    (problem,) = species_problems(root / "tight", "tight", ELEMENTS)
    assert problem.startswith("labelling.options.species_dir: ") and "is the tier folder itself" in problem
    assert f"give its parent {root}" in problem


def test_missing_folder_tier_and_files_are_named(tmp_path):
    root = species_folder(tmp_path, ("Cs", "Cl"))
    (missing,) = species_problems(tmp_path / "nowhere", "tight", ELEMENTS)
    assert "nowhere does not exist" in missing
    (tier,) = species_problems(root, "really_tight", ELEMENTS)
    assert tier.startswith("labelling.options.species_defaults: no tier folder 'really_tight'") and "found: tight" in tier
    (files,) = species_problems(root, "tight", ELEMENTS)
    assert "lacks the species files 35_Br_default, 82_Pb_default" in files


def test_unset_species_dir_names_the_environment_variable(monkeypatch):
    monkeypatch.delenv("AIMS_SPECIES_DIR", raising=False)
    (problem,) = species_problems(None, "tight", ELEMENTS)
    assert "not set (nor $AIMS_SPECIES_DIR)" in problem


def test_command_launcher_and_binary_must_be_found(tmp_path):
    assert command_problems([sys.executable, "script.py"]) == []
    problems = command_problems("srun-not-here -n 4 aims.not.here.x")
    assert problems == ["labelling.options.command: 'srun-not-here' not found on PATH; give its full path, or set "
                        "labelling.options.remote: true if it exists only on the compute nodes"]
    binary = command_problems(f"mpirun -n 4 {tmp_path}/aims.x")[-1]
    assert binary.startswith(f"labelling.options.command: '{tmp_path}/aims.x' not found;")


def test_remote_command_is_not_looked_for_but_species_still_are(tmp_path):
    root = species_folder(tmp_path, ELEMENTS)
    options = {"command": "srun /opt/aims/aims.x", "species_dir": str(root), "workdir": str(tmp_path / "runs")}
    assert setup_problems("fhi-aims", {**options, "remote": True}, ELEMENTS) == []
    assert any("aims.x" in p for p in setup_problems("fhi-aims", options, ELEMENTS))
    assert setup_problems("fhi-aims", {**options, "remote": True, "species_dir": str(tmp_path)}, ELEMENTS)
    # remote is where the program runs, not physics: same labels either way
    assert make_engine("fhi-aims", **options).settings_hash == make_engine("fhi-aims", **options, remote=True).settings_hash


def test_settings_fields_may_stand_beside_the_other_options(tmp_path):
    flat = make_engine("fhi-aims", workdir=str(tmp_path), compute_stress=True, species_defaults="light")
    nested = make_engine("fhi-aims", workdir=str(tmp_path), settings={"compute_stress": True, "species_defaults": "light"})
    assert flat.aims_settings == nested.aims_settings and flat.aims_settings.compute_stress
