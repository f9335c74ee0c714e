"""Campaign figures are written from a summary, and skipped when there is nothing to draw."""
from __future__ import annotations

from perovflow.analysis.plots import campaign_figures


def _info(active: bool):
    curve = [{"version": v, "stage": s, "n_train": n, "mae": m} for v, s, n, m in
             [(1, "initial", 100, 1.4), (2, "initial", 200, 1.0), (3, "stage1", 260, 0.9), (4, "final", 240, 0.9)]]
    rows = [{"iteration": i, "stage": s, "mae_mev": m, "convergence": c} for i, s, m, c in
            [(0, "initial", 4.6, 0.9), (1, "stage1", 1.5, 1.0), (10_000, "final", 0.4, 1.0)]] if active else []
    return {"campaign": "c", "learning_curve": curve, "active_learning": rows}


def test_figures_are_written_as_png(tmp_path):
    mixing = [{"dh_engine_mev": -3.0 + k, "dh_ml_mev": -2.9 + k, "phase": "Pnma", "ml_converged": True} for k in range(4)]
    made = campaign_figures(_info(True), mixing, tmp_path)
    assert [p.name for p in made] == ["learning_curve.png", "relaxation_test.png", "mixing_enthalpies.png"]
    for path in made:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_nothing_to_draw_makes_no_file(tmp_path):
    made = campaign_figures(_info(False), [], tmp_path)
    assert [p.name for p in made] == ["learning_curve.png"]


def test_selection_figure_is_written_when_a_selection_exists(tmp_path):
    structures = [{"phase": p, "fraction": k / 24, "selected": k % 3 == 0} for p in ("Pm-3m", "Pnma") for k in range(25)]
    overview = {"campaign": "c", "halide": "Cl", "cluster_sizes": [5, 5, 6, 9], "structures": structures}
    made = campaign_figures(_info(False), [], tmp_path, selection=overview)
    assert [p.name for p in made] == ["learning_curve.png", "selection.png"]
    assert (tmp_path / "selection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
