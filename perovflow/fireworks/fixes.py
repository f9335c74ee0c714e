"""Fixes applied to FireWorks when it is imported; see :mod:`perovflow.fireworks.hook`.

1. Unique ids under concurrency. FireWorks hands out fw_ids and launch_ids with
   ``find_one_and_update({}, {"$inc": ...})`` and reads the *before* document.
   SecantusDB can return a stale before-document when several clients race, so two
   Fireworks could get the same launch id. We ask for the document *after* the
   increment (atomic on every MongoDB-protocol server) and subtract the increment,
   which gives the same value on a correct server and a unique one on SecantusDB.
2. Offline mode. monty >= 2026 requires ``zopen(path, mode)``; FireWorks 2.1.4 calls
   ``zopen(path)`` in ``rocket.py``. We give its module a ``zopen`` whose mode
   defaults to text reading, as older monty did.
3. Workflow locks that record their holder. FireWorks' ``WFLock`` sets ``locked: true``
   on the workflow and nothing else, so a worker SIGKILLed while holding it leaves every
   other worker waiting ``WFLOCK_EXPIRATION_SECS`` (300 s) and then failing. Our lock sets
   ``locked_by`` ({host, pid, started, since}) in the same atomic update (and keeps it
   when FireWorks replaces the workflow document under the lock); a waiter on the same
   host takes over a lock whose holder no longer runs at once, and ``perovflow run
   --resume`` releases such locks before its workers start; the watchdog releases a lock
   held longer than a check-out or completion can take (``since``), on any host.
4. A short ping. A running launch pings every ``PEROVFLOW_PING_SECS`` (20 s) instead of
   FireWorks' 3,600 s, so the watchdog (:mod:`perovflow.fireworks.watchdog`) can tell a
   dead worker within minutes. SIGTERM to a worker that holds a lock waits until the
   lock is released, so the lock never outlives it and no update under it is half done.

They were read against and tested on :data:`CHECKED_FIREWORKS_VERSIONS`; on another release
each is applied only when its ``misfit`` check finds what it wraps (see
:mod:`perovflow.fireworks.patching`).
"""
from __future__ import annotations

import os
import random
import signal
import socket
import time
from types import ModuleType
from typing import Any

from perovflow.fireworks.patching import Changes, Fix
from perovflow.processes import process_alive, process_start_time

# the one place that says which FireWorks releases the fixes below were checked against
CHECKED_FIREWORKS_VERSIONS = ("2.1.4",)

_MARK = "_perovflow_patched"


class IdAssignerCollection:
    """Wraps the ``fw_id_assigner`` collection so that ``$inc`` hand-outs are race free."""

    def __init__(self, collection: Any):
        self._collection = collection

    def find_one_and_update(self, filter, update, *args, **kwargs):
        from pymongo import ReturnDocument

        increments = update.get("$inc") if isinstance(update, dict) else None
        wants_before = kwargs.get("return_document", ReturnDocument.BEFORE) == ReturnDocument.BEFORE
        if not increments or not wants_before or args:
            return self._collection.find_one_and_update(filter, update, *args, **kwargs)
        kwargs["return_document"] = ReturnDocument.AFTER
        after = self._collection.find_one_and_update(filter, update, **kwargs)
        if after is None:
            return None
        before = dict(after)
        for key, step in increments.items():
            if key in before:
                before[key] = before[key] - step
        return before

    def __getattr__(self, item):
        return getattr(self._collection, item)


class WorkflowsCollection:
    """Wraps the ``workflows`` collection so that the lock's holder survives FireWorks'
    ``_update_wf``, which replaces the whole workflow document under the lock and keeps
    only ``locked: true``."""

    def __init__(self, collection: Any):
        self._collection = collection

    def find_one_and_replace(self, filter, replacement, *args, **kwargs):
        if isinstance(replacement, dict) and replacement.get("locked") and "locked_by" not in replacement:
            current = self._collection.find_one(filter, {"locked_by": 1}) or {}
            if "locked_by" in current:
                replacement = {**replacement, "locked_by": current["locked_by"]}
        return self._collection.find_one_and_replace(filter, replacement, *args, **kwargs)

    def __getattr__(self, item):
        return getattr(self._collection, item)


