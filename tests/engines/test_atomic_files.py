"""Input files and logs are replaced atomically: a worker killed while writing leaves the
old or the new content, never half of one, and no temporary file behind."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from perovflow import files
from perovflow.files import write_text_atomic

sys.path.insert(0, str(Path(__file__).parent / "aims"))
from aims_testkit import make_species_dir, silicon  # noqa: E402


def test_new_content_replaces_the_old(tmp_path):
    path = tmp_path / "control.in"
    path.write_text("old\n")
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["control.in"]


@pytest.mark.parametrize("existed", [True, False])
def test_a_failure_before_the_rename_leaves_the_old_content_and_no_temp_file(tmp_path, monkeypatch, existed):
    path = tmp_path / "geometry.in"
    if existed:
        path.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("killed between write and rename")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="killed"):
        write_text_atomic(path, "new\n" * 1000)
    assert (path.read_text() == "old\n") if existed else not path.exists()
    assert os.listdir(tmp_path) == (["geometry.in"] if existed else [])


def test_engine_inputs_are_written_through_the_helper(tmp_path, monkeypatch):
    from perovflow.engines.aims.guard import edit_control
    from perovflow.engines.aims.inputs import AimsSettings, write_inputs
    from perovflow.engines.cp2k import Cp2kSettings
    from perovflow.engines.cp2k.inputs import write_inputs as write_cp2k_inputs

    sys.path.insert(0, str(Path(__file__).parent / "cp2k"))
    from cp2k_testkit import cspbbr3, fake_data_dir

    written = []
    real = files.write_text_atomic

    def spy(path, text):
        written.append(Path(path).name)
        real(path, text)

    monkeypatch.setattr(files, "write_text_atomic", spy)
    write_inputs(tmp_path / "aims", silicon(), AimsSettings(), make_species_dir(tmp_path))
    edit_control(tmp_path / "aims", {"sc_iter_limit": "200"})
    write_cp2k_inputs(cspbbr3(), Cp2kSettings(), tmp_path / "cp2k", fake_data_dir(tmp_path / "data"))
    assert sorted(written) == ["control.in", "control.in", "cp2k.inp", "geometry.in", "structure.xyz"]
