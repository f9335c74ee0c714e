"""Corrections may change numerical aids only; physics edits fail with a clear reason."""
from __future__ import annotations

import pytest
from aims_testkit import make_run

from perovflow.engines.aims.guard import check_numerical_only, edit_control, edited_control
from perovflow.engines.aims.job import AimsJob
from perovflow.engines.base import EngineError


@pytest.fixture
def control(tmp_path, species_dir):
    return make_run(tmp_path / "run", species_dir, "relax")


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("xc", "pbe", "xc: 'pbesol' -> 'pbe'"),
        ("k_grid", "2 2 2", "k_grid: '4 4 4' -> '2 2 2'"),
        ("relativistic", "none", "relativistic"),
        ("spin", "collinear", "spin"),
        ("compute_forces", None, "compute_forces"),
        ("many_body_dispersion", "", "many_body_dispersion"),  # unknown keywords are not numerical
    ],
)
def test_physics_edits_are_refused_with_a_reason(control, key, value, shown):
    before = (control / "control.in").read_text()
    after = edited_control(before, {key: value})
    with pytest.raises(EngineError) as info:
        check_numerical_only(before, after)
    assert "change the physics of the training set" in info.value.reason
    assert shown in info.value.reason
    with pytest.raises(EngineError):
        edit_control(control, {key: value})
    assert (control / "control.in").read_text() == before  # nothing written


def test_species_block_edit_is_refused(control):
    before = (control / "control.in").read_text()
    after = before.replace("hydro 2 s 2.1", "hydro 3 d 4.0")  # a different basis (tier)
    with pytest.raises(EngineError, match="species"):
        check_numerical_only(before, after)


def test_numerical_aids_pass_and_are_recorded(control):
    actions = edit_control(control, {"sc_iter_limit": "2000", "charge_mix_param": "0.02", "mixer": "pulay"})
    assert {(a["key"], a["new"]) for a in actions} == {
        ("sc_iter_limit", "2000"), ("charge_mix_param", "0.02"), ("mixer", "pulay")}
    assert all(a["file"] == "control.in" and a["old"] is None for a in actions)
    # the new keywords go before the species blocks, which stay untouched
    text = (control / "control.in").read_text()
    assert text.index("sc_iter_limit") < text.index("################") < text.index("  species ")


def test_job_refuses_to_run_after_a_physics_edit_behind_the_guard(control):
    job = AimsJob(["true"])
    job.setup(str(control))
    text = (control / "control.in").read_text().replace("pbesol", "pbe")
    (control / "control.in").write_text(text)
    with pytest.raises(EngineError, match="xc: 'pbesol' -> 'pbe'"):
        job.run(str(control))
    assert not (control / "aims.out").exists() and job.process is None
