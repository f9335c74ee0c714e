"""The embedded server's state file: identity before any signal, corrupt or stale files
recovered with one line, written atomically (issue 14)."""
from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from perovflow.processes import process_alive
from perovflow.store import server


def _state_file(storage: Path) -> Path:
    return storage.parent / f"{storage.name}.perovflow-db.json"


def _proc_start_time(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _proc_cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


@pytest.fixture
def stranger():
    """A harmless process that took over the pid a state file records."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def storage(tmp_path):
    storage = tmp_path / "db"
    yield storage
    if _state_file(storage).exists():  # never leave a server behind a failed test
        server.stop(storage)


def _write(where: Path, **state) -> Path:
    path = _state_file(where)
    path.write_text(json.dumps(state))
    return path


@pytest.mark.parametrize("identity", ["old state file without identity", "start time differs",
                                      "command line differs"])
def test_stop_leaves_a_process_that_reused_the_pid_alone(storage, stranger, capsys, identity):
    recorded = {"pid": stranger.pid, "host": "127.0.0.1", "port": server.free_port(), "storage": str(storage)}
    if identity == "start time differs":  # same command line, another process's start
        recorded |= {"started_at": _proc_start_time(stranger.pid) - 1, "cmdline": _proc_cmdline(stranger.pid)}
    elif identity == "command line differs":
        recorded |= {"started_at": _proc_start_time(stranger.pid),
                     "cmdline": ["secantusd-py", "--storage-path", str(storage)]}
    path = _write(storage, **recorded)

    assert server.stop(storage) is None

    assert stranger.poll() is None, "stop() signalled a process that is not the server"
    err = capsys.readouterr().err
    assert "stale" in err and str(stranger.pid) in err and len(err.strip().splitlines()) == 1
    assert not path.exists()


def test_status_reports_a_reused_pid_as_stale(storage, stranger, capsys):
    path = _write(storage, pid=stranger.pid, host="127.0.0.1", port=server.free_port(), storage=str(storage))
    assert server.status(storage) is None
    assert stranger.poll() is None
    assert "stale" in capsys.readouterr().err
    assert not path.exists()


def test_real_server_records_its_identity_and_stops(storage):
    state, started = server.start(port=server.free_port(), storage=storage, auth=False)
    try:
        assert started
        assert state.started_at == _proc_start_time(state.pid)
        assert state.cmdline == _proc_cmdline(state.pid)
        assert any("secantusd" in arg for arg in state.cmdline)
        assert server.status(storage) == state
        assert server.start(port=state.port, storage=storage) == (state, False)
    finally:
        stopped = server.stop(storage)
    assert stopped == state
    assert not server.port_accepts(state.host, state.port)
    assert not process_alive(state.pid)  # gone (a zombie not yet reaped by its parent counts as gone)
    assert not _state_file(storage).exists()


CORRUPT = {
    "empty": "",
    "truncated": '{"pid": 12345, "host": "127.0.0.1", "po',
    "wrong keys": '{"process": 12345, "address": "127.0.0.1"}',
    "not an object": "[12345, 27027]",
    "wrong types": '{"pid": "12345", "host": "127.0.0.1", "port": 27027, "storage": "/x"}',
}


@pytest.mark.parametrize("text", CORRUPT.values(), ids=CORRUPT.keys())
def test_status_and_stop_ignore_a_corrupt_state_file(storage, capsys, text):
    path = _state_file(storage)
    path.write_text(text)
    assert server.status(storage) is None
    err = capsys.readouterr().err
    assert f"ignored a corrupt state file {path}" in err and len(err.strip().splitlines()) == 1
    path.write_text(text)
    assert server.stop(storage) is None
    assert f"ignored a corrupt state file {path}" in capsys.readouterr().err
    assert not path.exists()


def test_start_replaces_a_corrupt_state_file_with_a_fresh_server(storage, capsys):
    path = _state_file(storage)
    path.write_text(CORRUPT["truncated"])
    state, started = server.start(port=server.free_port(), storage=storage, auth=False)
    try:
        assert started and server.port_accepts(state.host, state.port)
        assert f"ignored a corrupt state file {path}" in capsys.readouterr().err
        assert json.loads(path.read_text())["pid"] == state.pid
    finally:
        server.stop(storage)


def test_state_file_is_written_atomically_and_private(storage):
    state, _ = server.start(port=server.free_port(), storage=storage)
    try:
        path = _state_file(storage)
        assert json.loads(path.read_text())["pid"] == state.pid
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        beside = {p.name: stat.S_IMODE(p.stat().st_mode) for p in storage.parent.iterdir()}
        assert beside == {"db": 0o700, "db.perovflow-db.json": 0o600, "db.secantusd.log": 0o600,
                          "db.credentials.json": 0o600, "db.secantusd.toml": 0o600}, beside
    finally:
        server.stop(storage)


def test_start_after_a_dead_pid_starts_fresh_with_one_line(storage, capsys):
    gone = subprocess.Popen(["true"])
    gone.wait()
    port = server.free_port()
    path = _write(storage, pid=gone.pid, host="127.0.0.1", port=port, storage=str(storage))
    state, started = server.start(port=port, storage=storage, auth=False)
    try:
        assert started and state.pid != gone.pid and server.port_accepts(state.host, port)
        err = capsys.readouterr().err
        assert "stale" in err and str(gone.pid) in err and len(err.strip().splitlines()) == 1
        assert json.loads(path.read_text())["pid"] == state.pid
    finally:
        server.stop(storage)


def test_state_file_from_before_identity_still_stops_its_server(storage):
    """Old state files lack started_at/cmdline: the pid is signalled only when its command
    line is secantusd's for this storage folder."""
    state, _ = server.start(port=server.free_port(), storage=storage, auth=False)
    _write(storage, pid=state.pid, host=state.host, port=state.port, storage=state.storage)
    assert server.status(storage).pid == state.pid
    assert server.stop(storage).pid == state.pid
    assert not process_alive(state.pid)  # gone (a zombie not yet reaped by its parent counts as gone)


def test_start_refuses_when_the_recorded_server_lives_but_does_not_answer(storage, stranger):
    """The recorded process is still the one that was started (identity matches) but its
    port is silent: a second server on the same storage folder would be wrong."""
    port = server.free_port()
    _write(storage, pid=stranger.pid, host="127.0.0.1", port=port, storage=str(storage),
           started_at=_proc_start_time(stranger.pid), cmdline=_proc_cmdline(stranger.pid))
    with pytest.raises(server.DatabaseServerError, match="does not answer"):
        server.start(port=port, storage=storage)
    assert not server.port_accepts("127.0.0.1", port)
    assert server.stop(storage).pid == stranger.pid  # it is the recorded process: stopped
    assert stranger.wait(timeout=5) is not None
