"""Starting and ending engine processes safely.

Ending: only by pid or by the process group we created, never by name.

Starting (:func:`engine_popen_options`): FHI-aims and CP2K start in a process group of
their own (``start_new_session=True``), so that a normal stop can signal the launcher
and its ranks together and nothing else. A process group of its own also means that
nothing kills the engine when its worker (``rlaunch`` or any Python process running the
engine) is SIGKILLed; the engine would go on writing into a run folder that a resume
then runs a second engine in. So on Linux the child also asks the kernel, before it
execs the engine, for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``).

What that covers, and what not:

- The signal fires when the *thread* that forked the child exits, not only the process.
  custodian runs the job in the thread that calls the engine and waits for it there, so
  that thread lives as long as the run; code that starts an engine from a short-lived
  thread must not use these options (the engine would be killed when that thread ends).
- Only the direct child gets the signal: the MPI launcher (``srun``, ``mpirun``) or the
  engine itself when started without one. Launchers end their ranks when they are killed
  (srun cancels its job step; mpirun's daemons exit when it is gone); a rank started by
  other means is not covered.
- The setting survives ``exec`` (it is cleared only for set-user-ID programs).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

PR_SET_PDEATHSIG = 1


def _libc_function(name: str):
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return getattr(libc, name)
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_function("prctl")  # looked up here, not in the forked child
_TGKILL = _libc_function("tgkill")  # glibc 2.30 and later


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL this child when the thread that forked it exits."""
    prctl = _PRCTL

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(126)  # cannot promise to die with the worker: do not start the engine
        if os.getppid() != parent:  # the worker died between fork and prctl
            os._exit(126)

    return preexec


def engine_popen_options() -> dict[str, Any]:
    """``subprocess.Popen`` keywords for an engine process: a process group of its own (for
    :func:`stop_process_group`) and, on Linux, SIGKILL when its worker dies."""
    options: dict[str, Any] = {"start_new_session": True}
    if _PRCTL is not None:
        options["preexec_fn"] = _die_with_parent(os.getpid())
    return options


def _pidfd_exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)  # readable once the process has exited
    return bool(poller.poll(0))


def signal_process(pid: int, signum: int, pidfd: int | None = None) -> None:
    """Send ``signum`` to process ``pid`` (through ``pidfd`` when given); a process that is
    gone is no error."""
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def signal_main_thread(pid: int, signum: int, pidfd: int | None = None) -> None:
    """Send ``signum`` to the main thread of process ``pid`` (whose thread id is ``pid``).

    A Python program whose main thread blocks without a timeout (``Event.wait()``, as
    secantusd-py does while it serves) runs its signal handler only once the signal
    interrupts that thread. ``kill`` directs a signal at the whole process and the kernel
    may hand it to another thread: the handler is then marked as due, but nothing wakes the
    main thread to run it, and the process never stops. ``tgkill`` directs it at one
    thread. With ``pidfd`` (from :func:`os.pidfd_open`), an exited process is not signalled.
    Without ``tgkill`` (not Linux, old glibc) falls back to a process-directed signal.
    """
    if pidfd is not None and _pidfd_exited(pidfd):
        return
    if _TGKILL is None:
        signal_process(pid, signum, pidfd)
        return
    if _TGKILL(pid, pid, signum) != 0:
        error = ctypes.get_errno()
        if error != errno.ESRCH:  # ESRCH: gone already
            raise OSError(error, f"tgkill({pid}, {pid}, {signum}): {os.strerror(error)}")


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


def process_identity(pid: int) -> tuple[int, list[str]] | None:
    """(start time in clock ticks, command line) of a running pid; None when unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    try:  # fields after "(comm)" start at field 3; starttime is field 22
        started_at = int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None
    cmdline = raw.decode(errors="surrogateescape").split("\0")[:-1] if raw else []
    return started_at, cmdline


def process_start_time(pid: int) -> int | None:
    """Start time of a running pid (clock ticks since boot): with the pid it names one
    process, even after the pid is reused."""
    identity = process_identity(pid)
    return None if identity is None else identity[0]
