"""``perovflow reproduce NAME --quick`` through the real CLI entry: the files exist, the
Markdown table shows the JSON's numbers, and every verdict follows from its numbers by its
rule (checked here independently of perovflow.reproduce.verdicts).

One quick run per figure (module-scoped), CHGNet labels (it ships its weights).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from perovflow.cli import main
from perovflow.reproduce import FIGURES, stats
from tests.reproduce.quick import quick_runs
from tests.reproduce.tables import check_table_shows_the_json

# tests/reproduce/test_fig45.py (one shared label cache) and test_fig7_ccd.py (their own rules)
CHECKED_ELSEWHERE = ("fig4", "fig5", "fig7", "ccd")
QUICK_HERE = [name for name in FIGURES if name not in CHECKED_ELSEWHERE]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return quick_runs(tmp_path_factory, QUICK_HERE)


def _expected_verdict(rule: str, v: dict) -> str:
    """The stated rules, written out again."""
    if rule == "saving":
        ok = v["ci_low"] > 0 and v["paper"] / 2 <= v["estimate"] <= 2 * v["paper"]
    elif rule == "lower_than_random":
        ok = v["ci_high"] < 0
    elif rule == "absolute":
        if not v["oracle_is_dft"] or v["ours_n"] < v["paper_n"]:
            return "not comparable"
        ok = 1 / 1.5 <= v["ours"] / v["paper"] <= 1.5
    elif rule == "trend":
        ok = math.isfinite(v["rho"]) and v["rho"] <= -0.5
    elif rule == "still_decreasing":
        ok = v["slope"] < -0.05
    elif rule == "diminishing_returns":
        ok = v["last_gain"] < v["first_gain"] / 2
    else:
        raise AssertionError(f"unknown rule {rule}")
    return "reproduced" if ok else "not reproduced"


def _percent(value: float) -> float:
    return round(100 * value) if math.isfinite(value) else value


def _shown(rule: str, v: dict) -> list[float]:
    """The numbers the 'ours' cell must show for a rule's inputs."""
    if rule in ("saving", "lower_than_random"):
        return [_percent(v["estimate"]), _percent(v["ci_low"]), _percent(v["ci_high"])]
    if rule == "absolute":
        return [float(f"{v['ours']:.3g}")]
    if rule == "trend":
        return [round(v["rho"], 2)]
    if rule == "still_decreasing":
        return [round(v["slope"], 2)]
    return [_percent(v["first_gain"]), _percent(v["last_gain"])]


@pytest.mark.parametrize("name", QUICK_HERE)
def test_quick_run_writes_its_files(runs, name):
    rc, out = runs[name]
    assert rc == 0
    for suffix in ("png", "json", "md"):
        assert (out / f"{name}.{suffix}").stat().st_size > 0
    assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / f"{name}.md").read_text()
    assert "stand-in oracle" in text and "not DFT" in text
    record = json.loads((out / f"{name}.json").read_text())
    assert record["quick"] and record["oracle"] == "chgnet" and record["oracle_is_dft"] is False


@pytest.mark.parametrize("name", QUICK_HERE)
def test_table_shows_the_json_and_verdicts_follow_the_rules(runs, name):
    _, out = runs[name]
    record = json.loads((out / f"{name}.json").read_text())
    check_table_shows_the_json(record, (out / f"{name}.md").read_text(), _expected_verdict, _shown)


def test_fig2_savings_come_from_the_curves(runs):
    _, out = runs["fig2"]
    record = json.loads((out / "fig2.json").read_text())
    random = record["curves"]["random"]
    n = np.asarray(random["n_train"], dtype=float)
    checked = 0
    for r in record["table"]:
        if r["rule"] != "saving":
            continue
        scheme = r["quantity"].split("), ", 1)[1]
        key = r["quantity"].split()[0]
        estimate = stats.saving(n, np.asarray(record["curves"][scheme][key]), np.asarray(random[key]))
        assert math.isclose(estimate, r["inputs"]["estimate"], rel_tol=1e-12, abs_tol=1e-12)
        assert r["inputs"]["ci_low"] <= r["inputs"]["ci_high"]
        checked += 1
    assert checked >= 2


def test_fig6_extrapolation_comes_from_the_curve(runs):
    _, out = runs["fig6"]
    record = json.loads((out / "fig6.json").read_text())
    (curve,) = record["curves"].values()
    energy = np.mean(curve["energy"], axis=0)
    assert math.isclose(record["analysis"]["energy"]["measured"], energy[-1])
    assert math.isclose(record["analysis"]["energy"]["extrapolated_16000"],
                        stats.extrapolate(curve["n_train"], energy, 16000,
                                          last=len(energy) - stats.half_index(curve["n_train"])))


def test_unknown_figure_names_the_allowed_ones(tmp_path, capsys):
    assert main(["reproduce", "fig99", "--quick", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "fig99" in err and all(name in err for name in FIGURES)


def test_unknown_oracle_is_refused(tmp_path, capsys):
    assert main(["reproduce", "fig2", "--oracle", "vasp", "-o", str(tmp_path)]) == 2
    assert "chgnet" in capsys.readouterr().err


def test_saving_statistics_on_known_curves():
    n = np.array([100.0, 200.0, 400.0, 800.0])
    random = np.array([[8.0, 4.0, 2.0, 1.0]] * 3)
    faster = random / 2 ** 0.5  # reaches 1.0 at 800 / sqrt(2) in log-log
    assert math.isclose(stats.size_to_reach(n, random[0], 1.0), 800.0)
    assert math.isclose(stats.saving(n, faster, random), 1 - 1 / 2 ** 0.5)
    result = stats.bootstrap_saving(n, faster, random, samples=50)
    assert result["ci95"][0] == pytest.approx(result["estimate"]) == pytest.approx(result["ci95"][1])
    slower = random * 2.0  # one doubling behind, extrapolated past the last size
    assert math.isclose(stats.saving(n, slower, random), -1.0)
