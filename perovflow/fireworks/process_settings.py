"""Thread and BLAS settings for perovflow's own processes (applied by :mod:`.hook`).

A process is perovflow's when it is a perovflow or FireWorks command (``sys.argv[0]`` named
``perovflow``, ``rlaunch``, ``lpad`` or ``qlaunch``), when ``PEROVFLOW_PROCESS=1`` is set
(a perovflow process sets it for everything it starts), or when it imports a perovflow
module. ``PEROVFLOW_PROCESS=0`` opts a process out. Every other Python program of the
environment keeps its own BLAS and torch defaults.
"""
from __future__ import annotations

import os
import sys
from types import ModuleType

from perovflow.fireworks.hook_warnings import warn_once

ENTRY_POINTS = frozenset({"perovflow", "rlaunch", "lpad", "qlaunch"})
# OpenBLAS' AVX-512 kernels segfault with two threads on large products here, and two torch
# threads on a 2-core machine were 30x slower than one.
DEFAULTS = {"OPENBLAS_CORETYPE": "Haswell", "PEROVFLOW_TORCH_THREADS": "1", "PEROVFLOW_PROCESS": "1"}

_claimed = False


def _choice_from_environment() -> bool | None:
    value = os.environ.get("PEROVFLOW_PROCESS", "")
    if value in ("0", "1"):
        return value == "1"
    if value:
        warn_once("PEROVFLOW_PROCESS", f"PEROVFLOW_PROCESS={value!r} is not allowed (1: apply perovflow's thread "
                                       "and BLAS settings, 0: never, unset: decide by the program); ignored")
    return None


def is_own_process() -> bool:
    choice = _choice_from_environment()
    if choice is not None:
        return choice
    argv = getattr(sys, "argv", None) or [""]
    return _claimed or os.path.basename(argv[0]) in ENTRY_POINTS


def apply() -> None:
    """Set the defaults of :data:`DEFAULTS` and limit torch, when this process is perovflow's."""
    if not is_own_process():
        return
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    if "torch" in sys.modules:
        torch_imported(sys.modules["torch"])


def claim() -> None:
    """This process imports perovflow: it is perovflow's from now on."""
    global _claimed
    if not _claimed:
        _claimed = True
        apply()


def torch_threads() -> int:
    raw = os.environ.get("PEROVFLOW_TORCH_THREADS", "1")
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads >= 1:
        return threads
    warn_once("PEROVFLOW_TORCH_THREADS", f"PEROVFLOW_TORCH_THREADS={raw!r} is not allowed (a whole number of "
                                         "threads, 1 or more); torch uses 1")
    return 1


def torch_imported(torch: ModuleType) -> None:
    if not is_own_process():
        return
    threads = torch_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
