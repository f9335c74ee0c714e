"""Process start-up hook: the FireWorks fixes, and perovflow's thread and BLAS settings.

The hook is installed as a ``.pth`` file in the environment's site-packages
(``perovflow hook install``; ``make`` does it), so that it runs in every Python process of
that environment, including the plain ``lpad`` and ``rlaunch`` commands of FireWorks. It
registers an import hook and does nothing else at start-up, so a process that imports
neither FireWorks nor torch nor perovflow pays nothing and is left as it was.

- The FireWorks fixes (:mod:`.fixes`) are applied in every process that imports FireWorks:
  they correct FireWorks on this database server, whoever runs it. A fix that does not fit
  the installed FireWorks, or fails, is left out with one warning (:mod:`.patching`).
- The thread and BLAS settings (:mod:`.process_settings`) apply to perovflow's own
  processes only: perovflow and FireWorks commands, the processes perovflow starts, and
  processes that import perovflow. The import hook notices the last kind.

Nothing here may make an import fail: whatever goes wrong becomes a warning.
"""
from __future__ import annotations

import importlib.abc
import os
import sys
import sysconfig
from pathlib import Path
from typing import Callable

from perovflow.fireworks import process_settings
from perovflow.fireworks.hook_warnings import warn_once

PTH_NAME = "perovflow-hook.pth"
PTH_LINE = (
    "import importlib.util as _u; "
    "_u.find_spec('perovflow') and __import__('perovflow.fireworks.hook').fireworks.hook.activate()\n"
)
NOT_INSTALLED = ("rlaunch (also the workers of `perovflow run`), lpad and qlaunch run without perovflow's FireWorks "
                 "fixes (racing workers can share a launch id on SecantusDB); run `perovflow hook install` where "
                 "site-packages is writable")

_FIREWORKS_MODULES = ("fireworks.core.launchpad", "fireworks.core.rocket")
_WATCHED = (*_FIREWORKS_MODULES, "torch")
_hook_is_importing = False  # perovflow modules the hook imports itself do not make a process perovflow's


def _safely(what: str, action: Callable[[], None]) -> None:
    global _hook_is_importing
    before, _hook_is_importing = _hook_is_importing, True
    try:
        action()
    except Exception as exc:
        warn_once(what, f"perovflow could not adjust {what} ({type(exc).__name__}: {exc}); it is left as it was")
    finally:
        _hook_is_importing = before


def _fix_fireworks(module_name: str) -> None:
    # imported on first use: the hook runs at every interpreter start and must stay cheap
    from perovflow.fireworks import fixes, patching

    for fix in fixes.FIXES:
        if fix.module == module_name:
            patching.apply_fix(fix, sys.modules[module_name], fixes.CHECKED_FIREWORKS_VERSIONS)


def _after_import(name: str) -> None:
    if name == "torch":
        _safely("torch", lambda: process_settings.torch_imported(sys.modules["torch"]))
    else:
        _safely(name, lambda: _fix_fireworks(name))


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, name: str):
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        _after_import(self._name)

    def __getattr__(self, item):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._wrapped, item)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """Wraps the loaders of FireWorks' patched modules and torch; notes imports of perovflow."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] == "perovflow":
            if not _hook_is_importing:
                _safely("perovflow's process settings", process_settings.claim)
            return None
        if fullname not in _WATCHED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, fullname)
                return spec
        return None


def activate() -> None:
    """Apply the settings if this process is perovflow's and arrange for the fixes; safe to call many times."""
    _safely("perovflow's process settings", process_settings.apply)
    if not any(isinstance(f, _ImportWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportWatcher())
    for name in _WATCHED:  # already imported before perovflow: adjust now
        if name in sys.modules:
            _after_import(name)


def pth_path() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def install() -> Path:
    """Write the start-up hook into this environment's site-packages (OSError where it cannot)."""
    path = pth_path()
    if not path.exists() or path.read_text() != PTH_LINE:
        path.write_text(PTH_LINE)
    return path


def uninstall() -> bool:
    """Remove the start-up hook; False when there was none."""
    path = pth_path()
    if not path.exists():
        return False
    os.remove(path)
    return True


def is_installed() -> bool:
    path = pth_path()
    return path.exists() and path.read_text() == PTH_LINE
