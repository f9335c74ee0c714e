"""How often perovflow's rlaunch workers ping a running launch (FireWorks: every 3,600 s).

A short ping lets the watchdog (:mod:`perovflow.fireworks.watchdog`) tell a dead worker
from a live one within minutes; :func:`perovflow.fireworks.fixes.patch_rocket` applies it.
"""
from __future__ import annotations

import os
import warnings

PING_SECONDS = 20.0


def ping_seconds() -> float:
    """The ping interval of this process's rlaunch workers (``PEROVFLOW_PING_SECS``)."""
    given = os.environ.get("PEROVFLOW_PING_SECS")
    if not given:
        return PING_SECONDS
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:  # read while FireWorks is imported: a warning, never a failed import
        warnings.warn(f"PEROVFLOW_PING_SECS must be a number of seconds > 0, got {given!r}; "
                      f"using {PING_SECONDS:g}", stacklevel=2)
        return PING_SECONDS
    return seconds
