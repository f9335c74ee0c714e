"""Where the database is: a MongoDB URI + database name, from flags, files or defaults.

Order: an explicit ``--uri``; an explicit launchpad file; ``$PEROVFLOW_URI``;
``./my_launchpad.yaml``; the embedded server's default address.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perovflow.files import write_text_atomic
from perovflow.store import credentials, server

DEFAULT_DATABASE = "perovflow"
# how long a command waits for a server before it gives up (workers keep the 20 s of
# client_options: a busy server must not stop a running campaign)
CONNECT_TIMEOUT_S = float(os.environ.get("PEROVFLOW_CONNECT_TIMEOUT", "2"))


class DatabaseUnreachable(RuntimeError):
    """No server answered at the target's address in time."""


class DatabaseLoginRefused(RuntimeError):
    """A server answered but refused the credentials."""


@dataclass(frozen=True)
class DatabaseTarget:
    """A database: its address, its name, and the MongoClient options that let a client in
    (credentials, TLS). ``uri`` may hold a user's password (``--uri``, ``PEROVFLOW_URI``):
    print :meth:`redacted_uri`, and put only :meth:`as_spec` (the name) into a job."""

    uri: str
    database: str = DEFAULT_DATABASE
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def as_spec(self) -> dict[str, str]:
        """What a Firework may hold: the database's name, never where or how to log in (a
        worker takes that from its own launchpad file)."""
        return {"database": self.database}

    def client_options(self) -> dict[str, Any]:
        return {"serverSelectionTimeoutMS": 20000, **self.options}

    def client(self, **extra: Any):
        from pymongo import MongoClient

        return MongoClient(self.uri, **{**self.client_options(), **extra})

    def redacted_uri(self) -> str:
        return redact(self.uri)

    def launchpad_dict(self) -> dict:
        return {"host": self.uri, "name": self.database, "uri_mode": True,
                "mongoclient_kwargs": self.client_options()}


def check_reachable(target: DatabaseTarget, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Ping the server within ``timeout_s`` and log in, or raise one of the two errors above
    with a one-line message that names the (redacted) address."""
    from pymongo.errors import OperationFailure, PyMongoError

    ms = max(1, int(timeout_s * 1000))
    client = target.client(serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms)
    try:
        client.admin.command("ping")
        client[target.database].list_collection_names()  # logging in happens at the first real command
    except OperationFailure as exc:
        if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
            reason = (exc.details or {}).get("errmsg") or str(exc)
            raise DatabaseLoginRefused(
                f"the database at {target.redacted_uri()} refused the login ({reason}); check the user and password "
                "in --uri, my_launchpad.yaml or the embedded server's credentials file") from None
        raise
    except PyMongoError as exc:
        first = str(exc).split(" (configured timeouts")[0].split(", Timeout")[0].splitlines()[0][:200]
        raise DatabaseUnreachable(f"no database server answered at {target.redacted_uri()} within {timeout_s:g} s "
                                  f"({type(exc).__name__}: {first})") from None
    finally:
        client.close()


def redact(uri: str) -> str:
    """``uri`` with its password replaced by ``***``."""
    return re.sub(r"^(mongodb(?:\+srv)?://[^:/@]+:)[^@]*@", r"\1***@", uri)


def from_launchpad_file(path: str | Path) -> DatabaseTarget:
    """Every option of a FireWorks launchpad file is honoured: credentials, ``authsource``,
    ``mongoclient_kwargs`` (TLS and the like) and ``uri_mode``."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    name = data.get("name") or DEFAULT_DATABASE
    host = data.get("host") or "localhost"
    options = dict(data.get("mongoclient_kwargs") or {})
    if data.get("uri_mode"):
        return DatabaseTarget(uri=host, database=name, options=options)
    if data.get("username"):
        options.update({"username": data["username"], "password": str(data.get("password") or ""),
                        "authSource": data.get("authsource") or name})
    port = data.get("port") or 27017
    return DatabaseTarget(uri=f"mongodb://{host}:{port}/", database=name, options=options)


def embedded_target(database: str = DEFAULT_DATABASE, storage: Path | None = None,
                    state: server.ServerState | None = None) -> DatabaseTarget:
    """The embedded server of ``storage`` (default: perovflow's own) with its credentials."""
    state = state or server.status(storage)
    if state is not None:
        return DatabaseTarget(uri=state.uri, database=database, options=state.client_options())
    stored = credentials.load(Path(storage or server.default_storage()).expanduser().resolve())
    return DatabaseTarget(uri=f"mongodb://{server.DEFAULT_HOST}:{server.DEFAULT_PORT}", database=database,
                          options=stored.client_options() if stored else {})


def resolve(uri: str | None = None, launchpad_file: str | Path | None = None,
            database: str | None = None) -> DatabaseTarget:
    if uri:
        return DatabaseTarget(uri=uri, database=database or DEFAULT_DATABASE)
    if launchpad_file:
        return from_launchpad_file(launchpad_file)
    if os.environ.get("PEROVFLOW_URI"):
        return DatabaseTarget(uri=os.environ["PEROVFLOW_URI"],
                              database=database or os.environ.get("PEROVFLOW_DATABASE", DEFAULT_DATABASE))
    if Path("my_launchpad.yaml").exists():
        return from_launchpad_file("my_launchpad.yaml")
    return embedded_target(database or DEFAULT_DATABASE)


def launchpad(target: DatabaseTarget):
    from fireworks import LaunchPad

    return LaunchPad(**target.launchpad_dict(), strm_lvl="WARNING")


def write_launchpad_yaml(path: str | Path, target: DatabaseTarget) -> Path:
    """A launchpad file for ``lpad`` and ``rlaunch``; mode 600, as it may hold a password."""
    path = Path(path)
    data = target.launchpad_dict()
    data.update({"logdir": None, "strm_lvl": "INFO"})
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False), mode=0o600)
    return path


def write_fworker_yaml(path: str | Path, name: str = "perovflow-worker",
                       target: DatabaseTarget | None = None, category: str = "") -> Path:
    """A worker description; ``env.perovflow_db`` overrides the database in job specs;
    ``category`` (a campaign's ``queues.dft`` or ``queues.ml``): only those jobs, '' every job."""
    env = {"perovflow_db": target.as_spec()} if target else {}
    path = Path(path)
    path.write_text(yaml.safe_dump({"name": name, "category": category, "query": "{}", "env": env}, sort_keys=False))
    return path
