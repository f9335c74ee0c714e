"""Each failure of docs/fhi-aims.md injected into real FHI-aims outputs (from ASE's wheel)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from aims_testkit import TESTDATA, cut_after, make_run, positions_close, real_output
from custodian.custodian import Custodian, Job, MaxCorrectionsPerHandlerError, NonRecoverableError

from perovflow.engines.aims.guard import check_numerical_only, control_value
from perovflow.engines.aims.handlers import (
    CloseEncounterHandler,
    CpuConsistencyHandler,
    FrozenRunHandler,
    IllConditionedOverlapHandler,
    ScfConvergenceHandler,
    TrustedDescentHandler,
    WallTimeHandler,
)
from perovflow.engines.aims.inputs import read_geometry
from perovflow.engines.aims.job import AimsJob
from perovflow.engines.aims.outputs import read_aims_output

SP_CUT = ("singlepoint.out", "SCF    5", 1)
# cut while predicting relaxation step 2: the last complete geometry is that of step 1
RELAX_CUT = ("relax.out", "Relaxation step number", 2)


@dataclass
class Failure:
    handler: type
    kind: str
    cut: tuple[str, str, int]
    text: str  # appended to the cut output; only the marker text is known, see docs/fhi-aims.md
    expected: list[dict[str, str]] = field(default_factory=list)  # control.in after each correction
    stale: bool = False  # the output stopped growing long ago


FAILURES = {
    "scf": Failure(ScfConvergenceHandler, "sp", SP_CUT, "  *** scf_solver: SCF cycle not converged.\n", [
        {"sc_iter_limit": "2000"},
        {"mixer": "pulay", "charge_mix_param": "0.025", "n_max_pulay": "10"},
        {"occupation_type": "gaussian 0.02"},
        {"occupation_type": "gaussian 0.05"},
    ]),
    "trusted_descent": Failure(TrustedDescentHandler, "relax", RELAX_CUT,
                               "  *** trusted_descent: no acceptable step found.\n", [
                                   {"harmonic_length_scale": "0.0125"},
                                   {"harmonic_length_scale": "0.00625"},
                                   {"harmonic_length_scale": "0.003125"}]),
    "close_encounter": Failure(CloseEncounterHandler, "relax", RELAX_CUT,
                               "  *** check_for_close_encounters: atoms too close.\n", [{}, {}, {}]),
    "too_many_neighbors": Failure(CloseEncounterHandler, "relax", RELAX_CUT,
                                  "  *** get_neighbor_lists: Too many neighbors for atom 1.\n", [{}, {}, {}]),
    "ill_conditioned": Failure(IllConditionedOverlapHandler, "sp", SP_CUT,
                               "  Attention: Ill-conditioned overlap matrix detected.\n", [
                                   {"basis_threshold": "1e-6", "override_illconditioning": ".true."}]),
    "cpu_consistency": Failure(CpuConsistencyHandler, "sp", SP_CUT,
                               "  *** check_cpu_consistency_matrix: matrices differ between tasks.\n",
                               [{"check_cpu_consistency": ".false."}]),
    "frozen": Failure(FrozenRunHandler, "relax", RELAX_CUT, "", [{}, {}, {}], stale=True),
}


def failing_output(failure: Failure) -> str:
    name, marker, occurrence = failure.cut
    return cut_after(real_output(name), marker, occurrence) + failure.text


def write_failure(folder: Path, failure: Failure) -> None:
    path = folder / "aims.out"
    path.write_text(failing_output(failure))
    if failure.stale:
        old = time.time() - 3600
        os.utime(path, (old, old))


def make_handler(failure: Failure):
    return failure.handler(timeout=60) if failure.handler is FrozenRunHandler else failure.handler()


@pytest.mark.parametrize("name", FAILURES)
def test_detected_and_corrected_as_documented(name, tmp_path, species_dir):
    failure = FAILURES[name]
    folder = make_run(tmp_path / "run", species_dir, failure.kind)
    AimsJob(["true"]).setup(str(folder))
    original = (folder / "control.in.orig").read_text()
    handler = make_handler(failure)
    assert handler.max_num_corrections == len(failure.expected)
    last_complete = read_aims_output(TESTDATA / failure.cut[0]).steps[failure.cut[2] - 1].atoms
    for n, expected in enumerate(failure.expected, start=1):
        write_failure(folder, failure)
        assert handler.check(str(folder))
        record = handler.correct(str(folder))
        assert record["actions"], record
        assert record["actions"][0]["action"] == "restart"
        for key, value in expected.items():
            assert control_value(folder, key) == value, (n, key)
        check_numerical_only(original, (folder / "control.in").read_text())  # physics untouched
        # the failed output is kept and the run restarts from the last complete geometry
        assert (folder / f"aims.out.{n}").is_file() and not (folder / "aims.out").exists()
        geometry = read_geometry(folder / "geometry.in")
        if name in ("close_encounter", "too_many_neighbors"):
            push = record["actions"][-1]
            assert push["action"] == "push_apart" and push["new"] - push["old"] == pytest.approx(0.1, abs=1e-6)
            moved = np.linalg.norm(geometry.positions - last_complete.positions, axis=1)
            np.testing.assert_allclose(moved[push["atoms"]], [0.05, 0.05], atol=1e-6)
            assert np.abs(geometry.cell.array - last_complete.cell.array).max() < 1e-6
        else:
            assert positions_close(geometry, last_complete)


@pytest.mark.parametrize("name", FAILURES)
def test_not_fired_by_a_clean_run_or_another_error(name, tmp_path, species_dir):
    failure = FAILURES[name]
    folder = make_run(tmp_path / "run", species_dir, failure.kind)
    handler = make_handler(failure)
    (folder / "aims.out").write_text(real_output(failure.cut[0]))
    assert not handler.check(str(folder))
    other = "scf" if name != "scf" else "cpu_consistency"
    write_failure(folder, FAILURES[other])
    assert not handler.check(str(folder))


class ReplayJob(Job):
    """Stands in for FHI-aims: every attempt prints the same failing output."""

    def __init__(self, text: str, stale: bool = False):
        self.text = text
        self.stale = stale

    def setup(self, directory="./"):
        AimsJob(["true"]).setup(directory)

    def run(self, directory="./"):
        (Path(directory) / "aims.out").write_text(self.text)
        if self.stale:
            os.utime(Path(directory) / "aims.out", (time.time() - 3600,) * 2)

    def postprocess(self, directory="./"):
        pass


@pytest.mark.parametrize("name", FAILURES)
def test_gives_up_after_its_limit(name, tmp_path, species_dir):
    failure = FAILURES[name]
    folder = make_run(tmp_path / "run", species_dir, failure.kind)
    handler = make_handler(failure)
    runner = Custodian([handler], [ReplayJob(failing_output(failure), failure.stale)], max_errors=50,
                       polling_time_step=0.01, directory=str(folder))
    with pytest.raises(MaxCorrectionsPerHandlerError):
        runner.run()
    assert len(runner.run_log[-1]["corrections"]) == handler.max_num_corrections


def test_scf_ladder_ends_with_nothing_left(tmp_path, species_dir):
    folder = make_run(tmp_path / "run", species_dir, "sp")
    handler = ScfConvergenceHandler(max_num_corrections=10)
    runner = Custodian([handler], [ReplayJob(failing_output(FAILURES["scf"]))], max_errors=50,
                       polling_time_step=0.01, directory=str(folder))
    with pytest.raises(NonRecoverableError):
        runner.run()
    last = runner.run_log[-1]["corrections"][-1]
    assert last["actions"] is None and "0.05 eV smearing" in last["reason"]
    assert len(runner.run_log[-1]["corrections"]) == 5


def test_close_encounter_in_a_single_point_gives_up(tmp_path, species_dir):
    folder = make_run(tmp_path / "run", species_dir, "sp")
    (folder / "aims.out").write_text(cut_after(real_output("singlepoint.out"), "SCF    2")
                                     + "  *** check_for_close_encounters: atoms too close.\n")
    handler = CloseEncounterHandler()
    assert handler.check(str(folder))
    record = handler.correct(str(folder))
    assert record["actions"] is None and "another structure" in record["reason"]
    assert (folder / "aims.out").is_file()  # left in place for diagnosis


@pytest.mark.parametrize(("kind", "stop_file"), [("relax", "abort_opt"), ("sp", "abort_scf")])
def test_wall_time_writes_the_stop_file_once(kind, stop_file, tmp_path, species_dir):
    folder = make_run(tmp_path / "run", species_dir, kind)
    assert not WallTimeHandler().check(str(folder))  # no wall time configured
    early = WallTimeHandler(wall_time=100, buffer_time=10, start_time=time.time() - 50)
    assert not early.check(str(folder))
    late = WallTimeHandler(wall_time=100, buffer_time=10, start_time=time.time() - 95)
    assert late.check(str(folder))
    record = late.correct(str(folder))
    assert (folder / stop_file).is_file() and record["stop_file"] == stop_file
    assert record["actions"] is None and not late.raises_runtime_error and not late.is_terminating
    assert not late.check(str(folder))  # asked once; FHI-aims stops by itself


def test_wall_time_from_the_allocation_end(tmp_path, species_dir, monkeypatch):
    folder = make_run(tmp_path / "run", species_dir, "sp")
    monkeypatch.setenv("SLURM_JOB_END_TIME", str(int(time.time()) + 1000))
    assert not WallTimeHandler(buffer_time=300).check(str(folder))
    assert WallTimeHandler(buffer_time=1200).check(str(folder))
    # the earlier of the two limits counts
    assert WallTimeHandler(wall_time=10, buffer_time=20).check(str(folder))


def test_wall_time_from_the_end_a_pbs_job_script_exports(tmp_path, species_dir, monkeypatch):
    folder = make_run(tmp_path / "run", species_dir, "sp")
    monkeypatch.setenv("PEROVFLOW_JOB_END_TIME", str(int(time.time()) + 1000))
    assert not WallTimeHandler(buffer_time=300).check(str(folder))
    assert WallTimeHandler(buffer_time=1200).check(str(folder))
    monkeypatch.setenv("SLURM_JOB_END_TIME", str(int(time.time()) + 100))  # the earlier end counts
    assert WallTimeHandler(buffer_time=300).check(str(folder))


def test_next_attempt_after_a_wall_time_stop_restarts_from_the_last_geometry(tmp_path, species_dir):
    folder = make_run(tmp_path / "run", species_dir, "relax")
    job = AimsJob(["true"])
    job.setup(str(folder))
    (folder / "aims.out").write_text(failing_output(FAILURES["frozen"]))
    (folder / "abort_opt").write_text("")
    action = AimsJob(["true"]).setup(str(folder))  # a rerun of the Firework
    assert not (folder / "abort_opt").exists() and (folder / "aims.out.1").is_file()
    step1 = read_aims_output(TESTDATA / "relax.out").steps[1].atoms
    assert positions_close(read_geometry(folder / "geometry.in"), step1)
    # two geometries used of the 50-step budget: one step done
    assert action["max_relaxation_steps"] == 49 and control_value(folder, "max_relaxation_steps") == "49"


def test_frozen_handler_watches_growth_and_the_process(tmp_path, species_dir):
    folder = make_run(tmp_path / "run", species_dir, "sp")
    handler = FrozenRunHandler(timeout=60)
    (folder / "aims.out").write_text(cut_after(real_output("singlepoint.out"), "SCF    2"))
    assert not handler.check(str(folder))  # fresh output, no pid known
    (folder / "aims.pid").write_text(f"{os.getpid()}\n")
    assert not handler.check(str(folder))  # the process is alive
    dead = _finished_pid()
    (folder / "aims.pid").write_text(f"{dead}\n")
    assert handler.check(str(folder))  # gone without finishing: killed
    (folder / "aims.out").write_text(real_output("singlepoint.out"))
    assert not handler.check(str(folder))  # finished normally


def _finished_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_handlers_serialise_for_the_custodian_log():
    for handler in (ScfConvergenceHandler(), CloseEncounterHandler(push=0.2), WallTimeHandler(wall_time=5),
                    FrozenRunHandler(timeout=3)):
        restored = type(handler).from_dict(handler.as_dict())
        assert restored.max_num_corrections == handler.max_num_corrections
    assert np.isclose(CloseEncounterHandler(push=0.2).as_dict()["push"], 0.2)
