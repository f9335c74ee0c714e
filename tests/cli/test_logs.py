"""The default log level holds for loggers that set their own level (FireWorks' are DEBUG)."""
from __future__ import annotations

import logging

from perovflow.cli import logs


def test_default_level_silences_debug_of_loggers_with_their_own_level(capsys):
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    noisy = logging.getLogger("pftest.launchpad_like")
    noisy.setLevel(logging.DEBUG)
    try:
        logs.configure(0, 0)
        noisy.debug("detect_lostruns completed")
        noisy.warning("a lost run")
        logs.configure(2, 0)
        noisy.debug("now at DEBUG")
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
    err = capsys.readouterr().err
    assert "detect_lostruns" not in err
    assert "a lost run" in err and "now at DEBUG" in err
