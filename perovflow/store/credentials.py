"""The embedded server's user and password, kept in a file only its owner can read.

The first ``perovflow db start`` of a storage folder creates the user ``perovflow`` with a
random password: SecantusDB has no localhost exception, so the user is created on a
server started briefly without authentication on a random port of 127.0.0.1, which is
then stopped; every later start requires SCRAM-SHA-256 authentication. The file lies
beside the storage folder (``<storage>.credentials.json``, mode 600) and is read by every
perovflow command; ``perovflow init`` and ``perovflow run`` copy it into launchpad files of
mode 600 for ``lpad`` and ``rlaunch``. Nothing else ever holds the password.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perovflow.files import write_text_atomic

USER = "perovflow"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    auth_source: str = "admin"

    def client_options(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password, "authSource": self.auth_source}


def credentials_path(storage: Path) -> Path:
    return storage.parent / f"{storage.name}.credentials.json"


def load(storage: Path) -> Credentials | None:
    path = credentials_path(storage)
    try:
        data = json.loads(path.read_text())
        return Credentials(username=data["username"], password=data["password"],
                           auth_source=data.get("auth_source", "admin"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the database credentials {path}: {exc}; remove it and run "
                         "`perovflow db start` again to make a new password") from exc


def create(storage: Path) -> Credentials:
    credentials = Credentials(username=USER, password=secrets.token_urlsafe(24))
    write_text_atomic(credentials_path(storage), json.dumps(asdict(credentials)), mode=0o600)
    return credentials


def provision(uri: str, credentials: Credentials) -> None:
    """Create the user on a server that runs without authentication (or set its password)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    client = MongoClient(uri, serverSelectionTimeoutMS=20000)
    try:
        admin = client[credentials.auth_source]
        try:
            admin.command("createUser", credentials.username, pwd=credentials.password, roles=["root"])
        except OperationFailure:  # it exists already: make its password the one on file
            admin.command("updateUser", credentials.username, pwd=credentials.password)
    finally:
        client.close()


def accepted(uri: str, credentials: Credentials, extra: dict[str, Any] | None = None) -> bool:
    """Whether the server at ``uri`` accepts ``credentials``."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    client = MongoClient(uri, serverSelectionTimeoutMS=20000, **credentials.client_options(), **(extra or {}))
    try:
        client.list_database_names()
        return True
    except OperationFailure:
        return False
    finally:
        client.close()
