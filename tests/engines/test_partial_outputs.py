"""Real FHI-aims and CP2K outputs cut anywhere (a killed run, a file read while the program
writes it): the parsers never raise and say "not finished", and the handlers that read the
live output treat it as a run still going, not as an error."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from perovflow.engines.aims.handlers import default_handlers
from perovflow.engines.aims.outputs import parse_aims_output
from perovflow.engines.aims.restart import prepare_restart, trajectory

sys.path.insert(0, str(Path(__file__).parent / "aims"))
sys.path.insert(0, str(Path(__file__).parent / "cp2k"))
from aims_testkit import TESTDATA, make_run, make_species_dir, real_output  # noqa: E402
from cp2k_testkit import DATA, recorded_output  # noqa: E402

from perovflow.engines.cp2k.handlers import OutputValidator, ScfConvergenceHandler  # noqa: E402
from perovflow.engines.cp2k.outputs import read_output  # noqa: E402

AIMS_OUTPUTS = ("singlepoint.out", "relax.out", "numerical_stress.out", "md.out")
CP2K_OUTPUTS = ("converged", "scf_not_converged", "abort_basis")


def cuts(text: str, n: int = 120) -> list[int]:
    """~``n`` places spread over the text, plus every line boundary near them and the
    character after it (a cut just inside the next line)."""
    places = {len(text) * k // n for k in range(1, n)}
    ends = [i + 1 for i, c in enumerate(text) if c == "\n"]
    for p in list(places):
        boundary = next((e for e in ends if e >= p), len(text))
        places.update({boundary, min(boundary + 1, len(text) - 1), max(boundary - 1, 1)})
    return sorted(p for p in places if 0 < p < len(text))


@pytest.mark.parametrize("name", [n for n in AIMS_OUTPUTS if (TESTDATA / n).is_file()])
def test_aims_parser_accepts_every_cut(name):
    text = real_output(name)
    whole = parse_aims_output(text)
    places = cuts(text)
    assert len(places) > 100
    for place in places:
        out = parse_aims_output(text[:place])
        assert out.completed == ("Have a nice day.\n" in text[:place]), place  # only once it was printed
        assert len(out.complete_steps) <= len(whole.complete_steps), place
        if name != "md.out":  # MD steps are not steps to this parser: energies follow the run
            for step, full in zip(out.complete_steps, whole.complete_steps):
                assert step.energy == full.energy, place  # never a number cut short


@pytest.mark.parametrize("name", ["singlepoint.out", "relax.out"])
def test_aims_handlers_and_restart_on_cut_outputs(name, tmp_path):
    species = make_species_dir(tmp_path)
    text = real_output(name)
    kind = "sp" if name == "singlepoint.out" else "relax"
    for k, place in enumerate(cuts(text, 100)[::3]):
        folder = make_run(tmp_path / f"run{k}", species, kind)
        (folder / "aims.out").write_text(text[:place])
        (folder / "aims.pid").write_text(f"{os.getpid()}\n")  # the run is alive
        for handler in default_handlers():
            assert handler.check(str(folder)) is False, (type(handler).__name__, place)
        # a folder left by a killed worker: the next attempt restarts from it
        (folder / "aims.pid").unlink()
        prepare_restart(folder)
        trajectory(folder)


@pytest.mark.parametrize("name", CP2K_OUTPUTS)
def test_cp2k_parser_and_handlers_accept_every_cut(name, tmp_path):
    assert (DATA / f"{name}.out.gz").is_file()
    path = recorded_output(name, tmp_path)
    text = path.read_text()
    whole = read_output(path)
    places = cuts(text)
    assert len(places) > 100
    for place in places:
        path.write_text(text[:place])
        out = read_output(path)
        assert not out.finished, place
        if out.energy is not None:
            assert out.energy == whole.energy or name == "scf_not_converged", place
        ScfConvergenceHandler().check(str(tmp_path))
        assert OutputValidator().check(str(tmp_path)) is True  # not a valid finished run


def test_a_half_written_pid_file_is_not_an_error(tmp_path):
    folder = make_run(tmp_path / "run", make_species_dir(tmp_path), "relax")
    text = real_output("relax.out")
    (folder / "aims.out").write_text(text[: len(text) // 2])
    (folder / "aims.pid").write_text("")  # the worker died between open and write
    assert all(handler.check(str(folder)) is False for handler in default_handlers())


def test_a_folder_left_by_a_killed_worker_does_not_fail_the_retry(tmp_path, monkeypatch):
    from cp2k_testkit import cspbbr3

    from perovflow.engines.aims import AimsEngine, AimsSettings
    from tests.aims_standin import runs, species_folder, standin_aims

    command, log = standin_aims(tmp_path, monkeypatch)
    engine = AimsEngine(AimsSettings(), command=command, species_dir=species_folder(tmp_path, ["Cs", "Pb", "Br"]),
                        workdir=tmp_path / "runs", polling_time_step=0.05)
    first = engine.single_point(cspbbr3())
    folder = engine.run_folder(cspbbr3(), "sp")
    (folder / "perovflow_corrections.json").write_text('[{"handler": "Scf')  # killed mid-write
    text = (folder / "aims.out").read_text()
    (folder / "aims.out").write_text(text[: len(text) * 2 // 3])  # killed mid-run
    again = engine.single_point(cspbbr3())
    assert again.energy == pytest.approx(first.energy) and runs(log) == 2
