"""How the command behaves for scripts and batch jobs: exit codes, one-line errors, logging, JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from perovflow.cli import build_parser, exit_codes
from perovflow.store import server

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {key: value for key, value in os.environ.items() if key not in ("PEROVFLOW_URI", "PEROVFLOW_CONNECT_TIMEOUT")}


def perovflow(*args, cwd=None):
    return subprocess.run([str(BIN / "perovflow"), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=CLEAN_ENV, timeout=120)


def test_unreachable_database_fails_fast_with_one_line(tmp_path):
    port = server.free_port()  # nothing listens there
    for command in (["status"], ["retry", "demo"], ["watch", "--once"], ["export", "demo", "-o", tmp_path / "x"],
                    ["submit", REPO / "workflows/demo.yaml"]):
        # 2 s of server selection and ~1 s of start-up (3.0-3.3 s on an idle machine); a slow
        # first try is tried once more, so that a loaded machine does not fail it but a hang
        # (20 s without the short timeout) fails both
        for attempt in (1, 2):
            began = time.perf_counter()
            out = perovflow(*command, "--uri", f"mongodb://127.0.0.1:{port}", cwd=tmp_path)
            took = time.perf_counter() - began
            assert out.returncode == exit_codes.DATABASE_UNREACHABLE, (command, out.stderr)
            assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
            assert out.stderr.startswith(f"error: no database server answered at mongodb://127.0.0.1:{port} within 2 s")
            if took < 5:
                break
        assert took < 5, f"{command}: {took:.1f} s on both tries"
    assert not (tmp_path / "x").exists()


def test_embedded_default_not_running_says_how_to_start_it(tmp_path):
    out = subprocess.run([str(BIN / "perovflow"), "status"], capture_output=True, text=True, cwd=tmp_path,
                         env={**CLEAN_ENV, "HOME": str(tmp_path)}, timeout=120)
    if server.port_accepts(server.DEFAULT_HOST, server.DEFAULT_PORT):
        return  # someone's embedded server runs on the default port of this machine
    assert out.returncode == exit_codes.DATABASE_UNREACHABLE, out.stderr
    assert "start it with `perovflow db start`" in out.stderr


def test_wrong_password_is_login_refused(mongo_uri, target):
    user_part, host_part = mongo_uri.split("@", 1)
    wrong = user_part.rsplit(":", 1)[0] + ":not-the-password@" + host_part
    out = perovflow("status", "--uri", wrong, "--database", target.database)
    assert out.returncode == exit_codes.DATABASE_LOGIN_REFUSED, out.stderr
    assert "refused the login" in out.stderr and "not-the-password" not in out.stderr
    assert out.stderr.count("\n") == 1


def test_status_json_and_verbosity(target):
    submitted = perovflow("-v", "submit", REPO / "workflows/demo.yaml", "--uri", target.uri,
                          "--database", target.database)
    assert submitted.returncode == 0, submitted.stderr
    assert "INFO perovflow.cli.campaigns: campaign demo valid" in submitted.stderr
    out = perovflow("-vv", "status", "--json", "--uri", target.uri, "--database", target.database)
    assert out.returncode == 0, out.stderr
    assert "DEBUG perovflow.cli.database: connecting to" in out.stderr
    data = json.loads(out.stdout)
    assert data["database"] == target.database and list(data["campaigns"]) == ["demo"]
    fireworks = int(submitted.stdout.split("submitted campaign demo: ")[1].split()[0])
    jobs = data["campaigns"]["demo"]["jobs"]
    assert jobs["READY"] == 1 and sum(jobs.values()) == fireworks
    quiet = perovflow("-q", "status", "--json", "--uri", target.uri, "--database", target.database)
    assert quiet.returncode == 0 and quiet.stderr == "" and json.loads(quiet.stdout) == data


def test_bad_input_and_help_name_exit_codes_and_units():
    assert perovflow("status", "--no-such-flag").returncode == exit_codes.BAD_INPUT
    top = perovflow("--help")
    assert top.returncode == 0 and "4 database unreachable" in " ".join(top.stdout.split())
    documented = (REPO / "docs/cli.md").read_text()
    for name, code in vars(exit_codes).items():
        if name.isupper():
            assert f"| {code} |" in documented, name
    units = ("second", "Angstrom", "degree", "relative", "meV", "eV", "fraction")
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            if action.type is float:
                assert any(unit in (action.help or "") for unit in units), f"{name} {action.option_strings}"


def test_db_on_another_interface_needs_tls_and_starts_nothing(tmp_path):
    out = perovflow("db", "start", "--host", "10.255.255.1", "--port", server.free_port(), "--storage", tmp_path / "db")
    assert out.returncode == exit_codes.BAD_INPUT and "needs the password (no --no-auth) and TLS" in out.stderr
    assert not (tmp_path / "db").exists() and not list(tmp_path.iterdir())


def test_init_writes_a_category_worker_and_refuses_an_unknown_example(tmp_path):
    out = perovflow("init", "--uri", "mongodb://db.example:27017", "--category", "dft", "-d", tmp_path)
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load((tmp_path / "my_fworker.yaml").read_text())["category"] == "dft"
    bad = perovflow("init", "--example", "nope", "-d", tmp_path / "other")
    assert bad.returncode == exit_codes.BAD_INPUT and "--example: got 'nope'; allowed: cspb_clbr3" in bad.stderr
