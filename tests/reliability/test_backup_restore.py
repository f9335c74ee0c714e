"""Issue 15: a backup survives the loss of the database. A small campaign runs part way on
real rlaunch workers, which are stopped while a job is RUNNING; `perovflow db backup` refuses,
`--force` copies; the server's storage folder is wiped and a fresh server started on it;
`perovflow db restore` gives the database back byte for byte; `perovflow run --resume` runs
the interrupted job again and finishes the campaign, and every label and GridFS file stored
before the backup is byte-identical afterwards."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gridfs
import pytest
import yaml
from pymongo import ASCENDING, MongoClient

from perovflow.fireworks.manager import campaign_finished, start_workers, stop_workers, submit
from perovflow.settings import parse_campaign
from perovflow.store import server
from perovflow.store.backup import RAW, busy_fireworks
from perovflow.store.connection import DatabaseTarget
from tests.campaign.helpers import small_campaign
from tests.conftest import uri_with_credentials

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
BUCKETS = ("feature_files", "model_files")


def perovflow(*args, timeout=120):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def labels(db) -> dict:
    return {doc["_id"]: doc.raw for doc in db.get_collection("calculations", codec_options=RAW).find()}


def stored_files(db) -> dict:
    """(bucket, file id) -> sha256 of the file's content and its raw ``.files`` document."""
    result = {}
    for bucket in BUCKETS:
        files = gridfs.GridFS(db, collection=bucket)
        for doc in db.get_collection(f"{bucket}.files", codec_options=RAW).find():
            result[bucket, doc["_id"]] = (hashlib.sha256(files.get(doc["_id"]).read()).hexdigest(), doc.raw)
    return result


def everything(db) -> dict:
    """Per collection: its raw documents in ``_id`` order and its indexes."""
    return {name: ([doc.raw for doc in db.get_collection(name, codec_options=RAW).find().sort("_id", ASCENDING)],
                   db[name].index_information()) for name in db.list_collection_names()}


def test_restore_into_a_wiped_server_then_resume(tmp_path):
    storage, port = tmp_path / "db", server.free_port()
    state, _ = server.start(port=port, storage=storage)
    uri = uri_with_credentials(state)  # the same after the wipe: the password file lies beside the storage
    target = DatabaseTarget(uri=uri, database="saved")
    options = ("--uri", uri, "--database", "saved")
    campaign_file = tmp_path / "campaign.yaml"
    # one phase (50 pool and 25 test structures): the size proves nothing here
    campaign_file.write_text(yaml.safe_dump(small_campaign("saved", phases=["Pnma"])))
    try:
        submit(parse_campaign(yaml.safe_load(campaign_file.read_text())), target)
        client = MongoClient(uri, tz_aware=True)
        db = client.saved
        # labels, features and a model stored, and a worker at work on the next job when the
        # workers are stopped; a job that finishes between the look and the signal (seen on
        # a loaded machine) leaves nothing in flight: the workers start again and are stopped again
        for attempt in range(4):
            workers = start_workers(2, target, tmp_path / f"first-{attempt}")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not (db.models.count_documents({}) and busy_fireworks(db)):
                time.sleep(0.05)
            stop_workers(workers, timeout=10)
            in_flight = busy_fireworks(db)
            if in_flight or campaign_finished(db, "saved"):
                break
        assert in_flight and not campaign_finished(db, "saved")  # SIGTERM left that job RUNNING
        labels_before, files_before, copied = labels(db), stored_files(db), everything(db)
        assert labels_before and {bucket for bucket, _ in files_before} == set(BUCKETS)
        client.close()

        folder = tmp_path / "backup"
        out = perovflow("db", "backup", folder, *options)
        assert out.returncode == 2 and "RUNNING or RESERVED" in out.stderr and "--force" in out.stderr, out.stderr
        out = perovflow("db", "backup", folder, *options, "--force")
        assert out.returncode == 0, out.stderr

        server.stop(storage)
        shutil.rmtree(storage)
        state, _ = server.start(port=port, storage=storage)
        client = MongoClient(uri, tz_aware=True)
        assert "saved" not in client.list_database_names()
        out = perovflow("db", "restore", folder, *options)
        assert out.returncode == 0, out.stderr
        assert everything(client.saved) == copied  # the database as it was, byte for byte

        out = perovflow("run", campaign_file, "--resume", *options, "--workers", "2", "--quiet",
                        "--run-dir", tmp_path / "second", timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert f"interrupted job(s) set to run again (fw_id {', '.join(map(str, in_flight))})" in out.stdout
        db = client.saved
        assert campaign_finished(db, "saved")
        labels_after, files_after = labels(db), stored_files(db)
        assert len(labels_after) > len(labels_before)
        assert {key: labels_after.get(key) for key in labels_before} == labels_before
        assert {key: files_after.get(key) for key in files_before} == files_before
        client.close()
    finally:
        server.stop(storage)
