"""Reading a YAML input file with errors that name the file (campaigns of both model families)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def read_yaml(path: str | Path, error: type[Exception]) -> Any:
    """The parsed content of ``path``; ``error`` (the caller's exception class) when the file
    is missing or not valid YAML."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such campaign file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
