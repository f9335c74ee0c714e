"""Provenance of a calculation: code versions and host (once per process), run folder and
``fw_id`` (per call), and the engine program's version where its output printed one.

Versions come from installed package metadata (:mod:`importlib.metadata`), so nothing heavy
is imported; a package that is not installed is left out.
"""
from __future__ import annotations

import functools
import os
import platform
import re
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("perovflow", "ase", "dscribe", "numpy", "scipy", "fireworks", "pymongo", "custodian", "pymatgen",
            "chgnet", "torch", "tblite")

_AIMS_VERSION = (re.compile(r"FHI-aims version\s*:\s*(\S+)"), re.compile(r"^\s*Version\s+(\d\S*)\s*$", re.M))
_CP2K_VERSION = (re.compile(r"CP2K\|\s*version string:\s*(.+?)\s*$", re.M),)


@functools.lru_cache(maxsize=1)
def process_provenance() -> dict[str, Any]:
    """Versions of python and the installed packages perovflow uses, and the host (cached)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"versions": versions, "host": socket.gethostname()}


def provenance(fw_id: int | None = None, program_version: str | None = None) -> dict[str, Any]:
    """The ``provenance`` of one calculation document: the process's versions and host, the
    run folder (the working directory of this launch, a FireWorks ``launcher_*`` folder on a
    worker), the Firework's ``fw_id`` and, when known, the engine program's version."""
    out = {**process_provenance(), "run_folder": os.getcwd(), "pid": os.getpid(), "fw_id": fw_id}
    out["versions"] = dict(out["versions"])
    if program_version:
        out["program_version"] = program_version
    return out


def _first_match(path: Path, patterns: tuple[re.Pattern, ...], head: int) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            text = handle.read(head)
    except OSError:
        return None
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found.group(1).strip()
    return None


def aims_version(output: str | os.PathLike) -> str | None:
    """The FHI-aims version its standard output printed (``FHI-aims version : 240507``)."""
    return _first_match(Path(output), _AIMS_VERSION, 200_000)


def cp2k_version(output: str | os.PathLike) -> str | None:
    """The CP2K version its output printed (``CP2K| version string: CP2K version 2023.1``)."""
    return _first_match(Path(output), _CP2K_VERSION, 200_000)
