"""Issue 14, defect 10: a dead worker's job runs again within minutes, without a person.

perovflow's workers ping every PEROVFLOW_PING_SECS (FireWorks: 3,600 s), so the watchdog
(`perovflow watch`, also inside `perovflow run`) can tell a live worker from a dead one
after seconds. Here the ping is 1 s and "lost" is 4 s without one, so the test is short."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fireworks import Firework, Workflow

from perovflow.fireworks.builder import stage_metadata
from perovflow.fireworks.manager import ensure_initialised
from perovflow.fireworks.watchdog import check_once
from perovflow.processes import engine_popen_options
from perovflow.store.connection import launchpad, write_launchpad_yaml
from tests.reliability.sleepy import SleepTask

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def start_worker(folder: Path, launchpad_file: Path) -> subprocess.Popen:
    folder.mkdir()
    env = {**os.environ, "PEROVFLOW_PING_SECS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([str(BIN / "rlaunch"), "-l", str(launchpad_file), "singleshot"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **engine_popen_options())


def wait_for_state(lp, fw_id: int, state: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while lp.fireworks.find_one({"fw_id": fw_id})["state"] != state:
        assert time.monotonic() < deadline, f"fw {fw_id} not {state} after {timeout} s"
        time.sleep(0.2)


def test_the_job_of_a_killed_worker_runs_again_and_a_live_one_is_left_alone(target, tmp_path):
    lp = launchpad(target)
    ensure_initialised(lp)
    mark = tmp_path / "mark"
    firework = Firework(SleepTask(seconds=7, mark=str(mark)), spec={"campaign": {"name": "watched"}}, name="sleepy")
    fw_id = min(lp.add_wf(Workflow([firework], metadata=stage_metadata("watched"))).values())
    launchpad_file = write_launchpad_yaml(tmp_path / "my_launchpad.yaml", target)

    worker = start_worker(tmp_path / "first", launchpad_file)
    wait_for_state(lp, fw_id, "RUNNING")
    time.sleep(5)
    assert check_once(lp, "watched", lost_after=4).rerun == []  # it pings: alive although it started 5 s ago
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(5)
    watch = subprocess.run([str(BIN / "perovflow"), "watch", "watched", "--once", "--lost-after", "4",
                            "--uri", target.uri, "--database", target.database],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO)})  # rerun_fw loads SleepTask
    assert watch.returncode == 0, watch.stderr
    assert f"set to run again (fw_id {fw_id})" in watch.stdout
    assert lp.fireworks.find_one({"fw_id": fw_id})["state"] == "READY"

    again = start_worker(tmp_path / "second", launchpad_file)
    assert again.wait(timeout=120) == 0
    assert lp.fireworks.find_one({"fw_id": fw_id})["state"] == "COMPLETED"
    assert mark.read_text() == "done\n"  # the killed run never finished; the rerun did, once


def test_a_lock_held_longer_than_lost_after_is_released_on_any_host(target):
    lp = launchpad(target)
    ensure_initialised(lp)
    ids = []
    for age in (500, 1):
        firework = Firework(SleepTask(seconds=0, mark="unused"), spec={"campaign": {"name": "locks"}})
        ids.append(min(lp.add_wf(Workflow([firework], metadata=stage_metadata("locks"))).values()))
        holder = {"host": "another-node", "pid": 1, "started": 0.0, "since": time.time() - age}
        lp.workflows.update_one({"nodes": ids[-1]}, {"$set": {"locked": True, "locked_by": holder}})
    report = check_once(lp, "locks", lost_after=75)
    assert report.unlocked == [ids[0]]
    assert "locked" not in lp.workflows.find_one({"nodes": ids[0]})
    assert lp.workflows.find_one({"nodes": ids[1]})["locked"] is True  # a lock in use is left alone
