"""CP2K inputs, outputs, handler, job and settings without running CP2K (recorded outputs)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from ase import units
from cp2k_testkit import cspbbr3, fake_data_dir, recorded_output
from pymatgen.io.cp2k.inputs import Cp2kInput

from perovflow.engines.base import EngineError
from perovflow.engines.cp2k import Cp2kEngine, Cp2kSettings
from perovflow.engines.cp2k.engine import corrections_of, failure_reason
from perovflow.engines.cp2k.handlers import OutputValidator, ScfConvergenceHandler
from perovflow.engines.cp2k.inputs import INPUT, STRUCTURE, render_input, write_inputs
from perovflow.engines.cp2k.job import PidCp2kJob
from perovflow.engines.cp2k.outputs import read_output

# --- outputs ---------------------------------------------------------------------------

def test_converged_output_in_ase_units(tmp_path):
    out = read_output(recorded_output("converged", tmp_path))
    assert out.finished and out.scf_converged and out.abort_message is None
    assert out.energy == pytest.approx(-64.245004624669804 * units.Hartree)
    assert out.forces.shape == (5, 3)
    assert out.forces[0, 0] == pytest.approx(0.00012457 * units.Hartree / units.Bohr)
    # CP2K printed -0.5016 GPa for xx (its sign: positive = compressed); ASE's sign is opposite.
    assert out.stress.shape == (6,)
    assert out.stress[0] == pytest.approx(0.501588327781 * units.GPa)


def test_unconverged_output_is_flagged(tmp_path):
    out = read_output(recorded_output("scf_not_converged", tmp_path))
    assert out.scf_failures == 1 and not out.scf_converged
    assert out.energy is not None  # CP2K goes on and prints numbers of the unconverged density


def test_abort_message_is_read_without_the_drawing(tmp_path):
    out = read_output(recorded_output("abort_basis", tmp_path))
    assert not out.finished and out.energy is None
    assert out.abort_message.startswith("The requested basis set <FOO-BAR> for element <Cs> was not found")


def test_output_cut_inside_the_forces_gives_no_forces(tmp_path):
    path = recorded_output("converged", tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index("SUM OF ATOMIC FORCES")])
    out = read_output(path)
    assert out.forces is None and not out.finished
    assert OutputValidator().check(str(tmp_path))  # True means invalid


# --- inputs ----------------------------------------------------------------------------

def test_input_survives_custodians_rewrite(tmp_path):
    """custodian edits cp2k.inp through pymatgen: nothing of ours may be lost or reordered."""
    data = fake_data_dir(tmp_path / "data")
    atoms = cspbbr3()
    write_inputs(atoms, Cp2kSettings(), tmp_path, data)
    text = (tmp_path / INPUT).read_text()
    rewritten = Cp2kInput.from_str(text).get_str()
    squash = lambda s: sorted(" ".join(line.split()) for line in s.splitlines() if line.strip())  # noqa: E731
    def numbers(s):
        return [" ".join(f"{float(t):g}" if t[0].isdigit() or t[0] == "-" else t for t in line.split())
                for line in squash(s)]
    assert numbers(rewritten) == numbers(text)
    assert "&PBE" in rewritten and "COORD_FILE_NAME structure.xyz" in rewritten
    xyz = (tmp_path / STRUCTURE).read_text().splitlines()
    assert [line.split()[0] for line in xyz[2:]] == atoms.get_chemical_symbols()
    assert np.allclose([[float(t) for t in line.split()[1:]] for line in xyz[2:]], atoms.positions)


def test_missing_basis_is_reported_before_running(tmp_path):
    data = fake_data_dir(tmp_path / "data", elements=("Cs", "Br"))
    with pytest.raises(EngineError, match="no SZV-MOLOPT-SR-GTH for Pb"):
        write_inputs(cspbbr3(), Cp2kSettings(), tmp_path / "run", data)


def test_non_periodic_structure_is_refused(tmp_path):
    atoms = cspbbr3()
    atoms.pbc = False
    with pytest.raises(EngineError, match="periodic"):
        write_inputs(atoms, Cp2kSettings(), tmp_path, fake_data_dir(tmp_path / "data"))


# --- handler ---------------------------------------------------------------------------

def test_handler_ladder_then_gives_up(tmp_path):
    data = fake_data_dir(tmp_path / "data")
    (tmp_path / INPUT).write_text(render_input(cspbbr3(), Cp2kSettings(max_scf=50), data))
    handler = ScfConvergenceHandler()
    steps = []
    for _ in range(9):
        recorded_output("scf_not_converged", tmp_path)
        assert handler.check(str(tmp_path))
        correction = handler.correct(str(tmp_path))
        if correction["actions"] is None:
            break
        steps.append(correction["step"])
        scf = Cp2kInput.from_file(str(tmp_path / INPUT))["FORCE_EVAL"]["DFT"]["SCF"]
        if correction["step"] == "raise_max_scf":
            assert scf["MAX_SCF"].values[0] in (100, 200, 400)
    assert steps == ["raise_max_scf"] * 3 + ["smaller_mixing"] * 2 + ["switch_to_ot", "ot_cg_minimizer"]
    final = Cp2kInput.from_file(str(tmp_path / INPUT))
    assert final.check("FORCE_EVAL/DFT/SCF/OT") and not final.check("FORCE_EVAL/DFT/SCF/DIAGONALIZATION")
    assert str(final["FORCE_EVAL"]["DFT"]["SCF"]["OT"]["MINIMIZER"].values[0]).upper() == "CG"
    assert "no SCF aid left" in " ".join(correction["errors"])
    assert len(list(tmp_path.glob("error.*.tar.gz"))) == len(steps)  # each failed run kept


def test_handler_ignores_a_converged_run(tmp_path):
    recorded_output("converged", tmp_path)
    assert not ScfConvergenceHandler().check(str(tmp_path))


def test_failure_reason_names_the_unconverged_scf(tmp_path):
    recorded_output("scf_not_converged", tmp_path)
    assert "SCF run NOT converged" in failure_reason(None, tmp_path)
    log = [{"corrections": [{"errors": ["x"], "actions": [], "handler": ScfConvergenceHandler()}]}]
    assert corrections_of(log) == [{"errors": ["x"], "actions": [], "handler": "ScfConvergenceHandler"}]


# --- job -------------------------------------------------------------------------------

def test_terminate_stops_only_its_own_process(tmp_path):
    """Two processes with the same command line: terminating the job leaves the other alive."""
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    neighbour = subprocess.Popen(command)
    try:
        job = PidCp2kJob(command, term_timeout=5)
        process = job.run(str(tmp_path))
        time.sleep(0.2)
        job.terminate(str(tmp_path))
        assert process.poll() is not None
        assert neighbour.poll() is None
    finally:
        neighbour.kill()
        neighbour.wait()


def test_job_sets_omp_threads(tmp_path):
    command = [sys.executable, "-c", "import os; print(os.environ['OMP_NUM_THREADS'])"]
    job = PidCp2kJob(command, omp_threads=3)
    job.run(str(tmp_path)).wait()
    assert (tmp_path / "cp2k.out").read_text().strip() == "3"


# --- settings and engine ---------------------------------------------------------------

def test_settings_hash_ignores_scf_aids_only():
    base = Cp2kEngine()
    assert Cp2kEngine(max_scf=300, mixing_alpha=0.1, scf_solver="ot").settings_hash == base.settings_hash
    assert Cp2kEngine(cutoff_ry=400).settings_hash != base.settings_hash
    assert Cp2kEngine(basis_set="DZVP-MOLOPT-SR-GTH").settings_hash != base.settings_hash
    assert base.name == "cp2k" and base.is_dft


@pytest.mark.parametrize("bad", [{"cutoff": 250}, {"scf_solver": "magic"}, {"functional": "B3LYP"},
                                 {"max_scf": 0}])
def test_bad_settings_say_what_is_allowed(bad):
    with pytest.raises(ValueError):
        Cp2kEngine(**bad)


def test_missing_binary_is_an_engine_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CP2K_DATA_DIR", str(fake_data_dir(tmp_path / "data")))
    engine = Cp2kEngine(command=str(tmp_path / "no-such-cp2k.psmp"), workdir=tmp_path / "runs")
    with pytest.raises(EngineError, match="cannot run CP2K command"):
        engine.single_point(cspbbr3())
