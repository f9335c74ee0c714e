"""Provenance of a calculation: versions and host, run folder, fw_id, and the engine
program's version read from its output."""
from __future__ import annotations

import gzip
import os
import socket
from pathlib import Path

import ase

from perovflow.provenance import aims_version, cp2k_version, provenance

CP2K_DATA = Path(__file__).parent / "engines" / "cp2k" / "data"
ASE_AIMS = Path(ase.__file__).parent / "test" / "testdata" / "aims"


def test_provenance_has_versions_host_run_folder_and_fw_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = provenance(fw_id=12)
    assert record["fw_id"] == 12 and record["run_folder"] == str(tmp_path)
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    versions = record["versions"]
    assert versions["ase"] == ase.__version__
    for name in ("python", "perovflow", "numpy", "dscribe", "fireworks", "pymongo"):
        assert versions[name], name
    assert "program_version" not in record
    assert provenance(program_version="240507")["program_version"] == "240507"
    record["versions"]["ase"] = "changed"  # a caller's edit never reaches the next document
    assert provenance()["versions"]["ase"] == ase.__version__


def test_program_versions_are_read_from_the_outputs(tmp_path):
    cp2k_out = tmp_path / "cp2k.out"
    cp2k_out.write_bytes(gzip.decompress((CP2K_DATA / "converged.out.gz").read_bytes()))
    assert cp2k_version(cp2k_out) == "CP2K version 2023.1"
    aims_out = tmp_path / "aims.out"
    aims_out.write_text("          Invoking FHI-aims ...\n  FHI-aims version      : 240507\n"
                        "  Commit number         : 1a2b3c\n")
    assert aims_version(aims_out) == "240507"
    aims_out.write_text("          Invoking FHI-aims ...\n          Version 171221_1\n")  # older outputs
    assert aims_version(aims_out) == "171221_1"
    # ASE's recorded outputs start after the header: no version, and no error
    assert aims_version(ASE_AIMS / "singlepoint.out") is None
    assert aims_version(tmp_path / "missing.out") is None and cp2k_version(tmp_path / "missing.out") is None


def test_failed_and_then_completed_labels_carry_provenance(mongo_db, tmp_path, monkeypatch):
    from ase.build import bulk

    from perovflow.store.store import Store

    store = Store(mongo_db, "provenance")
    store.ensure_indexes()
    [sid] = store.add_structures([bulk("Cu", cubic=True)], role="pool")
    monkeypatch.chdir(tmp_path)
    failed = store.record_failed_label(sid, "chgnet", "h", "boom", {"worker": "w:1"}, max_attempts=3, fw_id=5)
    assert failed["provenance"]["fw_id"] == 5 and failed["provenance"]["run_folder"] == str(tmp_path)
    assert failed["provenance"]["versions"]["perovflow"]
    result = {"energy": -1.0, "energy_per_atom": -0.25}
    assert store.add_calculation(sid, "chgnet", "h", result, fw_id=6)  # replaces the failed label
    done = store.find_calculation(sid, "chgnet", "h")
    assert done["status"] == "completed" and done["fw_id"] == 6 and done["provenance"]["fw_id"] == 6
    assert done["provenance"]["host"] == socket.gethostname()
