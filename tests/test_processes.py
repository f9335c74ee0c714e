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


# SIGTERM blocked in both threads; a second thread takes every SIGTERM sent to the process
# (sigwait). One sent to the main thread alone stays pending there, where that thread sees it.
RECEIVER = textwrap.dedent('''
    import signal, sys, threading, time
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    taken = []
    threading.Thread(target=lambda: taken.append(signal.sigwait({signal.SIGTERM})), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()  # the test has signalled
    time.sleep(1.0)
    print("process" if taken else "main" if signal.SIGTERM in signal.sigpending() else "none", flush=True)
''')


def test_signal_main_thread_reaches_the_main_thread_not_another():
    """secantusd-py waits in its main thread; a SIGTERM another thread takes never runs its
    handler, and `perovflow db stop` waited 30 s for it before its SIGKILL (issue 14's tests
    took 31 s under load). os.kill here reports "process"."""
    from perovflow.processes import signal_main_thread

    child = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        pidfd = os.pidfd_open(child.pid)
        try:
            signal_main_thread(child.pid, signal.SIGTERM, pidfd)
        finally:
            os.close(pidfd)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "main"
    finally:
        child.kill()
        child.wait()


def test_signal_main_thread_leaves_an_exited_process_alone():
    """An exited (not yet reaped) process is not signalled; a pid that is gone raises nothing."""
    from perovflow.processes import signal_main_thread

    gone = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(gone.pid)
    try:
        while process_alive(gone.pid):
            time.sleep(0.01)
        signal_main_thread(gone.pid, signal.SIGKILL, pidfd)  # a zombie: nothing sent, nothing raised
    finally:
        os.close(pidfd)
    gone.wait()
    beyond = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process can have it
    signal_main_thread(beyond, signal.SIGTERM)  # ESRCH: nothing raised
