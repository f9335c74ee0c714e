"""custodian handler and validator for CP2K single points.

CP2K does not stop when an SCF fails to converge: it prints ``SCF run NOT converged``,
goes on, and prints an energy and forces of the unconverged density with exit code 0.
:class:`ScfConvergenceHandler` catches that after the run and edits ``cp2k.inp`` one
step along a fixed ladder of SCF aids (more iterations, gentler mixing, then OT), so
each correction recorded by custodian says exactly what was changed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from custodian.cp2k.interpreter import Cp2kModder
from custodian.custodian import ErrorHandler, Validator
from custodian.utils import backup
from pymatgen.io.cp2k.inputs import Cp2kInput

from perovflow.engines.cp2k.inputs import INPUT, OUTPUT, STDERR, WAVEFUNCTION
from perovflow.engines.cp2k.outputs import SCF_FAILED, read_output

_SCF = ("FORCE_EVAL", "DFT", "SCF")


def _nest(path: tuple[str, ...], leaf: Any) -> dict:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


class ScfConvergenceHandler(ErrorHandler):
    """Reruns an unconverged SCF with stronger aids, one ladder step per correction.

    Ladder: raise ``MAX_SCF`` (to at least 100, doubling, up to ``max_scf_ceiling``);
    halve the Broyden mixing ``ALPHA`` down to ``min_alpha``; switch diagonalization to
    OT; switch OT's DIIS minimizer to CG. Every rerun starts from the last wavefunction.
    After ``max_corrections`` corrections custodian raises instead of correcting again.
    """

    is_monitor = False
    raise_on_max = True

    def __init__(self, max_corrections: int = 4, max_scf_ceiling: int = 400, min_alpha: float = 0.1):
        self.max_corrections = max_corrections
        self.max_num_corrections = max_corrections
        self.max_scf_ceiling = max_scf_ceiling
        self.min_alpha = min_alpha

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_corrections={self.max_corrections})"

    def check(self, directory: str = "./") -> bool:
        path = Path(directory) / OUTPUT
        return path.is_file() and SCF_FAILED in path.read_text(errors="replace")

    def correct(self, directory: str = "./") -> dict:
        folder = Path(directory)
        ci = Cp2kInput.from_file(str(folder / INPUT))
        step, changes = self._next_step(ci)
        errors = [f"{SCF_FAILED} ({read_output(folder / OUTPUT).scf_failures} unconverged SCF)"]
        if step is None:
            return {"errors": errors + ["no SCF aid left to try"], "actions": None}
        backup([OUTPUT, INPUT, STDERR], directory=str(folder))
        actions = [{"dict": INPUT, "action": change} for change in changes]
        if (folder / WAVEFUNCTION).is_file():
            actions.append({"dict": INPUT, "action": {"_set": _nest(_SCF, {"SCF_GUESS": "RESTART"})}})
        Cp2kModder(filename=INPUT, ci=ci, directory=str(folder)).apply_actions(actions)
        return {"errors": errors, "actions": actions, "step": step}

    def _next_step(self, ci: Cp2kInput) -> tuple[str | None, list[dict]]:
        scf = ci["FORCE_EVAL"]["DFT"]["SCF"]
        max_scf = int(scf.get("MAX_SCF").values[0]) if scf.get("MAX_SCF") else 50
        if max_scf < self.max_scf_ceiling:
            new = min(max(2 * max_scf, 100), self.max_scf_ceiling)
            return "raise_max_scf", [{"_set": _nest(_SCF, {"MAX_SCF": new})}]
        if ci.check("FORCE_EVAL/DFT/SCF/DIAGONALIZATION"):
            mixing = scf.get_section("MIXING") if ci.check("FORCE_EVAL/DFT/SCF/MIXING") else None
            alpha = float(mixing.get("ALPHA").values[0]) if mixing and mixing.get("ALPHA") else 0.4
            if alpha / 2 >= self.min_alpha - 1e-12:
                return "smaller_mixing", [{"_set": _nest(_SCF, {"MIXING": {"ALPHA": alpha / 2}})}]
            unset = [{"_unset": _nest(_SCF[:-1], {"SCF": name})} for name in ("DIAGONALIZATION", "MIXING")
                     if ci.check(f"FORCE_EVAL/DFT/SCF/{name}")]
            ot = {"OT": {"MINIMIZER": "DIIS", "PRECONDITIONER": "FULL_SINGLE_INVERSE"}}
            return "switch_to_ot", unset + [{"_set": _nest(_SCF, ot)}]
        if ci.check("FORCE_EVAL/DFT/SCF/OT"):
            ot = scf.get_section("OT")
            minimizer = str(ot.get("MINIMIZER").values[0]).upper() if ot.get("MINIMIZER") else "DIIS"
            if minimizer != "CG":
                return "ot_cg_minimizer", [{"_set": _nest(_SCF, {"OT": {"MINIMIZER": "CG"}})}]
        return None, []


class OutputValidator(Validator):
    """A run is valid only if CP2K ended normally and printed an energy and forces."""

    def check(self, directory: str = "./") -> bool:
        out = read_output(Path(directory) / OUTPUT)
        return not (out.finished and out.energy is not None and out.forces is not None)
