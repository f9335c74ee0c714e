"""Ending processes safely: only by pid or by the process group we created, never by name."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, finished but not reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def stop_process_group(process: subprocess.Popen, term_timeout: float, kill_timeout: float | None = 5.0) -> None:
    """SIGTERM, then SIGKILL, to the group of a child started with ``start_new_session=True``:
    that group holds the child and its own children (an MPI launcher's ranks) and nothing else."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, kill_timeout)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
