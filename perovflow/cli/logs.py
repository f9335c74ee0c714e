"""``-v``/``-q``: how much perovflow's (and FireWorks') ``logging`` prints to stderr."""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_for(verbose: int, quiet: int) -> int:
    """WARNING by default; each ``-v`` one step more (INFO, DEBUG), each ``-q`` one less (ERROR, CRITICAL)."""
    steps = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    return steps[max(0, min(len(steps) - 1, 2 - verbose + quiet))]


def configure(verbose: int, quiet: int) -> int:
    level = level_for(verbose, quiet)
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", force=True)
    # FireWorks sets its own loggers to DEBUG and lets them propagate; the root logger's level
    # does not filter propagated records, only its handler's level does
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    return level
