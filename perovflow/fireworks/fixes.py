"""Fixes applied to FireWorks (and torch) when they are imported; see :mod:`perovflow.fireworks.hook`.

1. Unique ids under concurrency. FireWorks hands out fw_ids and launch_ids with
   ``find_one_and_update({}, {"$inc": ...})`` and reads the *before* document.
   SecantusDB can return a stale before-document when several clients race, so two
   Fireworks could get the same launch id. We ask for the document *after* the
   increment (atomic on every MongoDB-protocol server) and subtract the increment,
   which gives the same value on a correct server and a unique one on SecantusDB.
2. Offline mode. monty >= 2026 requires ``zopen(path, mode)``; FireWorks 2.1.4 calls
   ``zopen(path)`` in ``rocket.py``. We give its module a ``zopen`` whose mode
   defaults to text reading, as older monty did.
3. torch uses ``PEROVFLOW_TORCH_THREADS`` threads (default 1): two threads on this
   kind of 2-core machine were 30x slower.
4. Workflow locks that record their holder. FireWorks' ``WFLock`` sets ``locked: true``
   on the workflow and nothing else, so a worker SIGKILLed while holding it leaves every
   other worker waiting ``WFLOCK_EXPIRATION_SECS`` (300 s) and then failing. Our lock sets
   ``locked_by`` ({host, pid, started}) in the same atomic update; a waiter on the same
   host takes over a lock whose holder no longer runs at once, and ``perovflow run
   --resume`` releases such locks before its workers start.
"""
from __future__ import annotations

import os
import random
import socket
import time
from types import ModuleType
from typing import Any

from perovflow.processes import process_alive, process_start_time

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


def patch_launchpad(module: ModuleType) -> None:
    launchpad_cls = module.LaunchPad
    if getattr(launchpad_cls, _MARK, False):
        return
    original_init = launchpad_cls.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if not isinstance(self.fw_id_assigner, IdAssignerCollection):
            self.fw_id_assigner = IdAssignerCollection(self.fw_id_assigner)

    __init__.__wrapped__ = original_init
    launchpad_cls.__init__ = __init__
    setattr(launchpad_cls, _MARK, True)
    _recording_lock(module.WFLock)


def lock_holder() -> dict[str, Any]:
    """Who takes a workflow lock: this host and process (with its start time, so that a
    reused pid is not mistaken for the holder)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start_time(os.getpid())}


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


def _recording_lock(wflock_cls: type) -> None:
    from fireworks.core.launchpad import LockedWorkflowError

    def __enter__(self):
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
                    raise LockedWorkflowError(f"Could not get workflow - LOCKED: {self.fw_id}")
                self.lp.m_logger.warning(f"FORCIBLY ACQUIRING LOCK, WF: {self.fw_id}")
                acquired = workflows.find_one_and_update({"nodes": self.fw_id},
                                                         {"$set": {"locked": True, "locked_by": holder}})
            else:
                acquired = workflows.find_one_and_update(free, {"$set": {"locked": True, "locked_by": holder}})

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.lp.workflows.find_one_and_update({"nodes": self.fw_id}, {"$unset": {"locked": True, "locked_by": True}})

    wflock_cls.__enter__ = __enter__
    wflock_cls.__exit__ = __exit__


def zopen_with_default_mode(original):
    def zopen(filename, mode: str | None = None, *args, **kwargs):
        return original(filename, mode or "rt", *args, **kwargs)

    zopen.__wrapped__ = original
    return zopen


def patch_rocket(module: ModuleType) -> None:
    if getattr(module, _MARK, False):
        return
    module.zopen = zopen_with_default_mode(module.zopen)
    setattr(module, _MARK, True)


def limit_torch_threads(torch_module: ModuleType) -> None:
    threads = int(os.environ.get("PEROVFLOW_TORCH_THREADS", "1"))
    if threads > 0 and torch_module.get_num_threads() != threads:
        torch_module.set_num_threads(threads)
