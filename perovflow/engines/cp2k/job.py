"""custodian's ``Cp2kJob``, made to stop only the CP2K process it started.

The stock ``Cp2kJob.terminate`` kills processes by the executable's name, which would
also kill every other CP2K run of every user and worker on the node. This job starts
CP2K in a new process group and signals that group by its id (``mpirun`` and its ranks
share it), then waits, escalating to SIGKILL only for its own group.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from custodian.cp2k.jobs import Cp2kJob

from perovflow.engines.cp2k.inputs import INPUT, OUTPUT, STDERR
from perovflow.processes import engine_popen_options, stop_process_group


class PidCp2kJob(Cp2kJob):
    """Runs ``command -i cp2k.inp`` in the run folder with ``omp_threads`` OpenMP threads."""

    def __init__(self, command: str | list[str], omp_threads: int = 1, term_timeout: float = 10.0):
        argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
        if not argv:
            raise ValueError("PidCp2kJob needs a command, e.g. 'cp2k.psmp' or 'mpirun -np 4 cp2k.psmp'")
        super().__init__(cp2k_cmd=argv, input_file=INPUT, output_file=OUTPUT, stderr_file=STDERR,
                         backup=True)
        self.command = command
        self.omp_threads = omp_threads
        self.term_timeout = term_timeout
        self._process: subprocess.Popen | None = None

    def run(self, directory: str = "./") -> subprocess.Popen:
        folder = Path(directory)
        env = dict(os.environ, OMP_NUM_THREADS=str(self.omp_threads))
        with open(folder / self.output_file, "w") as out, open(folder / self.stderr_file, "w") as err:
            self._process = subprocess.Popen([*self.cp2k_cmd, "-i", self.input_file], cwd=folder,
                                             stdout=out, stderr=err, env=env,
                                             **engine_popen_options())
        return self._process

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def terminate(self, directory: str = "./") -> None:
        if self._process is not None:
            stop_process_group(self._process, self.term_timeout, kill_timeout=None)

    def as_dict(self) -> dict:
        return {"@module": type(self).__module__, "@class": type(self).__name__,
                "command": self.command, "omp_threads": self.omp_threads,
                "term_timeout": self.term_timeout}
