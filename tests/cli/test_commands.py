"""The perovflow command as a user runs it: database control, init, submit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from pymongo import MongoClient

from perovflow.store import server

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def perovflow(*args, cwd=None, env=None):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=120)


def test_db_start_is_idempotent_and_stops_by_pid(tmp_path):
    storage, port = tmp_path / "db", server.free_port()
    first = perovflow("db", "start", "--port", port, "--storage", storage)
    assert first.returncode == 0 and "started" in first.stdout, first.stderr
    try:
        assert MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=5000).admin.command("ping")["ok"]
        assert "password required" in first.stdout and "credentials: " in first.stdout
        again = perovflow("db", "start", "--port", port, "--storage", storage)
        assert again.returncode == 0 and "already running" in again.stdout
        state = json.loads((tmp_path / "db.perovflow-db.json").read_text())
        other_port = perovflow("db", "start", "--port", server.free_port(), "--storage", storage)
        assert other_port.returncode == 2 and f"already runs on port {port}" in other_port.stderr
        assert "running" in perovflow("db", "status", "--storage", storage).stdout
    finally:
        stopped = perovflow("db", "stop", "--storage", storage)
    assert f"stopped pid {state['pid']}" in stopped.stdout
    assert not server.port_accepts("127.0.0.1", port)
    status = perovflow("db", "status", "--storage", storage)
    assert status.returncode == 3 and "not running" in status.stdout


def test_init_writes_launchpad_and_worker_files(tmp_path):
    out = perovflow("init", "--uri", "mongodb://db.example:27017", "--database", "camp", "-d", tmp_path)
    assert out.returncode == 0, out.stderr
    launchpad = yaml.safe_load((tmp_path / "my_launchpad.yaml").read_text())
    assert launchpad["host"] == "mongodb://db.example:27017" and launchpad["name"] == "camp"
    assert launchpad["uri_mode"] is True
    assert yaml.safe_load((tmp_path / "my_fworker.yaml").read_text())["name"]
    kept = (tmp_path / "my_launchpad.yaml").read_text()
    again = perovflow("init", "--uri", "mongodb://other:27017", "-d", tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert (tmp_path / "my_launchpad.yaml").read_text() == kept  # never overwritten unasked
    forced = perovflow("init", "--uri", "mongodb://other:27017", "-d", tmp_path, "--force")
    assert forced.returncode == 0 and "other" in (tmp_path / "my_launchpad.yaml").read_text()


def test_malformed_campaign_is_refused_before_anything_is_written(target, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "workflows/demo.yaml").read_text().replace("per_composition: 16", "per_composition: -1"))
    out = perovflow("submit", bad, "--uri", target.uri, "--database", target.database)
    assert out.returncode == 2
    assert "pool.per_composition: got -1; expected a positive integer" in out.stderr
    assert target.database not in MongoClient(target.uri).list_database_names()


def test_submit_then_status(target):
    demo = REPO / "workflows/demo.yaml"
    out = perovflow("submit", demo, "--uri", target.uri, "--database", target.database)
    assert out.returncode == 0, out.stderr
    assert "submitted campaign demo" in out.stdout
    again = perovflow("submit", demo, "--uri", target.uri, "--database", target.database)
    assert again.returncode == 2 and "already submitted" in again.stderr
    status = perovflow("status", "--uri", target.uri, "--database", target.database)
    assert "campaign demo" in status.stdout and "READY 1" in status.stdout
