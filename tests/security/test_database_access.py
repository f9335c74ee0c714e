"""Issue 15: whoever can write to a FireWorks database can run code on its workers, so the
embedded database requires a password, reads no configuration planted in the working
folder, and keeps its files private."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fireworks import Firework, LaunchPad, Workflow
from fireworks.user_objects.firetasks.script_task import ScriptTask
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from perovflow.store import server
from perovflow.store.connection import embedded_target, launchpad, write_launchpad_yaml

BIN = Path(sys.executable).parent
HOSTILE_TOML = "[server]\nauth = false\nenable_test_commands = true\n"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A server started from a folder where someone placed a secantusd.toml."""
    folder = tmp_path_factory.mktemp("shared")
    (folder / "secantusd.toml").write_text(HOSTILE_TOML)
    storage = folder / "db"
    state, _ = server.start(port=server.free_port(), storage=storage, cwd=folder)
    yield state, folder
    server.stop(storage)


def test_a_client_without_credentials_can_neither_list_nor_read_nor_insert(planted):
    state, _ = planted
    stranger = MongoClient(state.uri, serverSelectionTimeoutMS=5000)
    for attempt in (stranger.list_database_names, lambda: stranger.perovflow.fireworks.find_one(),
                    lambda: stranger.perovflow.fireworks.insert_one({"fw_id": 1})):
        with pytest.raises(OperationFailure, match="requires authentication"):
            attempt()
    wrong = MongoClient(state.uri, serverSelectionTimeoutMS=5000, username="perovflow", password="guess",
                        authSource="admin")
    with pytest.raises(OperationFailure):
        wrong.list_database_names()


def test_a_planted_configuration_is_ignored(planted):
    state, folder = planted
    target = embedded_target("probe", state=state)
    client = target.client()
    with pytest.raises(OperationFailure):  # enable_test_commands from the planted file: not in force
        client.admin.command("configureFailPoint", "failCommand", mode="off")
    assert "--config" in state.cmdline and str(folder / "secantusd.toml") not in state.cmdline
    assert "--sync-on-commit" in state.cmdline  # durable by default: an acknowledged label survives a power cut


def test_a_firework_injected_without_credentials_never_runs(planted, tmp_path):
    state, _ = planted
    mark = tmp_path / "pwned"
    intruder = LaunchPad(host=state.uri, name="probe", uri_mode=True,
                         mongoclient_kwargs={"serverSelectionTimeoutMS": 5000})
    with pytest.raises(OperationFailure):
        intruder.add_wf(Workflow([Firework(ScriptTask.from_str(f"touch {mark}"))]))
    owner = launchpad(embedded_target("probe", state=state))
    assert owner.fireworks.count_documents({}) == 0
    launchpad_file = write_launchpad_yaml(tmp_path / "my_launchpad.yaml", embedded_target("probe", state=state))
    out = subprocess.run([str(BIN / "rlaunch"), "-l", str(launchpad_file), "singleshot"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert not mark.exists()


def test_the_storage_and_every_file_beside_it_are_private(planted):
    state, _ = planted
    storage = Path(state.storage)
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    beside = [p for p in storage.parent.iterdir() if p.name.startswith(storage.name + ".")]
    assert {p.name for p in beside} >= {"db.credentials.json", "db.perovflow-db.json", "db.secantusd.toml"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in beside), [(p.name, oct(p.stat().st_mode))
                                                                         for p in beside]
