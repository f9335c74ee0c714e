"""`perovflow submit` of an FHI-aims campaign checks the set-up before anything is written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from pymongo import MongoClient

from perovflow.cli import exit_codes
from tests.aims_standin import species_folder

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def perovflow(*args, cwd=None):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PEROVFLOW_SCRATCH": str(cwd or "/tmp")}, timeout=180)


def aims_campaign(tmp_path: Path, **options) -> Path:
    data = yaml.safe_load((REPO / "workflows/demo.yaml").read_text())
    data["labelling"] = {"engine": "fhi-aims", "group_size": 1,
                         "options": {"command": [sys.executable, "-c", "pass"], "compute_stress": True, **options}}
    path = tmp_path / "aims.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_wrong_species_folder_is_named_before_anything_is_written(target, tmp_path):
    root = species_folder(tmp_path, ["Cs", "Pb", "Cl", "Br"])
    for species_dir, expected in (
            (root / "tight", f"labelling.options.species_dir: {root / 'tight'} is the tier folder itself; perovflow "
                             f"appends the tier (labelling.options.species_defaults: tight), so give its parent {root}"),
            (tmp_path / "elsewhere", f"labelling.options.species_dir: {tmp_path / 'elsewhere'} does not exist")):
        out = perovflow("submit", aims_campaign(tmp_path, species_dir=str(species_dir)), "--uri", target.uri,
                        "--database", target.database, cwd=tmp_path)
        assert out.returncode == exit_codes.BAD_INPUT, out.stderr
        assert "fhi-aims is not set up as the campaign asks (nothing was submitted)" in out.stderr
        assert expected in out.stderr
        assert out.stderr.count("\n") == 1
    assert target.database not in MongoClient(target.uri).list_database_names()


def test_missing_command_is_named_unless_remote(target, tmp_path):
    root = species_folder(tmp_path, ["Cs", "Pb", "Cl", "Br"])
    missing = perovflow("submit", aims_campaign(tmp_path, species_dir=str(root), command="srun-nowhere aims.x"),
                        "--uri", target.uri, "--database", target.database, cwd=tmp_path)
    assert missing.returncode == exit_codes.BAD_INPUT and "'srun-nowhere' not found on PATH" in missing.stderr
    assert target.database not in MongoClient(target.uri).list_database_names()
    remote = perovflow("submit", aims_campaign(tmp_path, species_dir=str(root), command="srun-nowhere aims.x",
                                               remote=True), "--uri", target.uri, "--database", target.database,
                       cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert "submitted campaign demo" in remote.stdout
