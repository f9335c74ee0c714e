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
from dataclasses import asdict, dataclass
from pathlib import Path

from perovflow.files import write_text_atomic
from perovflow.processes import process_alive, process_identity, signal_main_thread, signal_process
from perovflow.store import credentials

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
    # the process's identity, so a later stop never signals another program that reused
    # the pid: start time in clock ticks since boot (/proc/<pid>/stat field 22) and its
    # command line. None in state files written before they were recorded.
    started_at: int | None = None
    cmdline: list[str] | None = None
    auth: bool = False  # clients log in with the credentials beside the storage folder
    tls_ca: str | None = None  # clients use TLS and trust this certificate file

    @property
    def uri(self) -> str:
        """The address, never a secret: credentials go to the client separately."""
        return f"mongodb://{self.host}:{self.port}"

    def client_options(self) -> dict:
        """MongoClient keyword options that let a client in: credentials and TLS."""
        options: dict = {}
        if self.auth:
            stored = credentials.load(Path(self.storage))
            if stored is not None:
                options.update(stored.client_options())
        if self.tls_ca:
            options.update({"tls": True, "tlsCAFile": self.tls_ca})
        return options


_REQUIRED = {"pid": int, "host": str, "port": int, "storage": str}


def _note(message: str) -> None:
    """One line on stderr for what was recovered; stdout stays the command's answer."""
    print(f"perovflow db: {message}", file=sys.stderr)


def _parse_state(text: str) -> ServerState:
    """A state file's text as a ServerState; ValueError says what is wrong with it."""
    data = json.loads(text)  # JSONDecodeError is a ValueError
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    missing = sorted(set(_REQUIRED) - data.keys())
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for key, kind in _REQUIRED.items():
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ValueError(f"{key} is {data[key]!r}, expected {kind.__name__}")
    if data["pid"] <= 0:
        raise ValueError(f"pid is {data['pid']}")
    started_at, cmdline = data.get("started_at"), data.get("cmdline")
    if started_at is not None and (not isinstance(started_at, int) or isinstance(started_at, bool)):
        raise ValueError(f"started_at is {started_at!r}, expected int")
    if cmdline is not None and not (isinstance(cmdline, list) and all(isinstance(a, str) for a in cmdline)):
        raise ValueError(f"cmdline is {cmdline!r}, expected a list of strings")
    auth, tls_ca = data.get("auth", False), data.get("tls_ca")
    if not isinstance(auth, bool) or not (tls_ca is None or isinstance(tls_ca, str)):
        raise ValueError(f"auth is {auth!r} (expected true/false), tls_ca {tls_ca!r} (expected a path)")
    # keys a newer perovflow may add are ignored
    return ServerState(pid=data["pid"], host=data["host"], port=data["port"], storage=data["storage"],
                       started_at=started_at, cmdline=cmdline, auth=auth, tls_ca=tls_ca)


def _write_state(path: Path, state: ServerState) -> None:
    write_text_atomic(path, json.dumps(asdict(state)), mode=0o600)


def _remove(path: Path, text: str) -> None:
    """Remove a state file unless another command has just replaced it."""
    try:
        if path.read_text() == text:
            path.unlink()
    except OSError:
        pass


def _is_server_for(cmdline: list[str], storage: str) -> bool:
    return any("secantusd" in Path(arg).name for arg in cmdline[:2]) and any(
        a == "--storage-path" and b == storage for a, b in zip(cmdline, cmdline[1:]))


def _same_process(state: ServerState, storage: Path) -> tuple[bool, str]:
    """Whether the live pid of ``state`` is still the server it records, and if not, why."""
    identity = process_identity(state.pid)
    if identity is None:
        return False, "its identity cannot be read"
    started_at, cmdline = identity
    if state.started_at is None or state.cmdline is None:  # old state file: no identity kept
        if _is_server_for(cmdline, state.storage) or _is_server_for(cmdline, str(storage)):
            return True, ""
        return False, f"it runs {' '.join(cmdline)[:80]!r}, not secantusd for this storage"
    if started_at != state.started_at:
        return False, f"it started at tick {started_at}, the server at tick {state.started_at}"
    if cmdline != state.cmdline:
        return False, f"it runs {' '.join(cmdline)[:80]!r}"
    return True, ""


