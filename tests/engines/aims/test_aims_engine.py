"""End to end: AimsEngine -> custodian -> AimsJob -> a fake FHI-aims that prints real output."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from aims_testkit import RELAX_SETTINGS, SP_SETTINGS, TESTDATA, ase_images, silicon, water

from perovflow.engines.aims.engine import AimsEngine
from perovflow.engines.aims.guard import control_value
from perovflow.engines.aims.handlers import FrozenRunHandler, ScfConvergenceHandler
from perovflow.engines.aims.inputs import read_geometry
from perovflow.engines.aims.job import AimsJob
from perovflow.engines.aims.outputs import read_aims_output
from perovflow.engines.base import Engine, EngineError
from perovflow.processes import process_alive

# A stand-in for aims.x: reads control.in/geometry.in and prints text of a real FHI-aims
# output (from ASE's wheel) to standard output, failing the way the test asks.
FAKE_AIMS = r'''
import json, os, sys, time
from pathlib import Path

cfg = json.loads(Path(os.environ["FAKE_AIMS_CONFIG"]).read_text())
with open(cfg["log"], "a") as log:
    log.write(f"{os.getpid()}\n")
n_run = len(Path(cfg["log"]).read_text().split()) - 1
control = Path("control.in").read_text()
lines = Path(cfg["template"]).read_text().splitlines(keepends=True)


def emit(chunk):
    sys.stdout.write("".join(chunk))
    sys.stdout.flush()


def index(marker, start=0, occurrence=1):
    for i in range(start, len(lines)):
        if marker in lines[i]:
            occurrence -= 1
            if occurrence == 0:
                return i
    raise SystemExit(f"fake aims: {marker!r} not in template")


if cfg["mode"] == "scf":
    if "sc_iter_limit" in control:
        emit(lines)
    else:
        emit(lines[: index("SCF    5") + 1] + ["  *** scf_solver: SCF cycle not converged.\n"])
        sys.exit(1)
elif cfg["mode"] == "sleep":
    emit(lines[:10])
    time.sleep(60)
elif cfg["mode"] == "relax":
    updates = [i for i, line in enumerate(lines) if "Updated atomic structure:" in line]
    ends = [index("Writing the current geometry", u) + 1 for u in updates]
    if n_run == 0 and cfg["first_run"] == "hang":
        emit(lines[: ends[2]])  # up to the geometry of relaxation step 3
        time.sleep(60)  # hangs: only a kill ends this run
        sys.exit(0)
    if n_run == 0:  # slow: one relaxation step at a time, stopping when asked to
        previous = 0
        for stop in ends:
            emit(lines[previous:stop])
            previous = stop
            if Path("abort_opt").exists():
                sys.exit(0)
            time.sleep(0.3)
        emit(lines[previous:])
        sys.exit(0)
    # a restarted run prints its restart geometry as the input geometry ...
    words = [l.split() for l in Path("geometry.in").read_text().splitlines()]
    cell = [w for w in words if w[:1] == ["lattice_vector"]]
    atoms = [w for w in words if w[:1] == ["atom"]]
    block = ["  Input geometry:\n", "  | Unit cell:\n"]
    block += ["  |  " + "  ".join(w[1:4]) + "\n" for w in cell]
    block += ["  | Atomic structure:\n", "  |       Atom                x [A]            y [A]            z [A]\n"]
    block += [f"  |  {i + 1:4d}: Species {w[4]}  {w[1]}  {w[2]}  {w[3]}\n" for i, w in enumerate(atoms)]
    start = index("Input geometry:")
    end = start + 1
    while lines[end].strip().startswith("|"):
        end += 1
    # ... and goes on with the evaluation of the template step at that geometry
    first = [float(v) for v in cell[0][1:4]]
    update = next(u for u in updates
                  if max(abs(float(a) - b) for a, b in zip(lines[u + 2].split()[1:4], first)) < 1e-6)
    init = index("Begin self-consistency loop: Initialization")
    resume = index("Begin self-consistency loop: Re-initialization", update)
    emit(lines[:start] + block + lines[end: init + 1] + lines[resume + 1:])
'''


@pytest.fixture
def fake_aims(tmp_path, monkeypatch):
    script = tmp_path / "fake_aims.py"
    script.write_text(FAKE_AIMS)
    config = tmp_path / "fake_aims.json"
    monkeypatch.setenv("FAKE_AIMS_CONFIG", str(config))
    log = tmp_path / "fake_aims.pids"

    def configure(mode: str, template: str, first_run: str = "") -> Path:
        config.write_text(json.dumps({"mode": mode, "template": str(TESTDATA / template), "log": str(log),
                                      "first_run": first_run}))
        return log

    configure.command = [sys.executable, str(script)]
    return configure


def engine_for(settings, fake_aims, species_dir, tmp_path, **kwargs) -> AimsEngine:
    options = dict(frozen_timeout=30.0, polling_time_step=0.05, monitor_freq=1)
    options.update(kwargs)
    return AimsEngine(settings, command=fake_aims.command, species_dir=species_dir,
                      workdir=tmp_path / "runs", **options)


def test_engine_protocol(tmp_path, species_dir):
    engine = AimsEngine(species_dir=species_dir, workdir=tmp_path)
    for member in ("name", "is_dft", "settings", "settings_hash", "single_point", "relax"):
        assert member in Engine.__dict__ or member in Engine.__annotations__
        assert hasattr(engine, member)
    assert engine.name == "fhi-aims" and engine.is_dft
    assert engine.settings["xc"] == "pbesol" and engine.settings["k_grid"] == [4, 4, 4]
    assert engine.settings_hash != AimsEngine({"xc": "pbe"}).settings_hash
    # numerical presets do not change which physics a label has
    assert engine.settings_hash == AimsEngine({"numerical": {"sc_iter_limit": "300"}}, species_dir=species_dir,
                                              workdir=tmp_path).settings_hash


def test_scf_failure_is_corrected_and_the_label_matches_the_real_output(tmp_path, species_dir, fake_aims):
    log = fake_aims("scf", "singlepoint.out")
    engine = engine_for(SP_SETTINGS, fake_aims, species_dir, tmp_path)
    label = engine.single_point(water())

    reference = ase_images("singlepoint.out")[-1].calc.results
    assert label.energy == pytest.approx(reference["energy"], abs=1e-8)
    np.testing.assert_allclose(label.forces, reference["forces"], atol=1e-10)
    assert label.stress is None and label.is_dft and label.engine == "fhi-aims"
    assert len(log.read_text().split()) == 2  # failed once, then succeeded
    (correction,) = label.corrections
    assert correction["handler"] == "ScfConvergenceHandler" and correction["errors"] == ["scf_not_converged"]
    assert {"file": "control.in", "key": "sc_iter_limit", "old": None, "new": "2000"} in correction["actions"]
    folder = engine.run_folder(water(), "sp")
    assert control_value(folder, "sc_iter_limit") == "2000" and (folder / "aims.out.1").is_file()

    again = engine.single_point(water())  # a rerun reuses the finished calculation
    assert again.energy == label.energy and len(log.read_text().split()) == 2
    assert again.corrections == label.corrections


def test_frozen_relaxation_is_killed_by_pid_and_resumed_from_the_last_geometry(tmp_path, species_dir, fake_aims):
    log = fake_aims("relax", "relax.out", first_run="hang")
    engine = engine_for(RELAX_SETTINGS, fake_aims, species_dir, tmp_path, frozen_timeout=1.0)
    start = time.perf_counter()
    relaxation = engine.relax(silicon(), fmax=0.01, max_steps=50)
    assert time.perf_counter() - start < 20  # the hung run was not waited for

    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == 2 and not any(process_alive(p) for p in pids)
    (correction,) = relaxation.corrections
    assert correction["handler"] == "FrozenRunHandler" and "no output" in correction["reason"]

    # the trajectory over both runs is the uninterrupted real relaxation
    images = ase_images("relax.out")
    assert relaxation.converged and len(relaxation.labels) == len(images) == 8
    for structure, label, image in zip(relaxation.structures, relaxation.labels, images):
        results = image.calc.results
        assert label.energy == pytest.approx(results["energy"], abs=1e-8)
        np.testing.assert_allclose(label.forces, results["forces"], atol=1e-10)
        np.testing.assert_allclose(label.stress, results["stress"], atol=1e-8)
        np.testing.assert_allclose(structure.cell.array, image.cell.array, atol=1e-6)
        np.testing.assert_allclose(structure.positions, image.positions, atol=1e-6)

    folder = engine.run_folder(silicon(), "relax-f0.01-n50")
    # restarted at the geometry of relaxation step 3, never from scratch
    restarted_from = read_geometry(folder / "geometry.in")
    np.testing.assert_allclose(restarted_from.cell.array, images[3].cell.array, atol=1e-6)
    np.testing.assert_allclose(restarted_from.positions, images[3].positions, atol=1e-6)
    assert control_value(folder, "max_relaxation_steps") == "47"  # 3 of 50 steps were done
    assert control_value(folder, "relax_geometry") == "trm 0.01"


def test_wall_time_stops_cleanly_and_the_next_call_resumes(tmp_path, species_dir, fake_aims):
    log = fake_aims("relax", "relax.out", first_run="slow")
    engine = engine_for(RELAX_SETTINGS, fake_aims, species_dir, tmp_path, wall_time=0.5, wall_buffer=0.0)
    with pytest.raises(EngineError, match="stopped near the wall time .abort_opt.; calling again resumes") as info:
        engine.relax(silicon(), fmax=0.01, max_steps=50)
    assert [c["handler"] for c in info.value.corrections] == ["WallTimeHandler"]
    folder = engine.run_folder(silicon(), "relax-f0.01-n50")
    assert (folder / "abort_opt").is_file()
    stopped_after = len(read_aims_output(folder / "aims.out").complete_steps)
    assert 1 <= stopped_after < 8

    # the rerun (a new allocation: no wall time pressure) goes on from the last geometry
    resumed = engine_for(RELAX_SETTINGS, fake_aims, species_dir, tmp_path).relax(silicon(), fmax=0.01, max_steps=50)
    assert len(log.read_text().split()) == 2 and not (folder / "abort_opt").exists()
    images = ase_images("relax.out")
    assert resumed.converged and len(resumed.labels) == 8
    for label, image in zip(resumed.labels, images):
        assert label.energy == pytest.approx(image.calc.results["energy"], abs=1e-8)
    assert [c["handler"] for c in resumed.corrections] == ["WallTimeHandler"]


def test_terminate_kills_only_its_own_process(tmp_path, fake_aims):
    fake_aims("sleep", "singlepoint.out")
    run = tmp_path / "run"
    run.mkdir()
    (run / "control.in").write_text("xc pbesol\n")
    (run / "geometry.in").write_text("atom 0 0 0 H\n")
    decoy = subprocess.Popen(fake_aims.command, cwd=run, stdout=subprocess.DEVNULL)  # same program
    try:
        job = AimsJob(fake_aims.command, term_timeout=2.0)
        job.setup(str(run))
        process = job.run(str(run))
        assert int((run / "aims.pid").read_text()) == process.pid
        time.sleep(0.3)
        job.terminate(str(run))
        assert process.poll() is not None
        assert decoy.poll() is None  # another run of the same program lives on
    finally:
        decoy.kill()
        decoy.wait()


class XcRogue(ScfConvergenceHandler):
    """A handler that would 'fix' the SCF by switching the functional."""

    def plan(self, directory):
        return {"xc": "pbe"}, "switch functional"


class KGridRogue(ScfConvergenceHandler):
    """A handler that edits control.in by hand, around the guard."""

    def correct(self, directory="./"):
        path = Path(directory) / "control.in"
        path.write_text("k_grid 8 8 8\n" + path.read_text())
        return {"errors": ["scf_not_converged"], "actions": [{"key": "k_grid", "new": "8 8 8"}]}


@pytest.mark.parametrize(("rogue", "shown"), [(XcRogue, "xc: 'pbesol' -> 'pbe'"), (KGridRogue, "k_grid: None -> '8 8 8'")])
def test_a_correction_that_changes_the_physics_fails_with_a_reason(rogue, shown, tmp_path, species_dir, fake_aims):
    log = fake_aims("scf", "singlepoint.out")
    engine = engine_for(SP_SETTINGS, fake_aims, species_dir, tmp_path,
                        handlers=lambda: [rogue(), FrozenRunHandler(timeout=30)])
    with pytest.raises(EngineError) as info:
        engine.single_point(water())
    assert "change the physics of the training set" in info.value.reason and shown in info.value.reason
    assert len(log.read_text().split()) == 1  # FHI-aims never ran with the edited input
    folder = engine.run_folder(water(), "sp")
    assert control_value(folder, "xc") == "pbesol" or rogue is KGridRogue


def test_giving_up_raises_engine_error_with_the_corrections(tmp_path, species_dir, fake_aims):
    fake_aims("scf", "singlepoint.out")
    engine = engine_for(SP_SETTINGS, fake_aims, species_dir, tmp_path,
                        handlers=lambda: [ScfConvergenceHandler(max_num_corrections=0)])
    with pytest.raises(EngineError, match="ScfConvergenceHandler gave up after 0 corrections") as info:
        engine.single_point(water())
    assert info.value.corrections == []


def test_corrected_label_is_stored_once_with_its_correction(tmp_path, species_dir, fake_aims, mongo_db):
    from perovflow.campaign.initial import label_structures
    from perovflow.store.store import Store

    # the output of a real FHI-aims starts with its version
    template = tmp_path / "singlepoint_with_header.out"
    template.write_text("          Invoking FHI-aims ...\n  FHI-aims version      : 240507\n"
                        + (TESTDATA / "singlepoint.out").read_text())
    log = fake_aims("scf", str(template))
    engine = engine_for(SP_SETTINGS, fake_aims, species_dir, tmp_path)
    store = Store(mongo_db, "fake-aims")
    store.ensure_indexes()
    ids = store.add_structures([water()], role="pool")

    assert label_structures(store, engine, ids, fw_id=17) == (1, 0, [])
    assert label_structures(store, engine, ids) == (0, 1, [])  # a rerun of the job reuses it
    docs = list(mongo_db.calculations.find({"campaign": "fake-aims"}))
    assert len(docs) == 1 and docs[0]["status"] == "completed" and docs[0]["is_dft"] is True
    assert [c["handler"] for c in docs[0]["corrections"]] == ["ScfConvergenceHandler"]
    assert docs[0]["engine"] == "fhi-aims" and docs[0]["settings_hash"] == engine.settings_hash
    assert docs[0]["fw_id"] == 17 and docs[0]["provenance"]["fw_id"] == 17
    assert docs[0]["provenance"]["program_version"] == "240507"
    assert docs[0]["settings"]["species_sha256"] == engine.settings["species_sha256"] is not None
    assert len(log.read_text().split()) == 2  # one failed run, one corrected run, nothing more
