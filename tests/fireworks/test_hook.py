"""The start-up hook in real processes: FireWorks fixes only where they fit and never a failed
import; thread and BLAS settings in perovflow's own processes only.

Most processes here import a stand-in ``torch`` or ``fireworks`` put first on PYTHONPATH:
the hook acts on the module name, and the stand-ins record what it did in milliseconds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from perovflow.fireworks import hook_warnings, manager, process_settings
from perovflow.fireworks.hook_warnings import HookWarning
from perovflow.store.connection import DatabaseTarget

PYTHON = Path(sys.executable).parent / "python"
SETTINGS = ("OPENBLAS_CORETYPE", "PEROVFLOW_PROCESS", "PEROVFLOW_TORCH_THREADS", "PYTHONPATH")

STAND_IN_TORCH = """\
calls = []
_threads = 7
def get_num_threads():
    return _threads
def set_num_threads(n):
    global _threads
    calls.append(n)
    _threads = n
"""
REPORT = "import os, torch; print(torch.get_num_threads(), torch.calls, os.environ.get('OPENBLAS_CORETYPE'))"

# FireWorks as a future release might look: fw_id_assigner and WFLock renamed
RENAMED_LAUNCHPAD = """\
class LaunchPad:
    def __init__(self):
        self.id_assigner = {"next_fw_id": 1}

    def get_new_fw_id(self):
        self.id_assigner["next_fw_id"] += 1
        return self.id_assigner["next_fw_id"] - 1


class WorkflowLock:
    pass
"""


def run_python(args, cwd, pythonpath=None, **env):
    """A fresh interpreter of this environment, without the settings this test session has."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    if pythonpath:
        clean["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([str(PYTHON), *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def stand_ins(tmp_path):
    folder = tmp_path / "stand_ins"
    (folder / "torch").mkdir(parents=True)
    (folder / "torch" / "__init__.py").write_text(STAND_IN_TORCH)
    return folder


@pytest.mark.parametrize("case, args, env, expected", [
    ("unrelated script", ["-c", REPORT], {}, "7 [] None"),
    ("imports a perovflow module", ["-c", "import perovflow.units; " + REPORT], {}, "1 [1] Haswell"),
    ("torch before perovflow", ["-c", "import torch, perovflow.units; " + REPORT], {}, "1 [1] Haswell"),
    ("rlaunch", ["rlaunch"], {}, "1 [1] Haswell"),
    ("started by perovflow", ["-c", REPORT], {"PEROVFLOW_PROCESS": "1"}, "1 [1] Haswell"),
    ("rlaunch opted out", ["rlaunch"], {"PEROVFLOW_PROCESS": "0"}, "7 [] None"),
])
def test_thread_and_blas_settings_reach_perovflow_processes_only(stand_ins, tmp_path, case, args, env, expected):
    (tmp_path / "rlaunch").write_text(REPORT)  # sys.argv[0] named like FireWorks' command
    out = run_python(args, tmp_path, stand_ins, **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected, case
    assert "HookWarning" not in out.stderr


def test_bad_torch_thread_count_warns_and_torch_still_imports(tmp_path):
    """The real torch, in a process perovflow started, with a malformed thread count."""
    out = run_python(["-c", "import torch; print(torch.get_num_threads())"], tmp_path,
                     PEROVFLOW_PROCESS="1", PEROVFLOW_TORCH_THREADS="abc")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    assert out.stderr.count("PEROVFLOW_TORCH_THREADS='abc' is not allowed") == 1, out.stderr


@pytest.mark.parametrize("value", ["0", "-2", "1.5", ""])
def test_torch_thread_counts_below_one_or_not_whole_fall_back_to_one(monkeypatch, value):
    monkeypatch.setattr(hook_warnings, "_given", set())
    monkeypatch.setenv("PEROVFLOW_TORCH_THREADS", value)
    with pytest.warns(HookWarning, match="PEROVFLOW_TORCH_THREADS=.* is not allowed"):
        assert process_settings.torch_threads() == 1


def test_a_whole_torch_thread_count_is_taken(monkeypatch, recwarn):
    monkeypatch.setenv("PEROVFLOW_TORCH_THREADS", "3")
    assert process_settings.torch_threads() == 3
    assert not [w for w in recwarn if issubclass(w.category, HookWarning)]


@pytest.mark.parametrize("version, says", [("9.0.0", "does not fit this one"), ("2.1.4", "failed on FireWorks 2.1.4")])
def test_fireworks_with_renamed_attributes_stays_usable_with_one_warning(tmp_path, version, says):
    """On an unknown release the check finds the attributes missing; on the checked one the fix
    fails half way and is undone. Either way LaunchPad works, unpatched, and one warning says why."""
    core = tmp_path / "stand_ins" / "fireworks" / "core"
    core.mkdir(parents=True)
    (core.parent / "__init__.py").write_text(f"__version__ = {version!r}\n")
    (core / "__init__.py").write_text("")
    (core / "launchpad.py").write_text(RENAMED_LAUNCHPAD)
    code = ("from fireworks.core.launchpad import LaunchPad; from perovflow.fireworks import hook; "
            "hook.activate(); import perovflow.units; lp = LaunchPad(); "
            "print(lp.get_new_fw_id(), lp.get_new_fw_id(), LaunchPad().get_new_fw_id(), "
            "hasattr(LaunchPad.__init__, '__wrapped__'), hasattr(LaunchPad, '_perovflow_patched'))")
    out = run_python(["-c", code], tmp_path, tmp_path / "stand_ins")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "2", "1", "False", "False"]
    assert out.stderr.count("HookWarning") == 1, out.stderr
    assert "'unique ids and recorded lock holders'" in out.stderr and says in out.stderr


def test_another_fireworks_release_that_fits_gets_the_fixes_without_warning(tmp_path):
    code = ("import fireworks; fireworks.__version__ = '9.0.0'; "
            "from fireworks.core.launchpad import LaunchPad, WFLock; import fireworks.core.rocket as rocket; "
            "print(LaunchPad._perovflow_patched, rocket._perovflow_patched, WFLock.__enter__.__module__)")
    out = run_python(["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "perovflow.fireworks.fixes"]
    assert "HookWarning" not in out.stderr


def test_workers_are_started_as_perovflow_processes(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(manager.subprocess, "Popen", lambda command, **options: started.append(options["env"]))
    monkeypatch.delenv("PEROVFLOW_PROCESS", raising=False)
    manager.start_workers(2, DatabaseTarget(uri="mongodb://127.0.0.1:9", database="unused"), tmp_path)
    assert [env["PEROVFLOW_PROCESS"] for env in started] == ["1", "1"]
