"""Optional parts of perovflow and the pip extra that installs each, so that a cluster that
labels with FHI-aims needs no torch: ``pip install 'perovflow[chgnet]'`` and so on."""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# module -> (extra, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "chgnet": ("chgnet", "the CHGNet stand-in oracle (labelling.engine: chgnet)"),
    "torch": ("ccd", "the CsPbBr3 CCD neural networks (perovflow ccd)"),
    "tblite": ("tblite", "the GFN1-xTB stand-in oracle (labelling.engine: tblite)"),
}
# which module each labelling engine needs beyond the core
ENGINE_MODULES = {"chgnet": "chgnet", "tblite": "tblite"}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str):
        extra, purpose = EXTRAS[module]
        super().__init__(f"{purpose} needs the Python package {module!r}, which is not installed here: "
                         f"pip install 'perovflow[{extra}]'")
        self.extra = extra


def require(module: str) -> Any:
    """``import module``, or :class:`MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: that error says more
        raise MissingExtra(module) from None


def check_engine(engine: str) -> None:
    """Before a campaign is submitted: its labelling engine's extra is installed."""
    module = ENGINE_MODULES.get(engine)
    if module is not None and importlib.util.find_spec(module) is None:
        raise MissingExtra(module)
