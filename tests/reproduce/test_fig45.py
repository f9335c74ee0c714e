"""``perovflow reproduce fig4 --quick`` and ``fig5 --quick`` through the real CLI entry, on
one shared label cache (fig5 reuses fig4's oracle trajectories): the files exist, the
Markdown table shows the JSON's numbers, every verdict follows from its numbers, and the
table's numbers come from the curves.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from perovflow.reproduce import stats
from tests.reproduce.quick import quick_runs
from tests.reproduce.tables import check_table_shows_the_json
from tests.reproduce.test_reproduce import _expected_verdict, _shown

NAMES = ("fig4", "fig5")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: (rc, out, json.loads((out / f"{name}.json").read_text()) if rc == 0 else None)
            for name, (rc, out) in quick_runs(tmp_path_factory, NAMES, shared_cache=True).items()}


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_its_files(runs, name):
    rc, out, record = runs[name]
    assert rc == 0
    for suffix in ("png", "json", "md"):
        assert (out / f"{name}.{suffix}").stat().st_size > 0
    assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / f"{name}.md").read_text()
    assert "stand-in oracle" in text and "not DFT" in text
    assert record["quick"] and record["oracle"] == "chgnet" and record["oracle_is_dft"] is False


@pytest.mark.parametrize("name", NAMES)
def test_table_shows_the_json_and_verdicts_follow_the_rules(runs, name):
    _, out, record = runs[name]
    check_table_shows_the_json(record, (out / f"{name}.md").read_text(), _expected_verdict, _shown)


def test_fig4_numbers_come_from_the_curves(runs):
    _, _, record = runs["fig4"]
    active, random = record["curves"].values()
    n = np.asarray(active["n_train"][1:], dtype=float)
    savings = [r for r in record["table"] if r["rule"] == "saving"]
    assert [r["quantity"].split()[0] for r in savings] == ["energy", "force"]
    for r in savings:
        key = r["quantity"].split()[0]
        estimate = stats.saving(n, np.asarray(active[key])[:, 1:], np.asarray(random[key])[:, 1:])
        assert math.isclose(estimate, r["inputs"]["estimate"], rel_tol=1e-12, abs_tol=1e-12)
    relative = [r for r in record["table"] if r["rule"] == "lower_than_random"]
    for r, key in zip(relative, ("energy", "force", "relaxed")):
        a, b = np.asarray(active[key])[:, -1], np.asarray(random[key])[:, -1]
        assert math.isclose(r["inputs"]["estimate"], a.mean() / b.mean() - 1.0, rel_tol=1e-12, abs_tol=1e-12)


def test_fig4_adds_one_new_training_trajectory_per_phase_per_iteration(runs):
    _, _, record = runs["fig4"]
    for rep in record["runs"]:
        assert not set(rep["train"]) & set(rep["test"])
        assert set(rep["relax_test"]) <= set(rep["test"])
        starts = [points[0] for points in rep["methods"].values()]
        assert all(s == starts[0] for s in starts)  # both methods start from the one initial model
        for method, points in rep["methods"].items():
            added = []
            for iteration, point in enumerate(points[1:], start=1):
                picks = point["picks"]
                assert len({q["phase"] for q in picks}) == len(picks) == 4
                added += [q["trajectory"] for q in picks]
                assert point["added"] == len(added) == 4 * iteration
                if method.startswith("active"):
                    assert all(q["max_sigma"] > 0 for q in picks)
            assert len(set(added)) == len(added) and set(added) <= set(rep["train"])


def test_fig5_compares_at_the_papers_fraction(runs):
    _, _, record = runs["fig5"]
    cluster, random = record["curves"].values()
    at = record["counts"].index(record["analysis"]["compared_at"]["kept"])
    fractions = np.asarray(record["counts"]) / record["smallest_half"]
    assert at == int(np.argmin(np.abs(fractions - 1100 / 4007)))
    relative = [r for r in record["table"] if r["rule"] == "lower_than_random"]
    for r, key in zip(relative, ("energy", "force")):
        a, b = np.asarray(cluster[key])[:, at], np.asarray(random[key])[:, at]
        assert math.isclose(r["inputs"]["estimate"], a.mean() / b.mean() - 1.0, rel_tol=1e-12, abs_tol=1e-12)
    assert len(record["runs"]) == 2 * record["seeds"]  # two folds per split
    for key in ("energy", "force"):
        assert math.isclose(record["all_snapshots"][key], np.mean([r["all"][f"{key}_mae"] for r in record["runs"]]))
    for rep in record["runs"]:
        for points in rep["methods"].values():
            assert [q["kept"] for q in points] == record["counts"]


def test_split_per_phase_halves_each_phase_and_depends_on_the_seed():
    from ase import Atoms

    from perovflow.reproduce.trajectories import Trajectory, split_per_phase

    phases = ["Pnma"] * 5 + ["I4/mcm"] * 4 + ["Pm-3m"] * 6
    trajs = [Trajectory(Atoms(), phase, [], np.zeros(1), np.zeros((1, 0, 3)), True) for phase in phases]
    first, second = split_per_phase(trajs, seed=0)
    assert sorted(first + second) == list(range(len(trajs)))
    for phase, n in (("Pnma", 5), ("I4/mcm", 4), ("Pm-3m", 6)):
        assert sum(trajs[i].phase == phase for i in first) == n // 2
    assert split_per_phase(trajs, seed=0) == (first, second)
    assert any(split_per_phase(trajs, seed=s)[0] != first for s in range(1, 5))