def _uses(function: Any, *names: str) -> bool:
    """``function``'s code reads or sets every attribute in ``names``."""
    code = getattr(getattr(function, "__wrapped__", function), "__code__", None)
    return code is not None and set(names) <= set(code.co_names)


def launchpad_misfit(module: ModuleType) -> str | None:
    launchpad_cls, lock_cls = getattr(module, "LaunchPad", None), getattr(module, "WFLock", None)
    if not isinstance(launchpad_cls, type):
        return "no LaunchPad class"
    if not _uses(launchpad_cls.__init__, "fw_id_assigner", "workflows", "m_logger"):
        return "LaunchPad() sets no fw_id_assigner, workflows and m_logger"
    for method in ("get_new_fw_id", "get_new_launch_id"):
        if not _uses(getattr(launchpad_cls, method, None), "fw_id_assigner", "find_one_and_update"):
            return f"LaunchPad.{method} does not call fw_id_assigner.find_one_and_update"
    if not isinstance(lock_cls, type) or not _uses(lock_cls.__init__, "lp", "fw_id", "expire_secs", "kill"):
        return "no WFLock(lp, fw_id, expire_secs, kill)"
    if not isinstance(getattr(module, "LockedWorkflowError", None), type):
        return "no LockedWorkflowError"
    return None


def patch_launchpad(module: ModuleType, changes: Changes) -> None:
    launchpad_cls = module.LaunchPad
    if getattr(launchpad_cls, _MARK, False):
        return
    original_init = launchpad_cls.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        assigner = getattr(self, "fw_id_assigner", None)
        if assigner is not None and not isinstance(assigner, IdAssignerCollection):
            self.fw_id_assigner = IdAssignerCollection(assigner)
        workflows = getattr(self, "workflows", None)
        if workflows is not None and not isinstance(workflows, WorkflowsCollection):
            self.workflows = WorkflowsCollection(workflows)

    __init__.__wrapped__ = original_init
    changes.set(launchpad_cls, "__init__", __init__)
    _recording_lock(module.WFLock, module.LockedWorkflowError, changes)
    changes.set(launchpad_cls, _MARK, True)