def _load(storage: Path) -> ServerState | None:
    """The state file's server when it still runs as that very process, or None.

    A corrupt state file, or one whose pid is gone or now another process, is removed
    with one line on stderr; the process that reused a pid is never signalled.
    """
    path = _state_path(storage)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        _note(f"ignored an unreadable state file {path} ({exc})")
        return None
    try:
        state = _parse_state(text)
    except ValueError as exc:
        _note(f"ignored a corrupt state file {path} ({exc}); removed it")
        _remove(path, text)
        return None
    if not process_alive(state.pid):
        _note(f"removed a stale state file {path}: pid {state.pid} no longer runs")
        _remove(path, text)
        return None
    same, why = _same_process(state, storage)
    if not same:
        _note(f"removed a stale state file {path}: pid {state.pid} is another process now "
              f"({why}); left it alone")
        _remove(path, text)
        return None
    return state


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
            "secantusd-py not found: install SecantusDB (pip install 'perovflow[embedded-db]') or point "
            "perovflow at your own MongoDB with --uri / my_launchpad.yaml"
        )
    return [exe]


def status(storage: Path | None = None) -> ServerState | None:
    """The running server for this storage folder, or None."""
    storage = Path(storage or default_storage()).expanduser().resolve()
    state = _load(storage)
    if state is not None and port_accepts(state.host, state.port):
        return state
    return None


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate and key (PEM); ``ca``: what clients trust (default: the
    certificate itself, for a self-signed one)."""

    cert: str
    key: str
    ca: str | None = None

    def server_args(self) -> list[str]:
        return ["--tls-cert-file", self.cert, "--tls-key-file", self.key] + (
            ["--tls-ca-file", self.ca] if self.ca else [])


def _private_folder(storage: Path) -> None:
    """The storage folder and everything beside it are the user's only."""
    storage.parent.mkdir(parents=True, exist_ok=True)
    storage.mkdir(mode=0o700, exist_ok=True)
    os.chmod(storage, 0o700)


def _config_file(storage: Path) -> Path:
    """An explicit (empty) configuration: with ``--config`` SecantusDB reads no
    ``secantusd.toml`` from the working or home folder, where anyone could place one."""
    path = storage.parent / f"{storage.name}.secantusd.toml"
    if not path.exists() or path.read_text():
        write_text_atomic(path, "", mode=0o600)
    return path


