"""Labelling engines behind one interface (:mod:`perovflow.engines.base`)."""
from __future__ import annotations

from perovflow.engines.base import Engine, EngineError, Label, Relaxation, settings_hash

ENGINES = ("chgnet",)


def make_engine(name: str, **settings) -> Engine:
    """An engine by name; stand-in oracles (not DFT) say so in every label they make."""
    if name == "chgnet":
        from perovflow.engines.chgnet import CHGNetEngine

        return CHGNetEngine(**settings)
    raise ValueError(f"labelling.engine: unknown engine {name!r}; allowed: {', '.join(ENGINES)}")


__all__ = ["Engine", "EngineError", "Label", "Relaxation", "settings_hash", "make_engine", "ENGINES"]
