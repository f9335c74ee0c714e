"""CHGNet as a stand-in oracle (not DFT): its pretrained weights ship inside the wheel.

Every label carries ``engine="chgnet"`` and ``is_dft=False`` so that stand-in labels can
never be mistaken for DFT. The model is loaded once per process (``rlaunch rapidfire``
runs all its Fireworks in one process) because loading takes ~1.5 s.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from ase import Atoms

from perovflow.engines.ase_driver import calculator_label, calculator_relaxation
from perovflow.engines.base import Label, Relaxation, settings_hash
from perovflow.extras import require


@lru_cache(maxsize=2)
def _calculator(model_version: str):
    require("chgnet")  # a clear message naming perovflow[chgnet] where it is not installed
    import torch  # noqa: F401  (the start-up hook limits torch to one thread)
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(model_name=model_version, verbose=False, use_device="cpu")
    return CHGNetCalculator(model=model, use_device="cpu")


class CHGNetEngine:
    name = "chgnet"
    is_dft = False

    def __init__(self, model_version: str = "0.3.0"):
        self.model_version = model_version

    @property
    def settings(self) -> dict[str, Any]:
        return {"model_version": self.model_version}

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def single_point(self, atoms: Atoms) -> Label:
        return calculator_label(atoms, _calculator(self.model_version), self.name, self.is_dft)

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation:
        return calculator_relaxation(atoms, _calculator(self.model_version), self.name, fmax, max_steps, cell=cell)
