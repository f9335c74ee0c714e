"""Run folders under an absolute ``scratch`` folder, named by settings hash, kind and
structure id: a rerun from another launch directory (a new FireWorks ``launcher_*``)
finds the finished single point, and resumes an interrupted relaxation."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from aims_testkit import RELAX_SETTINGS, ase_images, silicon
from test_aims_engine import fake_aims  # noqa: F401  (fixture)

from perovflow.engines import make_engine
from perovflow.engines.aims import AimsEngine, AimsSettings
from perovflow.engines.base import EngineError
from tests.aims_standin import runs, species_folder, standin_aims


def cspbbr3():
    from ase import Atoms

    atoms = Atoms("CsPbBr3", cell=[5.9] * 3, pbc=True,
                  scaled_positions=[[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])
    atoms.positions[0, 0] += 0.05
    return atoms


def test_scratch_must_be_absolute_and_is_not_physics(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="labelling.options.scratch must be an absolute path"):
        make_engine("fhi-aims", scratch="relative/runs")
    monkeypatch.setenv("PEROVFLOW_SCRATCH", "not/absolute")
    with pytest.raises(ValueError, match="labelling.options.scratch"):
        AimsEngine()
    monkeypatch.setenv("PEROVFLOW_SCRATCH", str(tmp_path / "env"))
    assert AimsEngine().workdir == tmp_path / "env" / "fhi-aims"
    assert AimsEngine(scratch=tmp_path / "a").settings_hash == AimsEngine(scratch=tmp_path / "b").settings_hash
    monkeypatch.delenv("PEROVFLOW_SCRATCH")
    assert AimsEngine().workdir == Path(os.path.expanduser("~")) / ".perovflow" / "scratch" / "fhi-aims"


def test_finished_single_point_is_found_from_another_launch_directory(tmp_path, monkeypatch):
    command, log = standin_aims(tmp_path, monkeypatch)
    options = dict(command=command, species_dir=species_folder(tmp_path, ["Cs", "Pb", "Br"]),
                   scratch=tmp_path / "scratch", polling_time_step=0.05)
    for launch in ("launcher_1", "launcher_2"):
        (tmp_path / launch).mkdir()
        monkeypatch.chdir(tmp_path / launch)
        label = AimsEngine(AimsSettings(), **options).single_point(cspbbr3())
        assert label.is_dft
    assert runs(log) == 1  # the second launch reused the finished run
    assert os.listdir(tmp_path / "launcher_1") == os.listdir(tmp_path / "launcher_2") == []


def test_interrupted_relaxation_resumes_from_another_launch_directory(tmp_path, species_dir, fake_aims,  # noqa: F811
                                                                      monkeypatch):
    log = fake_aims("relax", "relax.out", first_run="slow")
    options = dict(command=fake_aims.command, species_dir=species_dir, scratch=tmp_path / "scratch",
                   polling_time_step=0.05, monitor_freq=1, frozen_timeout=30.0)
    (tmp_path / "launcher_1").mkdir()
    monkeypatch.chdir(tmp_path / "launcher_1")
    with pytest.raises(EngineError, match="stopped near the wall time"):
        AimsEngine(RELAX_SETTINGS, wall_time=0.5, wall_buffer=0.0, **options).relax(silicon(), 0.01, 50)
    (tmp_path / "launcher_2").mkdir()
    monkeypatch.chdir(tmp_path / "launcher_2")
    resumed = AimsEngine(RELAX_SETTINGS, **options).relax(silicon(), 0.01, 50)
    assert resumed.converged and len(resumed.labels) == len(ase_images("relax.out"))
    assert len(log.read_text().split()) == 2  # one interrupted run, one that went on from its geometry
