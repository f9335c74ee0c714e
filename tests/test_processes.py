"""An engine process dies with the worker that started it (prctl PR_SET_PDEATHSIG), so a
SIGKILLed rlaunch never leaves FHI-aims or CP2K running in a folder a resume reuses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perovflow.processes import process_alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

WORKER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from perovflow.engines.aims.job import AimsJob
    from perovflow.engines.cp2k.job import PidCp2kJob

    folder = Path(sys.argv[2])
    folder.mkdir()
    if sys.argv[1] == "aims":
        (folder / "control.in").write_text("xc pbesol\\n")
        (folder / "geometry.in").write_text("atom 0 0 0 H\\n")
        job = AimsJob(["sleep", "120"])
        job.setup(str(folder))
    else:
        job = PidCp2kJob(["sh", "-c", "sleep 120"])  # CP2K's "-i cp2k.inp" become sh's $0 and $1
    process = job.run(str(folder))
    print(process.pid, flush=True)
    time.sleep(120)
''')


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


@pytest.mark.parametrize("engine", ["aims", "cp2k"])
def test_engine_child_dies_when_its_worker_is_killed(engine, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    worker = subprocess.Popen([sys.executable, "-c", WORKER, engine, str(tmp_path / "run")], env=env,
                              stdout=subprocess.PIPE, text=True)
    child = int(worker.stdout.readline())
    try:
        assert process_alive(child)
        assert os.getpgid(child) == child  # its own process group, for the normal stop
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert wait_gone(child, 10.0), "the engine outlived its killed worker"
    finally:
        if process_alive(child):
            os.kill(child, signal.SIGKILL)  # by pid, never by name
        if worker.poll() is None:
            worker.kill()
        worker.wait()
