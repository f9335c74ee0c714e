"""The parser against ASE's own reader on real FHI-aims outputs shipped in ASE's wheel."""
from __future__ import annotations

import numpy as np
import pytest
from aims_testkit import TESTDATA, ase_images, cut_after, real_output

from perovflow.engines.aims.outputs import ERROR_MARKERS, parse_aims_output, read_aims_output, voigt


@pytest.mark.parametrize(
    ("name", "n_steps", "relax_steps"),
    [("singlepoint.out", 1, 0), ("relax.out", 8, 7), ("numerical_stress.out", 1, 0)],
)
def test_matches_ase_reader(name, n_steps, relax_steps):
    out = read_aims_output(TESTDATA / name)
    images = ase_images(name)
    assert len(out.steps) == len(images) == n_steps
    assert out.relaxation_steps == relax_steps
    assert out.completed and out.scf_converged and not out.errors
    for step, image in zip(out.steps, images):
        results = image.calc.results
        assert step.energy == pytest.approx(results["energy"], abs=1e-8)
        if results.get("forces") is None:
            assert step.forces is None
        else:
            np.testing.assert_allclose(step.forces, results["forces"], atol=1e-10)
        if results.get("stress") is None:
            assert step.stress is None
        else:
            np.testing.assert_allclose(voigt(step.stress), results["stress"], atol=1e-10)
        np.testing.assert_allclose(step.atoms.positions, image.positions, atol=1e-8)
        if image.pbc.all():
            np.testing.assert_allclose(step.atoms.cell.array, image.cell.array, atol=1e-8)


def test_relaxation_details():
    out = read_aims_output(TESTDATA / "relax.out")
    assert out.is_relaxation and out.relaxation_converged
    assert all(s.scf_converged and s.scf_iterations > 0 for s in out.steps)
    # the final structure block is the last evaluated geometry
    np.testing.assert_allclose(out.final_atoms.cell.array, out.steps[-1].atoms.cell.array, atol=1e-8)
    np.testing.assert_allclose(out.last_complete_geometry.positions, out.final_atoms.positions)
    assert out.steps[0].total_energy == pytest.approx(-15747.6651322907)


def test_provisional_results_before_a_mixer_restart_are_skipped():
    # cut right after the zero forces printed before FHI-aims restarts its mixer
    text = cut_after(real_output("singlepoint.out"), "No geometry change - only restart of scf mixer")
    out = parse_aims_output(text)
    assert len(out.steps) == 1 and out.steps[0].energy is None and not out.steps[0].complete
    assert not out.completed


def test_truncated_relaxation_keeps_complete_steps_and_last_complete_geometry():
    full = real_output("relax.out")
    # cut in the middle of the third "Updated atomic structure" block
    text = cut_after(full, "Updated atomic structure:", 3)
    text += "                         x [A]             y [A]             z [A]\n  lattice_vector   0.01"
    out = parse_aims_output(text)
    assert len(out.complete_steps) == 3 and not out.completed
    second_update = read_aims_output(TESTDATA / "relax.out").steps[2].atoms
    np.testing.assert_allclose(out.last_complete_geometry.cell.array, second_update.cell.array)


@pytest.mark.parametrize(("name", "text"), [(n, m[0]) for n, m in ERROR_MARKERS.items()])
def test_error_markers_are_found(name, text):
    out = parse_aims_output(cut_after(real_output("singlepoint.out"), "SCF    3") + f"  *** {text}\n")
    assert out.errors == [name]


def test_scf_failure_marks_the_step():
    text = cut_after(real_output("singlepoint.out"), "SCF    5") + "  *** scf_solver: SCF cycle not converged.\n"
    out = parse_aims_output(text)
    assert out.steps[0].scf_converged is False and not out.scf_converged and not out.complete_steps
