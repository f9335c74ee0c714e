"""Oracle energies per atom with an on-disk cache (JSON keyed by the project's structure
identity, :func:`perovflow.structures.identity.structure_id`), so a re-run relabels nothing
it has already labelled."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from perovflow.structures.identity import structure_id


class CachedOracle:
    """``energy(structures)`` in eV/atom from an engine, cached in ``path``."""

    def __init__(self, engine, path: Path | None = None, progress: Callable[[str], None] | None = None):
        self.engine = engine
        self.path = Path(path) if path else None
        self.progress = progress or (lambda msg: None)
        self.cache: dict[str, float] = {}
        self.calls = 0
        self.seconds = 0.0
        if self.path and self.path.exists():
            data = json.loads(self.path.read_text())
            if data.get("engine") == engine.name and data.get("settings_hash") == engine.settings_hash:
                self.cache = {k: float(v) for k, v in data["energy_per_atom"].items()}

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"engine": self.engine.name, "settings_hash": self.engine.settings_hash,
                                       "is_dft": self.engine.is_dft, "energy_per_atom": self.cache}))
            tmp.replace(self.path)

    def __call__(self, structures: Sequence[Atoms]) -> np.ndarray:
        keys = [structure_id(a) for a in structures]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        start = time.perf_counter()
        for n, i in enumerate(todo, start=1):
            label = self.engine.single_point(structures[i])
            self.cache[keys[i]] = float(label.energy) / len(structures[i])
            self.calls += 1
            if len(todo) >= 20 and (n % 100 == 0 or n == len(todo)):
                rate = n / max(time.perf_counter() - start, 1e-9)
                self.progress(f"  labelled {n}/{len(todo)} with {self.engine.name} ({rate:.1f}/s)")
                self.save()
        self.seconds += time.perf_counter() - start
        return np.array([self.cache[k] for k in keys])
