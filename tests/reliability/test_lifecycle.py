"""Issue 14, defect 6: no orphans. SIGTERM to `perovflow run` stops its rlaunch workers (and
it says how to resume); SIGKILL of `perovflow run` takes its workers with it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from perovflow.processes import process_alive
from tests.campaign.helpers import small_campaign

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def _start_run(target, tmp_path) -> tuple[subprocess.Popen, list[int]]:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(small_campaign("orphans", active={"enabled": False})))
    run = subprocess.Popen([str(BIN / "perovflow"), "run", str(path), "--uri", target.uri, "--database",
                            target.database, "--workers", "2", "--quiet", "--run-dir", str(tmp_path / "run")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = [p for p in _children(run.pid) if "rlaunch" in Path(f"/proc/{p}/cmdline").read_text()]
        if len(workers) == 2:
            return run, workers
        time.sleep(0.2)
    run.kill()
    raise AssertionError("the workers did not start")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_do_not_outlive_perovflow_run(target, tmp_path, sig):
    run, workers = _start_run(target, tmp_path)
    time.sleep(3)  # the workers are at work
    run.send_signal(sig)
    _, err = run.communicate(timeout=60)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(process_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(process_alive(p) for p in workers), "rlaunch workers outlived perovflow run"
    if sig == signal.SIGTERM:
        assert run.returncode == 130 and "--resume" in err, err
