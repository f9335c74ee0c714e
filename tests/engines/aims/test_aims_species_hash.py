"""The FHI-aims settings hash covers the content of the species-defaults files: the tier
name alone (``tight``) does not say which species files (``defaults_2010`` or
``defaults_2020``) made a label."""
from __future__ import annotations

import shutil

from aims_testkit import make_species_dir

from perovflow.engines.aims.engine import AimsEngine
from perovflow.engines.aims.inputs import species_files_sha256


def test_species_folders_differing_in_one_file_give_different_hashes(tmp_path):
    first = make_species_dir(tmp_path / "a")
    same = tmp_path / "b" / "species_defaults"
    shutil.copytree(first, same)
    other = tmp_path / "c" / "species_defaults"
    shutil.copytree(first, other)
    changed = other / "tight" / "82_Pb_default"
    changed.write_text(changed.read_text() + "    hydro 3 d 4.2\n")  # one more basis function

    def engine(species):
        return AimsEngine(species_dir=species, workdir=tmp_path / "runs")

    assert engine(first).settings_hash == engine(same).settings_hash  # the content counts, not the path
    assert engine(first).settings_hash != engine(other).settings_hash
    assert engine(first).settings["species_sha256"] != engine(other).settings["species_sha256"]
    digests, changed_digests = species_files_sha256(first, "tight"), species_files_sha256(other, "tight")
    assert set(digests) == {"01_H_default", "08_O_default", "14_Si_default", "55_Cs_default",
                            "82_Pb_default", "35_Br_default"}
    assert [name for name in digests if digests[name] != changed_digests[name]] == ["82_Pb_default"]


def test_species_folder_from_the_environment_counts_too(tmp_path, monkeypatch):
    species = make_species_dir(tmp_path)
    given = AimsEngine(species_dir=species, workdir=tmp_path / "runs")
    monkeypatch.setenv("AIMS_SPECIES_DIR", str(species))
    assert AimsEngine(workdir=tmp_path / "runs").settings_hash == given.settings_hash
    monkeypatch.delenv("AIMS_SPECIES_DIR")
    unset = AimsEngine(workdir=tmp_path / "runs")
    assert unset.settings["species_sha256"] is None and unset.settings_hash != given.settings_hash