def lock_holder() -> dict[str, Any]:
    """Who takes a workflow lock: this host and process (with its start time, so that a
    reused pid is not mistaken for the holder)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start_time(os.getpid()),
            "since": time.time()}


def holder_gone(holder: dict[str, Any] | None) -> bool:
    """True when ``holder`` ran on this host and that process no longer runs."""
    if not holder or holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    return not isinstance(pid, int) or not process_alive(pid) or process_start_time(pid) != holder.get("started")


def take_over_dead_lock(workflows: Any, fw_id: int, holder: dict[str, Any]) -> dict | None:
    """Acquire the lock of the workflow holding ``fw_id`` if its holder died on this host."""
    current = workflows.find_one({"nodes": fw_id}, {"locked": 1, "locked_by": 1})
    if current is None or not current.get("locked") or not holder_gone(current.get("locked_by")):
        return None
    return workflows.find_one_and_update({"_id": current["_id"], "locked_by": current.get("locked_by")},
                                         {"$set": {"locked": True, "locked_by": holder}})


_locks_held = 0  # workflow locks this process holds now (see exit_on_sigterm)


def _recording_lock(wflock_cls: type, locked_error: type, changes: Changes) -> None:
    def __enter__(self):
        global _locks_held
        _acquire(self)
        _locks_held += 1

    def _acquire(self):
        holder = lock_holder()
        workflows = self.lp.workflows
        free = {"nodes": self.fw_id, "locked": {"$exists": False}}
        acquired = workflows.find_one_and_update(free, {"$set": {"locked": True, "locked_by": holder}})
        tries, waited = 0, 0.0
        while not acquired:
            acquired = take_over_dead_lock(workflows, self.fw_id, holder)
            if acquired:
                self.lp.m_logger.warning(f"took over the lock of workflow {self.fw_id}: its holder no longer runs")
                break
            tries += 1
            step = tries / 10.0 + random.random() / 100.0
            time.sleep(step)
            waited += step
            if waited > self.expire_secs:
                if workflows.find_one({"nodes": self.fw_id}) is None:
                    raise ValueError(f"Could not find workflow in database: {self.fw_id}")
                if not self.kill:
                    raise locked_error(f"Could not get workflow - LOCKED: {self.fw_id}")
                self.lp.m_logger.warning(f"FORCIBLY ACQUIRING LOCK, WF: {self.fw_id}")
                acquired = workflows.find_one_and_update({"nodes": self.fw_id},
                                                         {"$set": {"locked": True, "locked_by": holder}})
            else:
                acquired = workflows.find_one_and_update(free, {"$set": {"locked": True, "locked_by": holder}})

    def __exit__(self, exc_type, exc_val, exc_tb):
        global _locks_held
        self.lp.workflows.find_one_and_update({"nodes": self.fw_id}, {"$unset": {"locked": True, "locked_by": True}})
        _locks_held -= 1
        if _locks_held == 0 and _sigterm_waiting:
            _die_of_sigterm()

    changes.set(wflock_cls, "__enter__", __enter__)
    changes.set(wflock_cls, "__exit__", __exit__)


def exit_on_sigterm() -> None:
    """SIGTERM (``perovflow run`` stopping its workers, a batch system at the wall time)
    that meets a worker holding a workflow lock waits until the lock is released: under the
    lock FireWorks writes a job's state and its children's one document at a time, and a
    worker dying in between leaves children WAITING for parents that are done. Anywhere
    else SIGTERM ends the worker on the spot, as Python's default does (an exception inside
    a running task would make FireWorks mark the job FIZZLED instead of leaving it to run
    again)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


_sigterm_waiting = False


def _on_sigterm(signum, frame):
    global _sigterm_waiting
    if _locks_held > 0:
        _sigterm_waiting = True
        return
    _die_of_sigterm()


def _die_of_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def zopen_with_default_mode(original):
    def zopen(filename, mode: str | None = None, *args, **kwargs):
        return original(filename, mode or "rt", *args, **kwargs)

    zopen.__wrapped__ = original
    return zopen


def rocket_misfit(module: ModuleType) -> str | None:
    if not callable(getattr(module, "zopen", None)):
        return "no zopen in fireworks.core.rocket"
    if not isinstance(getattr(module, "PING_TIME_SECS", None), (int, float)):
        return "no PING_TIME_SECS in fireworks.core.rocket"
    return None


def patch_rocket(module: ModuleType, changes: Changes) -> None:
    from perovflow.fireworks.ping import ping_seconds

    if getattr(module, _MARK, False):
        return
    changes.set(module, "zopen", zopen_with_default_mode(module.zopen))
    changes.set(module, "PING_TIME_SECS", ping_seconds())
    exit_on_sigterm()
    changes.set(module, _MARK, True)


FIXES = (
    Fix("unique ids and recorded lock holders", "fireworks.core.launchpad", launchpad_misfit, patch_launchpad,
        without="racing workers can get the same launch id on SecantusDB, and a killed worker's workflow lock "
                "blocks the others for WFLOCK_EXPIRATION_SECS"),
    Fix("offline zopen, short ping, SIGTERM releasing locks", "fireworks.core.rocket", rocket_misfit, patch_rocket,
        without="offline launches (rlaunch --offline) fail with monty >= 2026, a dead worker is noticed after "
                "hours, and a worker stopped with SIGTERM can leave its workflow locked"),
)