def _launch(arguments: list[str], host: str, port: int, log_path: Path, timeout: float,
            cwd: Path | None = None) -> subprocess.Popen:
    """Start ``secantusd-py`` and return once it accepts connections on ``port``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # also a log left by an older perovflow
    with os.fdopen(fd, "ab") as log:
        process = subprocess.Popen(
            _server_command() + ["--host", host, "--port", str(port), "--log-level", "WARNING", *arguments],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
            start_new_session=True,  # survives the command that started it
        )
    deadline = time.monotonic() + timeout
    while not port_accepts(host, port):
        if process.poll() is not None:
            raise DatabaseServerError(f"secantusd-py exited with code {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise DatabaseServerError(f"server did not accept connections in {timeout:.0f} s")
        time.sleep(0.1)
    return process


def _end(process: subprocess.Popen) -> None:
    signal_main_thread(process.pid, signal.SIGTERM)  # our child: not reaped, so still its pid
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _provision(storage: Path, host: str, config: Path, log_path: Path, timeout: float,
               stored: credentials.Credentials, cwd: Path | None) -> None:
    """Create the user on a short-lived server without authentication on a random port."""
    port = free_port(host)
    process = _launch(["--config", str(config), "--storage-path", str(storage)], host, port, log_path, timeout,
                      cwd)
    try:
        credentials.provision(f"mongodb://{host}:{port}", stored)
    finally:
        _end(process)


def start(
    port: int = DEFAULT_PORT,
    storage: Path | None = None,
    host: str = DEFAULT_HOST,
    timeout: float = 60.0,
    auth: bool = True,
    sync_on_commit: bool = True,
    tls: TlsFiles | None = None,
    cwd: Path | None = None,
) -> tuple[ServerState, bool]:
    """Start the server (or find it running); returns (state, started_now).

    ``auth``: clients must log in (the user and its password are made on the first start
    of a storage folder, see :mod:`perovflow.store.credentials`); ``sync_on_commit``: the
    log is fsynced at every commit, so a power loss loses no acknowledged write (on the
    demo it cost nothing measurable: ``benchmarks/bench_durability.py``); ``cwd``:
    the folder the server runs in (the caller's by default). Returns only once the server
    accepts connections.
    """
    storage = Path(storage or default_storage()).expanduser().resolve()
    running = _load(storage)
    if running is not None:
        if running.port != port:
            raise DatabaseServerError(
                f"a server for {storage} already runs on port {running.port} (pid "
                f"{running.pid}); stop it first or use --port {running.port}"
            )
        if not port_accepts(running.host, running.port):
            raise DatabaseServerError(
                f"the server for {storage} (pid {running.pid}) runs but does not answer on port "
                f"{running.port}; wait for it or stop it with `perovflow db stop`"
            )
        if auth and not running.auth:
            _note(f"the server for {storage} runs without authentication; restart it with "
                  "`perovflow db stop` and `perovflow db start` to require a password")
        return running, False
    if port_accepts(host, port):
        raise DatabaseServerError(
            f"port {port} on {host} is already taken by another program; choose --port"
        )
    new_storage = not storage.exists() or not any(storage.iterdir())
    _private_folder(storage)
    config = _config_file(storage)
    log_path = storage.parent / f"{storage.name}.secantusd.log"
    arguments = ["--config", str(config), "--storage-path", str(storage)]
    arguments += ["--sync-on-commit"] if sync_on_commit else []
    arguments += tls.server_args() if tls else []
    tls_ca = (tls.ca or tls.cert) if tls else None
    stored = None
    if auth:
        stored = credentials.load(storage)
        if stored is None or new_storage:
            stored = stored or credentials.create(storage)
            _provision(storage, host, config, log_path, timeout, stored, cwd)
        arguments.append("--auth")
    process = _launch(arguments, host, port, log_path, timeout, cwd)
    tls_options = {"tls": True, "tlsCAFile": tls_ca} if tls_ca else {}
    if stored is not None and not credentials.accepted(f"mongodb://{host}:{port}", stored, tls_options):
        # the storage was replaced (a restore into a wiped folder): its users are not ours
        _end(process)
        _provision(storage, host, config, log_path, timeout, stored, cwd)
        process = _launch(arguments, host, port, log_path, timeout, cwd)
    identity = process_identity(process.pid)  # read after exec: the port answers
    if identity is None or process.poll() is not None:
        raise DatabaseServerError(f"secantusd-py exited right after it started; see {log_path}")
    state = ServerState(pid=process.pid, host=host, port=port, storage=str(storage),
                        started_at=identity[0], cmdline=identity[1], auth=auth, tls_ca=tls_ca)
    _write_state(_state_path(storage), state)
    return state, True


def stop(storage: Path | None = None, timeout: float = 30.0) -> ServerState | None:
    """Stop the server of this storage folder; returns what was stopped.

    Signals the recorded pid only while it is still the very process that was started
    (same start time and command line); a program that reused the pid is left alone.
    """
    storage = Path(storage or default_storage()).expanduser().resolve()
    path = _state_path(storage)
    state = _load(storage)
    if state is None:
        return None
    pidfd = None
    try:  # a pidfd pins the process: the check below and the signals meet the same one
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return state
    except (AttributeError, OSError):
        pidfd = None
    try:
        same, why = _same_process(state, storage)
        if not same:
            if process_alive(state.pid):
                _note(f"removed a stale state file {path}: pid {state.pid} is another process "
                      f"now ({why}); left it alone")
                path.unlink(missing_ok=True)
                return None
        else:
            # at the main thread: a SIGTERM the kernel hands to another thread of
            # secantusd-py never runs its handler (see signal_main_thread)
            signal_main_thread(state.pid, signal.SIGTERM, pidfd)
            deadline = time.monotonic() + timeout
            while process_alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process_alive(state.pid):
                signal_process(state.pid, signal.SIGKILL, pidfd)
                deadline = time.monotonic() + 5.0
                while process_alive(state.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    try:  # reap it when it is our own child (tests start and stop in one process)
        os.waitpid(state.pid, os.WNOHANG)
    except ChildProcessError:
        pass
    deadline = time.monotonic() + 5.0  # the listening socket can outlive the pid for a moment
    while port_accepts(state.host, state.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    path.unlink(missing_ok=True)
    return state
