"""Real CP2K run folders named by settings hash, kind and structure id under ``scratch``:
a rerun from another launch directory reuses a finished single point and an interrupted
relaxation goes on with the steps it had not done."""
from __future__ import annotations

import os

import pytest
from cp2k_testkit import cspbbr3

from perovflow.engines import make_engine
from perovflow.engines.base import EngineError
from perovflow.engines.cp2k import Cp2kEngine, find_binary
from perovflow.engines.cp2k.settings import data_dir


def test_scratch_must_be_absolute(tmp_path):
    with pytest.raises(ValueError, match="labelling.options.scratch must be an absolute path"):
        make_engine("cp2k", scratch="runs")
    assert Cp2kEngine(scratch=tmp_path).workdir == tmp_path / "cp2k"
    assert Cp2kEngine(scratch=tmp_path / "a").settings_hash == Cp2kEngine(scratch=tmp_path / "b").settings_hash


needs_cp2k = pytest.mark.skipif(find_binary() is None or not (data_dir() / "BASIS_MOLOPT").is_file(),
                                reason="cp2k or cp2k-data not installed")


def counting_command(tmp_path, limit: int | None = None) -> tuple[list[str], object]:
    """cp2k.psmp behind a wrapper that counts its runs (and fails after ``limit`` runs)."""
    log = tmp_path / "cp2k.runs"
    log.touch()
    fail = f'[ $(wc -l < {log}) -gt {limit} ] && exit 1; ' if limit is not None else ""
    script = f'echo run >> {log}; {fail}exec {find_binary()} "$@"'
    return ["sh", "-c", script, "cp2k"], lambda: len(log.read_text().split())


@pytest.mark.slow
@needs_cp2k
def test_finished_single_point_is_reused_from_another_launch_directory(tmp_path, monkeypatch):
    command, count = counting_command(tmp_path)
    labels = []
    for launch in ("launcher_1", "launcher_2"):
        (tmp_path / launch).mkdir()
        monkeypatch.chdir(tmp_path / launch)
        labels.append(Cp2kEngine(command=command, scratch=tmp_path / "scratch").single_point(cspbbr3()))
    assert count() == 1
    assert labels[1].energy == labels[0].energy and (labels[1].forces == labels[0].forces).all()
    assert os.listdir(tmp_path / "launcher_1") == os.listdir(tmp_path / "launcher_2") == []


@pytest.mark.slow
@needs_cp2k
def test_interrupted_relaxation_resumes(tmp_path, monkeypatch):
    atoms = cspbbr3(cs_shift=0.15)
    (tmp_path / "launcher_1").mkdir()
    monkeypatch.chdir(tmp_path / "launcher_1")
    command, count = counting_command(tmp_path, limit=2)  # the third CP2K run dies
    with pytest.raises(EngineError, match="relaxation step 2"):
        Cp2kEngine(command=command, scratch=tmp_path / "scratch", max_corrections=0).relax(atoms, 0.01, 3)
    assert count() == 3

    (tmp_path / "launcher_2").mkdir()
    monkeypatch.chdir(tmp_path / "launcher_2")
    command, count = counting_command(tmp_path / "launcher_2")
    resumed = Cp2kEngine(command=command, scratch=tmp_path / "scratch").relax(atoms, 0.01, 3)
    assert len(resumed.labels) == 4  # the whole trajectory, from the start
    assert count() == 2  # only steps 2 and 3 were computed again; 0 and 1 were reused
    assert resumed.labels[-1].energy < resumed.labels[0].energy
