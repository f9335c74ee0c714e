"""The embedded database: SecantusDB run as its own process on 127.0.0.1.

SecantusDB is GPL-2.0. perovflow never imports it: it starts the ``secantusd-py``
command and talks to it over the MongoDB wire protocol only, like any MongoDB.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from perovflow.processes import process_alive

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 27027
DEFAULT_HOME = Path(os.environ.get("PEROVFLOW_HOME", Path.home() / ".perovflow"))
STATE_FILE = "perovflow-db.json"


class DatabaseServerError(RuntimeError):
    pass


@dataclass
class ServerState:
    pid: int
    host: str
    port: int
    storage: str

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}"


def default_storage() -> Path:
    return DEFAULT_HOME / "db"


def _state_path(storage: Path) -> Path:
    # beside the WiredTiger folder, not in it: the server owns everything inside
    return storage.parent / f"{storage.name}.{STATE_FILE}"


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _server_command() -> list[str]:
    exe = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    if not Path(exe).exists():
        raise DatabaseServerError(
            "secantusd-py not found: install SecantusDB (pip install SecantusDB) or point "
            "perovflow at your own MongoDB with --uri / my_launchpad.yaml"
        )
    return [exe]


def status(storage: Path | None = None) -> ServerState | None:
    """The running server for this storage folder, or None."""
    storage = Path(storage or default_storage()).expanduser().resolve()
    path = _state_path(storage)
    if not path.exists():
        return None
    state = ServerState(**json.loads(path.read_text()))
    if process_alive(state.pid) and port_accepts(state.host, state.port):
        return state
    return None


def start(
    port: int = DEFAULT_PORT,
    storage: Path | None = None,
    host: str = DEFAULT_HOST,
    timeout: float = 60.0,
) -> tuple[ServerState, bool]:
    """Start the server (or find it running); returns (state, started_now).

    Returns only once the server accepts connections.
    """
    storage = Path(storage or default_storage()).expanduser().resolve()
    running = status(storage)
    if running is not None:
        if running.port != port:
            raise DatabaseServerError(
                f"a server for {storage} already runs on port {running.port} (pid "
                f"{running.pid}); stop it first or use --port {running.port}"
            )
        return running, False
    if port_accepts(host, port):
        raise DatabaseServerError(
            f"port {port} on {host} is already taken by another program; choose --port"
        )
    storage.mkdir(parents=True, exist_ok=True)
    log_path = storage.parent / f"{storage.name}.secantusd.log"
    command = _server_command() + [
        "--host", host, "--port", str(port), "--storage-path", str(storage),
        "--log-level", "WARNING",
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the command that started it
        )
    state = ServerState(pid=process.pid, host=host, port=port, storage=str(storage))
    deadline = time.monotonic() + timeout
    while not port_accepts(host, port):
        if process.poll() is not None:
            raise DatabaseServerError(
                f"secantusd-py exited with code {process.returncode}; see {log_path}"
            )
        if time.monotonic() > deadline:
            os.kill(process.pid, signal.SIGKILL)
            raise DatabaseServerError(f"server did not accept connections in {timeout:.0f} s")
        time.sleep(0.1)
    _state_path(storage).write_text(json.dumps(state.__dict__))
    return state, True


def stop(storage: Path | None = None, timeout: float = 30.0) -> ServerState | None:
    """Stop the server of this storage folder by its pid; returns what was stopped."""
    storage = Path(storage or default_storage()).expanduser().resolve()
    path = _state_path(storage)
    if not path.exists():
        return None
    state = ServerState(**json.loads(path.read_text()))
    if process_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
        try:  # reap it when it is our own child (tests start and stop in one process)
            os.waitpid(state.pid, os.WNOHANG)
        except ChildProcessError:
            pass
    path.unlink(missing_ok=True)
    return state
