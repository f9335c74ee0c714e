"""Issue 15: `perovflow db start --tls-cert --tls-key` makes the embedded server speak TLS
only; perovflow's clients verify its certificate, a plain connection gets nowhere."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from perovflow.store import server
from perovflow.store.connection import embedded_target

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")


def test_a_tls_server_takes_verified_clients_only(tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    storage = tmp_path / "db"
    state, _ = server.start(port=server.free_port(), storage=storage, tls=server.TlsFiles(str(cert), str(key)))
    try:
        assert state.tls_ca == str(cert)
        client = embedded_target("secure", state=state).client()
        client.secure.probe.insert_one({"ok": 1})
        assert client.secure.probe.count_documents({}) == 1
        plain = MongoClient(state.uri, serverSelectionTimeoutMS=3000, **{k: v for k, v in state.client_options().items()
                                                                           if not k.startswith("tls")})
        with pytest.raises(PyMongoError):
            plain.secure.probe.find_one()
    finally:
        server.stop(storage)
