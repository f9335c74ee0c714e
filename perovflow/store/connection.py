"""Where the database is: a MongoDB URI + database name, from flags, files or defaults.

Order: an explicit ``--uri``; an explicit launchpad file; ``$PEROVFLOW_URI``;
``./my_launchpad.yaml``; the embedded server's default address.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote_plus

import yaml

from perovflow.store import server

DEFAULT_DATABASE = "perovflow"


@dataclass(frozen=True)
class DatabaseTarget:
    uri: str
    database: str = DEFAULT_DATABASE

    def as_spec(self) -> dict[str, str]:
        return {"uri": self.uri, "database": self.database}

    def launchpad_dict(self) -> dict:
        return {"host": self.uri, "name": self.database, "uri_mode": True,
                "mongoclient_kwargs": {"serverSelectionTimeoutMS": 20000}}


def from_launchpad_file(path: str | Path) -> DatabaseTarget:
    data = yaml.safe_load(Path(path).read_text()) or {}
    name = data.get("name") or DEFAULT_DATABASE
    host = data.get("host") or "localhost"
    if data.get("uri_mode"):
        return DatabaseTarget(uri=host, database=name)
    credentials = ""
    if data.get("username"):
        credentials = f"{quote_plus(data['username'])}:{quote_plus(str(data.get('password') or ''))}@"
    port = data.get("port") or 27017
    query = f"?authSource={data.get('authsource') or name}" if credentials else ""
    return DatabaseTarget(uri=f"mongodb://{credentials}{host}:{port}/{query}", database=name)


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
    return DatabaseTarget(uri=f"mongodb://{server.DEFAULT_HOST}:{server.DEFAULT_PORT}",
                          database=database or DEFAULT_DATABASE)


def launchpad(target: DatabaseTarget):
    from fireworks import LaunchPad

    return LaunchPad(**target.launchpad_dict(), strm_lvl="WARNING")


def write_launchpad_yaml(path: str | Path, target: DatabaseTarget) -> Path:
    path = Path(path)
    data = target.launchpad_dict()
    data.update({"logdir": None, "strm_lvl": "INFO"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_fworker_yaml(path: str | Path, name: str = "perovflow-worker",
                       target: DatabaseTarget | None = None) -> Path:
    """A worker description; ``env.perovflow_db`` overrides the database in job specs."""
    env = {"perovflow_db": target.as_spec()} if target else {}
    path = Path(path)
    path.write_text(yaml.safe_dump({"name": name, "category": "", "query": "{}", "env": env}, sort_keys=False))
    return path
