"""``perovflow reproduce fig7 --quick`` and ``reproduce ccd --quick`` through the real CLI
entry (CHGNet labels, real relaxations, real CCD networks): the files exist, the Markdown
table shows the JSON's numbers, and every verdict follows from its numbers by its rule
(written out again here, apart from perovflow.reproduce.verdicts)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from perovflow.reproduce.ccd import quarter_rmse
from perovflow.reproduce.verdicts import judge
from tests.reproduce.quick import quick_runs
from tests.reproduce.tables import check_table_shows_the_json

NAMES = ("fig7", "ccd")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: (rc, out, json.loads((out / f"{name}.json").read_text()), (out / f"{name}.md").read_text())
            for name, (rc, out) in quick_runs(tmp_path_factory, NAMES).items()}


def _expected(rule: str, v: dict) -> str:
    if rule in ("absolute", "unstated"):  # stand-in oracle labels: never compared with DFT numbers
        return "not comparable"
    if rule == "all_converged":
        ok = v["share"] >= 1.0
    elif rule == "drops":
        if v["initial"] is None or v["final"] is None:
            return "not comparable"
        ok = v["final"] <= 0.5 * v["initial"]
    elif rule == "similar":
        ok = v["test"] <= 1.5 * v["train"]
    elif rule == "lowest_best":
        ok = v["quarters"][0] == min(v["quarters"])
    elif rule == "follows_path":
        ok = v["rmse"] <= 0.1 * v["span"]
    else:
        raise AssertionError(f"unknown rule {rule}")
    return "reproduced" if ok else "not reproduced"


def _shown(rule: str, v: dict) -> list[float]:
    if rule in ("absolute", "unstated"):
        return [float(f"{v['ours']:.3g}")]
    if rule == "all_converged":
        return []
    if rule == "drops":
        return [float(f"{x:.3g}") for x in (v["initial"], v["final"]) if x is not None]
    if rule == "similar":
        return [float(f"{v['test']:.3g}"), float(f"{v['train']:.3g}")]
    if rule == "lowest_best":
        return [float(f"{q:.3g}") for q in v["quarters"]]
    return [float(f"{v['rmse']:.3g}"), float(f"{v['span']:.3g}")]


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_png_json_and_markdown(runs, name):
    rc, out, record, markdown = runs[name]
    assert rc == 0
    assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "not DFT" in markdown and record["oracle_is_dft"] is False and record["quick"]
    assert record["wall_seconds"] < 180


@pytest.mark.parametrize("name", NAMES)
def test_table_shows_the_json_and_verdicts_follow_from_the_numbers(runs, name):
    _, _, record, markdown = runs[name]
    check_table_shows_the_json(record, markdown, _expected, _shown, min_rows=4)


def test_fig7_numbers_come_from_its_history(runs):
    _, _, record, markdown = runs["fig7"]
    first, last = record["history"][0], record["history"][-1]
    assert first["iteration"] == 0 and last["iteration"] == len(record["history"]) - 1 >= 1
    assert last["n_train"] > first["n_train"]  # the acquired oracle snapshots were added
    for h in record["history"]:
        rows = h["mixing_enthalpies"]
        assert h["convergence"] == pytest.approx(sum(r["ml_converged"] for r in rows) / len(rows))
        for r in rows:
            assert sum(r["fractions"]) == pytest.approx(1.0)
        # the optimizer's final force (atoms and cell) decides convergence; the atoms' alone may be lower
        fmax = {True: [], False: []}
        for r in rows:
            fmax[r["ml_converged"]].append(r["ml_final_fmax"])
        assert all(f > 0.005 for f in fmax[False]) and all(f <= 0.005 for f in fmax[True])
        assert h["not_converged_final_fmax"] == sorted(fmax[False])
        assert h["not_converged_within_test_fmax"] == sum(f <= record["protocol_settings"]["test_fmax"] for f in fmax[False])
        assert h["not_converged_atoms_within_fmax"] == sum(
            r["ml_final_atom_force"] <= 0.005 for r in rows if not r["ml_converged"])
    noted = [h for h in record["history"] if h["not_converged_final_fmax"]]
    assert len(record["notes"]) == len(noted)
    for note, h in zip(record["notes"], noted):
        assert note.startswith(f"model {h['iteration']} ") and f"- {note}" in markdown
    by_rule = {r["quantity"]: r["inputs"] for r in record["table"]}
    assert by_rule["final model: share of ML relaxations converged (%)"]["share"] == last["convergence"]
    drop = by_rule["active learning lowers the relaxed-energy MAE (final / initial)"]
    assert (drop["initial"], drop["final"]) == (first["mae_mev"], last["mae_mev"])


def test_ccd_numbers_come_from_its_energies(runs):
    _, _, record, _ = runs["ccd"]
    test = {k: np.asarray(v) for k, v in record["test_energies"].items()}
    assert len(test["oracle"]) == record["n_test"]
    rmse = 1e3 * np.sqrt(np.mean((test["model"] - test["oracle"]) ** 2))
    assert record["test_rmse_mev_per_atom"] == pytest.approx(rmse)
    assert record["analysis"]["quarter_rmse_mev_per_atom"] == pytest.approx(quarter_rmse(test["oracle"], test["model"]))
    for name, path in record["paths"].items():
        e_oracle, e_model = np.asarray(path["oracle"]), np.asarray(path["model"])
        assert record["analysis"]["paths"][name]["rmse_mev_per_atom"] == pytest.approx(
            1e3 * np.sqrt(np.mean((e_model - e_oracle) ** 2)))


def test_quarter_rmse_orders_by_energy():
    oracle = np.array([4.0, 1.0, 3.0, 2.0])
    model = oracle + np.array([0.004, 0.001, 0.003, 0.002])
    assert quarter_rmse(oracle, model) == pytest.approx([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize("rule, inputs, verdict", [
    ("drops", {"initial": 4.7, "final": 0.45}, "reproduced"),
    ("drops", {"initial": 4.7, "final": 3.0}, "not reproduced"),
    ("drops", {"initial": None, "final": 0.45}, "not comparable"),
    ("all_converged", {"share": 0.88}, "not reproduced"),
    ("lowest_best", {"quarters": [2.0, 1.0, 3.0, 4.0]}, "not reproduced"),
    ("follows_path", {"rmse": 1.0, "span": 5.0}, "not reproduced"),
])
def test_new_rules_can_fail(rule, inputs, verdict):
    assert judge(rule, inputs)[0] == verdict
