"""GFN1-xTB from tblite as a stand-in oracle (not DFT): a real, cheap in-process SCF.

Labels carry ``engine="tblite"`` (the name a campaign file selects it by) and
``is_dft=False``; the method (GFN1-xTB by default) is one of the settings, so it is in
the settings hash and in each label's settings. Because tblite really
iterates an SCF and raises when it does not converge, it exercises the failure paths
of the workflow (an ``EngineError`` with the library's own message) without a DFT code.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ase import Atoms
from ase.calculators.calculator import CalculatorError

from perovflow.engines.ase_driver import calculator_label, calculator_relaxation
from perovflow.engines.base import EngineError, Label, Relaxation, settings_hash
from perovflow.extras import require

METHODS = ("GFN1-xTB", "GFN2-xTB", "IPEA1-xTB")


class TBLiteEngine:
    name = "tblite"
    is_dft = False

    def __init__(self, method: str = "GFN1-xTB", accuracy: float = 1.0,
                 electronic_temperature: float = 300.0, max_iterations: int = 250, threads: int = 1):
        if method not in METHODS:
            raise ValueError(f"tblite.method: {method!r}; allowed: {', '.join(METHODS)}")
        if accuracy <= 0:
            raise ValueError(f"tblite.accuracy must be positive, got {accuracy}")
        if electronic_temperature < 0:
            raise ValueError(f"tblite.electronic_temperature must be >= 0 K, got {electronic_temperature}")
        if max_iterations < 1:
            raise ValueError(f"tblite.max_iterations must be at least 1, got {max_iterations}")
        if threads < 1:
            raise ValueError(f"tblite.threads must be at least 1, got {threads}")
        self.method = method
        self.accuracy = accuracy
        self.electronic_temperature = electronic_temperature
        # not physics, so not in ``settings``: the SCF cycle limit (a converged SCF gives the
        # same label whatever the limit, and raising it must retry a failed label in the same
        # slot) and the OpenMP threads of tblite's library
        self.max_iterations = max_iterations
        self.threads = threads

    @property
    def settings(self) -> dict[str, Any]:
        return {"method": self.method, "accuracy": self.accuracy,
                "electronic_temperature": self.electronic_temperature}

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.name, self.settings)

    def _calculator(self):
        require("tblite")
        from tblite.ase import TBLite

        return TBLite(method=self.method, accuracy=self.accuracy,
                      electronic_temperature=self.electronic_temperature,
                      max_iterations=self.max_iterations, verbosity=0)

    def _thread_limit(self):
        # With two busy cores, tblite's default of one OpenMP thread per core ran up to
        # ten times slower than one thread; the limit holds only while tblite computes.
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.threads, user_api="openmp")

    def single_point(self, atoms: Atoms) -> Label:
        with self._thread_limit():
            return calculator_label(atoms, self._calculator(), self.name, self.is_dft, guard=_as_engine_error())

    def relax(self, atoms: Atoms, fmax: float, max_steps: int, cell: str = "fixed") -> Relaxation:
        def guard(labels: list[Label]):
            return _as_engine_error(prefix=lambda: f"relaxation step {len(labels)}: ")

        with self._thread_limit():
            return calculator_relaxation(atoms, self._calculator(), self.name, fmax, max_steps, guard=guard, cell=cell)


@contextmanager
def _as_engine_error(prefix: Callable[[], str] = lambda: "") -> Iterator[None]:
    """Turns tblite's failures (SCF not converged, bad input) into EngineError with its message."""
    try:
        yield
    except CalculatorError as error:
        # ASE's tblite calculator wraps the library's RuntimeError as CalculationFailed and
        # bad input as InputError; both are CalculatorErrors.
        raise EngineError(f"{prefix()}tblite: {error}") from error
    except Exception as error:
        if type(error).__module__.startswith("tblite"):
            raise EngineError(f"{prefix()}tblite: {error}") from error
        raise
