"""Process start-up hook: safe BLAS settings, one torch thread, and the FireWorks fixes.

The hook is installed as a ``.pth`` file in the environment's site-packages
(``perovflow hook install``; ``make`` does it), so that it runs in *every* Python
process of that environment, including the plain ``lpad`` and ``rlaunch`` commands
of FireWorks. It only sets environment defaults and registers an import hook; the
patches themselves (:mod:`perovflow.fireworks.fixes`) are applied when FireWorks
or torch are imported, so processes that use neither pay nothing.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "perovflow-hook.pth"
PTH_LINE = (
    "import importlib.util as _u; "
    "_u.find_spec('perovflow') and __import__('perovflow.fireworks.hook').fireworks.hook.activate()\n"
)

# module name -> function (in perovflow.fireworks.fixes) run right after it loads
_POST_IMPORT = {
    "fireworks.core.launchpad": "patch_launchpad",
    "fireworks.core.rocket": "patch_rocket",
    "torch": "limit_torch_threads",
}


def _run_fix(module_name: str) -> None:
    # imported on first use: the hook runs at every interpreter start and must stay cheap
    from perovflow.fireworks import fixes

    getattr(fixes, _POST_IMPORT[module_name])(sys.modules[module_name])


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, name: str):
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        _run_fix(self._name)

    def __getattr__(self, item):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._wrapped, item)


class _PatchingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _POST_IMPORT:
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
    """Set environment defaults and arrange for the fixes; safe to call many times."""
    # OpenBLAS' AVX-512 kernels segfault with two threads on large products here.
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
    os.environ.setdefault("PEROVFLOW_TORCH_THREADS", "1")
    if not any(isinstance(f, _PatchingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchingFinder())
    for name in _POST_IMPORT:  # already imported before perovflow: patch now
        if name in sys.modules:
            _run_fix(name)


def pth_path() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / PTH_NAME


def install() -> Path:
    """Write the start-up hook into this environment's site-packages."""
    path = pth_path()
    if not path.exists() or path.read_text() != PTH_LINE:
        path.write_text(PTH_LINE)
    return path


def is_installed() -> bool:
    path = pth_path()
    return path.exists() and path.read_text() == PTH_LINE
