"""A FireTask for tests of workers and watchdogs: it sleeps, then leaves a mark."""
from __future__ import annotations

import time
from pathlib import Path

from fireworks import FiretaskBase


class SleepTask(FiretaskBase):
    _fw_name = "{{tests.reliability.sleepy.SleepTask}}"
    required_params = ["seconds", "mark"]

    def run_task(self, fw_spec):
        time.sleep(self["seconds"])
        with open(Path(self["mark"]), "a") as handle:
            handle.write("done\n")
