"""Warnings of the start-up hook: one category, each message at most once per process."""
from __future__ import annotations

import sys
import warnings


class HookWarning(UserWarning):
    """A FireWorks fix or a process setting of perovflow was left out or fell back to a default."""


_given: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Warn about ``key`` the first time only. Never raises: the hook runs inside imports,
    and ``-W error`` must not turn a left-out fix into a failed ``import``."""
    if key in _given:
        return
    _given.add(key)
    try:
        # no source line to show: the place in perovflow's code would only be noise
        warnings.warn_explicit(message, HookWarning, filename="perovflow-hook", lineno=0)
    except Exception:
        print(f"HookWarning: {message}", file=sys.stderr)
