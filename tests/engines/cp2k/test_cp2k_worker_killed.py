"""Real CP2K: SIGKILL the Python worker that runs a Cp2kEngine single point while
cp2k.psmp computes; no cp2k.psmp started by that worker may survive it (issue 14)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perovflow.engines.cp2k import find_binary
from perovflow.engines.cp2k.settings import data_dir
from perovflow.processes import process_alive

pytestmark = pytest.mark.slow

if find_binary() is None:
    pytest.skip("cp2k not installed: apt-get install cp2k", allow_module_level=True)
if not (data_dir() / "BASIS_MOLOPT").is_file():
    pytest.skip(f"cp2k data files not found in {data_dir()}", allow_module_level=True)

# a 2x2x2 CsPbBr3 supercell (40 atoms) with a tight SCF: runs far longer than the test waits
WORKER = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[2])
    from cp2k_testkit import cspbbr3
    from perovflow.engines.cp2k import Cp2kEngine
    engine = Cp2kEngine(workdir=sys.argv[1], cutoff_ry=400, eps_scf=1e-10, max_scf=500, max_corrections=0)
    engine.single_point(cspbbr3().repeat(2))
''')


def _parents() -> dict[int, int]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return table


def cp2k_descendants(root: int) -> list[int]:
    """pids of cp2k processes whose parent chain leads to ``root`` (by pid, never by name search)."""
    parents = _parents()
    found = []
    for pid in parents:
        chain, current = set(), pid
        while current in parents and current not in chain and current != root:
            chain.add(current)
            current = parents[current]
        if current == root and pid != root:
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("cp2k"):
                found.append(pid)
    return found


def test_killed_worker_takes_cp2k_with_it(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "runs"), str(Path(__file__).parent)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    engines: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not engines and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
            engines = cp2k_descendants(worker.pid)
        assert engines, f"cp2k never started: {worker.stderr.read() if worker.poll() is not None else ''}"
        time.sleep(2.0)  # well inside the run
        assert worker.poll() is None and all(process_alive(p) for p in engines), "cp2k finished too soon"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 10
        while any(process_alive(p) for p in engines) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in engines if process_alive(p)], "cp2k outlived its killed worker"
    finally:
        for pid in engines:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)  # our own leftovers, by pid
        if worker.poll() is None:
            worker.kill()
        worker.wait()
