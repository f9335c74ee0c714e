"""The custodian job that runs FHI-aims with the user's command (``srun aims.x``, ...)."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from custodian.custodian import Job

from perovflow import files
from perovflow.engines.aims.guard import check_numerical_only
from perovflow.engines.aims.inputs import CONTROL, GEOMETRY
from perovflow.engines.aims.restart import ABORT_FILES, ORIGINAL_SUFFIX, OUTPUT, prepare_restart
from perovflow.processes import engine_popen_options, stop_process_group

PID_FILE = "aims.pid"


class AimsJob(Job):
    """Runs ``command`` in the run folder with standard output to ``aims.out``.

    ``setup`` keeps the first inputs as ``control.in.orig``/``geometry.in.orig`` and, if an
    earlier attempt left an ``aims.out`` (a crashed worker, a wall-time stop), restarts
    from its last complete geometry instead of from scratch. ``run`` refuses to start when
    ``control.in`` differs from the original in anything but numerical aids.
    ``terminate`` stops only the process this job started (and its children, which share
    the process group created for it), by pid.
    """

    def __init__(self, command: str | list[str], output_file: str = OUTPUT, stderr_file: str = "aims.err",
                 term_timeout: float = 10.0):
        self.command = command
        self.output_file = output_file
        self.stderr_file = stderr_file
        self.term_timeout = term_timeout
        self._process: subprocess.Popen | None = None

    @property
    def argv(self) -> list[str]:
        argv = shlex.split(self.command) if isinstance(self.command, str) else [str(a) for a in self.command]
        if not argv:
            raise ValueError("AimsJob needs a command, e.g. 'srun aims.x'")
        return argv

    @property
    def process(self) -> subprocess.Popen | None:
        return self._process

    def setup(self, directory: str = "./") -> dict | None:
        folder = Path(directory)
        for name in (CONTROL, GEOMETRY):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} is missing")
            original = folder / (name + ORIGINAL_SUFFIX)
            if not original.exists():
                shutil.copyfile(folder / name, original)
        if (folder / self.output_file).is_file():
            return prepare_restart(folder)
        for name in ABORT_FILES:  # a stale stop request would end the new run at once
            (folder / name).unlink(missing_ok=True)
        return None

    def run(self, directory: str = "./") -> subprocess.Popen:
        folder = Path(directory)
        original = folder / (CONTROL + ORIGINAL_SUFFIX)
        if original.is_file():
            check_numerical_only(original.read_text(), (folder / CONTROL).read_text())
        if (folder / self.output_file).is_file():
            # left by an attempt that no handler restarted: keep it, go on from its geometry
            prepare_restart(folder)
        with open(folder / self.output_file, "w") as out, open(folder / self.stderr_file, "a") as err:
            self._process = subprocess.Popen(
                self.argv, cwd=folder, stdout=out, stderr=err, **engine_popen_options()
            )
        files.write_text_atomic(folder / PID_FILE, f"{self._process.pid}\n")
        return self._process

    def postprocess(self, directory: str = "./") -> None:
        (Path(directory) / PID_FILE).unlink(missing_ok=True)

    def terminate(self, directory: str = "./") -> None:
        if self._process is not None:
            stop_process_group(self._process, self.term_timeout)
