"""Reproductions of the figures of Homm, Laakso, Rinke 2025 on a stand-in oracle.

``perovflow reproduce NAME`` runs one; :data:`FIGURES` is the registry (name -> module with
``run(quick, oracle, seeds, out, cache) -> record``). Each run writes NAME.png, NAME.json
(every number) and NAME.md (quantity | paper | ours | verdict). Science code only: no
FireWorks or database imports.
"""
from __future__ import annotations

import importlib
from pathlib import Path

FIGURES = {
    "fig2": "perovflow.reproduce.fig2",
    "fig6": "perovflow.reproduce.fig6",
    "fig4": "perovflow.reproduce.fig4",
    "fig5": "perovflow.reproduce.fig5",
    "fig7": "perovflow.reproduce.fig7",
    "ccd": "perovflow.reproduce.ccd",
}


def check_name(name: str) -> str:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(FIGURES)}")
    return name


def reproduce(name: str, out: Path, quick: bool = False, oracle: str = "chgnet", seeds: int | None = None,
              cache: Path | None = None) -> dict:
    """Runs figure ``name`` and writes its PNG, JSON and Markdown into ``out``; returns the record."""
    from perovflow.reproduce import report
    from perovflow.reproduce.data import ORACLES

    check_name(name)
    if oracle not in ORACLES:
        raise ValueError(f"unknown oracle {oracle!r}; allowed: {', '.join(ORACLES)}")
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(FIGURES[name])
    record = module.run(quick, oracle, seeds, out, Path(cache) if cache else out / "cache")
    report.write(record, out, name)
    return record
