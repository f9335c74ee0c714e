"""Where the database is and how to log in: a user's launchpad file is honoured as written,
a Firework names only the database, printed addresses hide the password, and launchpad
files perovflow writes are private from the moment they exist."""
from __future__ import annotations

import stat

import yaml

from perovflow.store.connection import DatabaseTarget, from_launchpad_file, redact, write_launchpad_yaml


def test_every_option_of_a_launchpad_file_reaches_the_client(tmp_path):
    path = tmp_path / "my_launchpad.yaml"
    path.write_text(yaml.safe_dump({"host": "db.cluster", "port": 27018, "name": "alloys", "username": "ana",
                                    "password": "s3cret", "authsource": "admin",
                                    "mongoclient_kwargs": {"tls": True, "tlsCAFile": "/etc/ca.pem"}}))
    target = from_launchpad_file(path)
    assert target.uri == "mongodb://db.cluster:27018/" and target.database == "alloys"
    assert target.client_options() == {"serverSelectionTimeoutMS": 20000, "tls": True, "tlsCAFile": "/etc/ca.pem",
                                       "username": "ana", "password": "s3cret", "authSource": "admin"}
    path.write_text(yaml.safe_dump({"host": "mongodb://h:1/?replicaSet=rs", "name": "x", "uri_mode": True,
                                    "mongoclient_kwargs": {"tlsCertificateKeyFile": "/me.pem"}}))
    target = from_launchpad_file(path)
    assert target.uri == "mongodb://h:1/?replicaSet=rs" and target.options == {"tlsCertificateKeyFile": "/me.pem"}


def test_a_job_names_the_database_only_and_printed_uris_hide_the_password():
    target = DatabaseTarget("mongodb://ana:s3cret@h:27017/?authSource=admin", "alloys", {"password": "other"})
    assert target.as_spec() == {"database": "alloys"}
    assert target.redacted_uri() == "mongodb://ana:***@h:27017/?authSource=admin"
    assert redact("mongodb://h:27017") == "mongodb://h:27017"


def test_a_written_launchpad_file_is_private_and_reads_back_the_same(tmp_path):
    target = DatabaseTarget("mongodb://h:27017", "alloys", {"username": "ana", "password": "s3cret",
                                                             "authSource": "admin"})
    path = write_launchpad_yaml(tmp_path / "my_launchpad.yaml", target)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = from_launchpad_file(path)
    assert (again.uri, again.database, again.client_options()) == (target.uri, target.database,
                                                                    target.client_options())
