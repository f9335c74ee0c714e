"""The built wheel in a clean virtual environment without the optional extras (no torch,
CHGNet, tblite, SecantusDB): the core dependencies come from the test environment's
site-packages as a plain path, the extras are made unimportable."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml
from pymongo import MongoClient

from perovflow.cli import exit_codes
from tests.aims_standin import species_folder

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ("torch", "chgnet", "tblite", "secantus")
BLOCKER = f'''
import sys
BLOCKED = {BLOCKED!r}

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not installed)", name=name)

sys.meta_path.insert(0, Blocker())
'''


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    # symlinks=False: the examples (links to workflows/ and launchers/) are copied as files
    shutil.copytree(REPO / "perovflow", source / "perovflow", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(dist), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = dist.glob("perovflow-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin/python"), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(env / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the core dependencies, as a path only: no .pth of the test environment runs (its editable perovflow)
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (site / "_block_extras.py").write_text(BLOCKER)
    (site / "zz_block_extras.pth").write_text("import _block_extras\n")
    return env


def in_venv(env: Path, *args, cwd=None):
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PEROVFLOW_URI")}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=clean, timeout=180)


def test_wheel_metadata_and_contents(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith("METADATA"))).decode())
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert metadata["License"] == "MIT" or "MIT" in (metadata["License-Expression"] or "")
    assert {"perovflow/examples/workflows/demo.yaml", "perovflow/examples/launchers/slurm_dft.yaml",
            "perovflow/examples/launchers/pbs_ml.yaml"} <= set(names)
    requires = metadata.get_all("Requires-Dist")
    core = [r for r in requires if "extra ==" not in r]
    for optional in ("torch", "chgnet", "tblite", "secantusdb"):
        assert not any(r.lower().startswith(optional) for r in core), core
        assert any(r.lower().startswith(optional) for r in requires), optional
    assert not any("==" in r.split(";")[0] for r in core), core  # lower bounds, no exact pins
    assert set(metadata.get_all("Provides-Extra")) >= {"chgnet", "tblite", "ccd", "embedded-db"}


def test_installed_wheel_without_extras(venv, target, tmp_path):
    where = in_venv(venv, venv / "bin/python", "-c", "import perovflow; print(perovflow.__file__)\nimport torch",
                    cwd=tmp_path)
    assert str(venv) in where.stdout and "ModuleNotFoundError" in where.stderr, where.stderr
    assert in_venv(venv, venv / "bin/perovflow", "--help", cwd=tmp_path).returncode == 0

    work = tmp_path / "work"
    init = in_venv(venv, venv / "bin/perovflow", "init", "--example", "demo", "-d", work, "--uri", target.uri,
                   "--database", target.database, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (work / "demo.yaml").read_text() == (REPO / "workflows/demo.yaml").read_text()
    assert (work / "launchers/slurm_dft.yaml").is_file() and (work / "my_launchpad.yaml").is_file()

    needs_chgnet = in_venv(venv, venv / "bin/perovflow", "submit", "demo.yaml", cwd=work)
    assert needs_chgnet.returncode == exit_codes.MISSING_EXTRA, needs_chgnet.stderr
    assert "pip install 'perovflow[chgnet]'" in needs_chgnet.stderr and "Traceback" not in needs_chgnet.stderr
    assert target.database not in MongoClient(target.uri).list_database_names()

    campaign = yaml.safe_load((work / "demo.yaml").read_text())
    campaign["labelling"] = {"engine": "fhi-aims", "options": {
        "command": "srun aims.x", "remote": True, "compute_stress": True,
        "species_dir": str(species_folder(tmp_path, ["Cs", "Pb", "Cl", "Br"])), "scratch": str(tmp_path / "scratch")}}
    (work / "dft.yaml").write_text(yaml.safe_dump(campaign))
    submitted = in_venv(venv, venv / "bin/perovflow", "submit", "dft.yaml", cwd=work)  # my_launchpad.yaml of init
    assert submitted.returncode == 0, submitted.stderr
    assert "submitted campaign demo" in submitted.stdout
    assert MongoClient(target.uri)[target.database].fireworks.count_documents({}) > 0
