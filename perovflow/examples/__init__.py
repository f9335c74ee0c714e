"""Campaign files and cluster templates shipped with perovflow (``perovflow init --example``);
in a source checkout they are the repository's ``workflows/`` and ``launchers/``."""
from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def examples() -> list[str]:
    return sorted(path.stem for path in (HERE / "workflows").glob("*.yaml"))


def example_files(name: str | None, folder: Path) -> list[Path]:
    """Where :func:`write_example` puts its files."""
    if not name:
        return []
    return [folder / f"{name}.yaml"] + [folder / "launchers" / p.name for p in sorted((HERE / "launchers").glob("*.yaml"))]


def write_example(name: str, folder: Path, force: bool = False) -> list[Path]:
    """Copy campaign ``name`` and the launcher templates into ``folder``."""
    written = []
    sources = [HERE / "workflows" / f"{name}.yaml"] + sorted((HERE / "launchers").glob("*.yaml"))
    for source, target in zip(sources, example_files(name, folder)):
        if target.exists() and not force:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written
