"""``perovflow db backup`` / ``restore`` as a user runs them, on the session's real server:
an exact round trip (bytes, ``_id``s, indexes, GridFS), private files, and the refusals:
a busy database, a job started during the copy, a non-empty target, a damaged backup."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import gridfs
import pytest
from bson import Binary, ObjectId
from pymongo import ASCENDING, MongoClient

from perovflow.store.backup import RAW, BackupError, backup
from perovflow.store.connection import DatabaseTarget

BIN = Path(sys.executable).parent


def perovflow(*args):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True, timeout=120)


def fingerprint(db) -> dict[str, tuple[str, dict]]:
    """Per collection: sha256 of its raw documents in ``_id`` order, and its indexes."""
    result = {}
    for name in db.list_collection_names():
        digest = hashlib.sha256()
        for doc in db.get_collection(name, codec_options=RAW).find().sort("_id", ASCENDING):
            digest.update(doc.raw)
        result[name] = (digest.hexdigest(), db[name].index_information())
    return result


@pytest.fixture
def other(mongo_uri):
    """A second fresh database on the session's server, dropped afterwards."""
    name = f"pftest_{uuid.uuid4().hex[:10]}"
    client = MongoClient(mongo_uri, tz_aware=True)
    yield DatabaseTarget(uri=mongo_uri, database=name), client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture
def source(mongo_db):
    """A database like a campaign's: labels with every BSON type that must survive, a unique
    index, a GridFS model file and FireWorks' collections with nothing in flight."""
    mongo_db.calculations.insert_many([
        {"structure_id": f"s{i}", "energy": -3.1 + 1e-15 * i, "created": dt.datetime(2026, 1, 1, 12, 0, i, 123000),
         "blob": Binary(bytes([i, 0, 255])), "ref": ObjectId(), "forces": [[0.1, -0.2, 1 / 3]]} for i in range(30)])
    mongo_db.calculations.create_index([("structure_id", ASCENDING)], unique=True, name="one_label")
    gridfs.GridFS(mongo_db, collection="model_files").put(os.urandom(600_000), filename="m.npz")
    mongo_db.fireworks.insert_many([{"fw_id": 1, "state": "COMPLETED"}, {"fw_id": 2, "state": "READY"}])
    mongo_db.fw_id_assigner.insert_one({"next_fw_id": 3, "next_launch_id": 2})
    return mongo_db


def backed_up(target, folder: Path) -> Path:
    out = perovflow("db", "backup", folder, "--uri", target.uri, "--database", target.database)
    assert out.returncode == 0, out.stderr
    return folder


def test_round_trip_is_exact_and_private(source, target, other, tmp_path):
    folder = backed_up(target, tmp_path / "backup")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert {oct(path.stat().st_mode & 0o777) for path in folder.iterdir()} == {"0o600"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {c["name"]: c["documents"] for c in manifest["collections"]} == {
        "calculations": 30, "fireworks": 2, "fw_id_assigner": 1, "model_files.files": 1, "model_files.chunks": 3}
    assert manifest["consistent"] is True

    restored_target, restored = other
    out = perovflow("db", "restore", folder, "--uri", restored_target.uri, "--database", restored_target.database)
    assert out.returncode == 0, out.stderr
    assert "5 collections, 37 documents" in out.stdout and "calculations" in out.stdout
    assert fingerprint(restored) == fingerprint(source)
    assert restored.calculations.index_information()["one_label"]["unique"] is True


def test_backup_refuses_while_a_firework_runs_unless_forced(source, target, tmp_path):
    source.fireworks.update_one({"fw_id": 2}, {"$set": {"state": "RUNNING"}})
    refused = perovflow("db", "backup", tmp_path / "busy", "--uri", target.uri, "--database", target.database)
    assert refused.returncode == 2
    assert "RUNNING or RESERVED" in refused.stderr and "fw_id 2" in refused.stderr
    assert "Stop the workers first, or pass --force" in refused.stderr
    assert not (tmp_path / "busy").exists()

    forced = perovflow("db", "backup", tmp_path / "busy", "--uri", target.uri, "--database", target.database,
                       "--force")
    assert forced.returncode == 0, forced.stderr
    assert "--resume" in forced.stdout
    manifest = json.loads((tmp_path / "busy/manifest.json").read_text())
    assert manifest["consistent"] is False and manifest["busy_fireworks"] == [2]


class _Quiet:
    def update(self, n):
        pass

    def close(self):
        pass


def test_a_job_started_during_the_copy_voids_it(source, tmp_path):
    def worker_takes_a_job(name, total):
        if name == "fireworks":  # a worker reserves a Firework while the copy is being taken
            source.fw_id_assigner.update_one({}, {"$inc": {"next_launch_id": 1}})
        return _Quiet()

    with pytest.raises(BackupError, match="while the copy was taken"):
        backup(source, tmp_path / "racy", progress=worker_takes_a_job)
    assert not (tmp_path / "racy").exists()


def test_restore_refuses_a_non_empty_database_unless_replace(source, target, tmp_path):
    folder = backed_up(target, tmp_path / "backup")
    expected = fingerprint(source)
    source.calculations.insert_one({"structure_id": "added after the backup"})
    changed = fingerprint(source)

    refused = perovflow("db", "restore", folder, "--uri", target.uri, "--database", target.database)
    assert refused.returncode == 2
    assert f"database {target.database!r} is not empty (5 collections" in refused.stderr
    assert "--replace" in refused.stderr
    assert fingerprint(source) == changed

    replaced = perovflow("db", "restore", folder, "--uri", target.uri, "--database", target.database, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert fingerprint(source) == expected


@pytest.mark.parametrize("damage", ["one byte changed", "file missing"])
def test_a_damaged_backup_is_refused_before_anything_is_written(source, target, other, tmp_path, damage):
    folder = backed_up(target, tmp_path / "backup")
    damaged = folder / "model_files.chunks.bson"
    if damage == "file missing":
        damaged.unlink()
    else:
        data = bytearray(damaged.read_bytes())
        data[len(data) // 2] ^= 0x01
        damaged.write_bytes(bytes(data))

    restored_target, restored = other
    out = perovflow("db", "restore", folder, "--uri", restored_target.uri, "--database", restored_target.database)
    assert out.returncode == 2
    assert str(damaged) in out.stderr and "nothing was written" in out.stderr
    assert ("missing" if damage == "file missing" else "changed or was damaged") in out.stderr
    assert restored_target.database not in restored.client.list_database_names()
