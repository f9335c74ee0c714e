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
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Any

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
