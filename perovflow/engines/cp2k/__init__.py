"""CP2K as a DFT engine: inputs, outputs, a custodian job that stops only its own run,
an SCF handler, and the engine that ties them together."""
from __future__ import annotations

from perovflow.engines.cp2k.engine import Cp2kEngine
from perovflow.engines.cp2k.settings import Cp2kSettings, find_binary

__all__ = ["Cp2kEngine", "Cp2kSettings", "find_binary"]
