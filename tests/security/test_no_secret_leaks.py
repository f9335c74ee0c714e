"""Issue 15: after a campaign, the database password is in no Firework spec, no FW.json, no
log, not on standard output or error, and in no file that anyone but its owner can read."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import bson
import pytest
import yaml

from perovflow.store.connection import DatabaseTarget, write_launchpad_yaml
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_the_password_stays_in_private_files(target, tmp_path, mongo_db):
    password = unquote(urlparse(target.uri).password or "")
    assert len(password) >= 20  # the session's server requires a generated password
    work = tmp_path / "work"
    work.mkdir()
    launchpad_file = write_launchpad_yaml(work / "my_launchpad.yaml", target)
    campaign = work / "secret.yaml"
    campaign.write_text(yaml.safe_dump(small_campaign(
        "secret", phases=["Pm-3m"], pool={"per_composition": 2, "test_per_composition": 1},
        selection={"clusters": 5, "batches": 1}, labelling={"group_size": 25})))

    out = subprocess.run([str(BIN / "perovflow"), "run", str(campaign), "-l", str(launchpad_file), "--workers", "1",
                          "--quiet", "--run-dir", str(work / "run")], cwd=work, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert password not in out.stdout and password not in out.stderr
    assert "***" in out.stdout or "@" not in out.stdout  # the URI is printed redacted

    for name in mongo_db.list_collection_names():  # specs, launches (FW.json content, worker env), data
        for doc in mongo_db[name].find():
            assert password.encode() not in bson.encode(doc), f"password in {name} {doc.get('_id')}"
    holders = []
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and password.encode() in path.read_bytes():
            holders.append(path)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} holds the password with mode " \
                                                               f"{oct(path.stat().st_mode)}"
    assert {p.name for p in holders} == {"my_launchpad.yaml"}, holders  # the user's and the workers' copy
    assert list((work / "run").rglob("FW.json")), "no launch folder was written"
    assert isinstance(target, DatabaseTarget)
