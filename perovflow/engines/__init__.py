"""Labelling engines behind one interface (:mod:`perovflow.engines.base`)."""
from __future__ import annotations

from perovflow.engines.base import Engine, EngineError, Label, Relaxation, settings_hash

ENGINES = ("chgnet", "tblite", "cp2k", "fhi-aims")
# what a campaign may label with: an engine, or the labels of `perovflow import`
LABEL_SOURCES = (*ENGINES, "imported")


def make_engine(name: str, **options) -> Engine:
    """An engine by name, built with its options (the campaign's ``labelling.options``).

    Stand-in oracles (chgnet, tblite) say ``is_dft=False`` in every label they make. Each
    engine's module loads only when it is asked for: torch, tblite, custodian and pymatgen
    are heavy, and a cluster that labels with FHI-aims needs none of the others.
    """
    if name == "chgnet":
        from perovflow.engines.chgnet import CHGNetEngine as engine_class
    elif name == "tblite":
        from perovflow.engines.tblite import TBLiteEngine as engine_class
    elif name == "cp2k":
        from perovflow.engines.cp2k import Cp2kEngine as engine_class
    elif name == "fhi-aims":
        from perovflow.engines.aims import AimsEngine as engine_class
    elif name == "imported":  # labels of `perovflow import`, not an engine that computes
        from perovflow.engines.imported import ImportedLabels as engine_class
    else:
        raise ValueError(f"labelling.engine: unknown engine {name!r}; allowed: {', '.join(LABEL_SOURCES)}")
    try:
        return engine_class(**options)
    except TypeError as exc:
        raise ValueError(f"labelling.options: {exc}") from None


def setup_problems(name: str, options: dict, elements) -> list[str]:
    """What is wrong with an engine's set-up on this machine for a campaign of ``elements``
    (files, programs), checked before a campaign is submitted; empty when nothing is known
    to be wrong. Only FHI-aims has such checks so far."""
    if name != "fhi-aims":
        return []
    return make_engine(name, **options).setup_problems(elements)


__all__ = ["Engine", "EngineError", "Label", "Relaxation", "settings_hash", "make_engine", "ENGINES", "LABEL_SOURCES", "setup_problems"]
