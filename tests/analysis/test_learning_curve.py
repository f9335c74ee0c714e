"""The learning curve read from the model records: energy and force errors and sigma's
calibration, printed and plotted; records stored before force errors existed still show."""
from __future__ import annotations

import struct

import numpy as np

from perovflow.analysis.plots import plot_learning_curve
from perovflow.analysis.summary import format_summary, summary
from perovflow.store.store import Store

OLD = {"test_energy_mae_mev_per_atom": 4.25, "test_energy_rmse_mev_per_atom": 5.5, "n_train": 40, "n_test": 50}
NEW = {"test_energy_mae_mev_per_atom": 1.125, "test_energy_rmse_mev_per_atom": 1.5, "n_train": 80, "n_test": 50,
       "test_force_mae_mev_per_angstrom": 61.25, "test_force_rmse_mev_per_angstrom": 83.5,
       "calibration_spearman": 0.375, "calibration_rmse_over_sigma_terciles": [0.9, 1.1, 1.3],
       "calibration_miscalibration_area": 0.045}


def _png_width(path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_status_prints_energy_and_force_errors_and_the_calibration(mongo_db, tmp_path):
    store = Store(mongo_db, "curve")
    store.ensure_indexes()
    held_out = {"sigma_calibration": "held-out", "sigma_calibration_rows": 25}
    loo = {"sigma_calibration": "leave-one-out", "sigma_calibration_rows": 80}
    for batch, metrics in enumerate((OLD, {**NEW, **loo}, {**NEW, **held_out, "calibration_spearman": None,
                                                          "n_train": 120})):
        store.save_model({"weights": np.zeros(2)}, {"kind": "test", "stage": "initial", "batch": batch,
                                                     "metrics": metrics}, tag=f"initial/batch-{batch}")
    info = summary(mongo_db, "curve")
    curve = info["learning_curve"]
    assert [(r["force_mae"], r["force_rmse"]) for r in curve] == [(None, None), (61.25, 83.5), (61.25, 83.5)]
    text = format_summary(info)
    lines = text.splitlines()
    assert any(line.split() == ["1", "batch", "0", "40", "50", "4.250", "5.500", "-", "-"] for line in lines), text
    assert any(line.split() == ["2", "batch", "1", "80", "50", "1.125", "1.500", "61.2", "83.5"] for line in lines)
    # the first and the latest model with a calibration, the old record has none
    # with what set sigma's amplitude (records stored before it was recorded: nothing)
    assert ("version 2 (batch 1): Spearman 0.38, RMSE/sigma 0.90 1.10 1.30, area 0.045; sigma set by "
            "leave-one-out on 80 training structures") in text
    assert ("version 3 (batch 2): Spearman -, RMSE/sigma 0.90 1.10 1.30, area 0.045; sigma set on 25 held-out "
            "structures") in text

    # two panels (energy, force) once some version has force errors; one for old records only
    assert _png_width(plot_learning_curve(info, tmp_path / "both.png")) == 2 * 660
    only_old = {**info, "learning_curve": curve[:1]}
    assert _png_width(plot_learning_curve(only_old, tmp_path / "energy.png")) == 660
    assert "sigma calibration" not in format_summary(only_old)


def test_status_reports_the_model_before_and_after_pruning(mongo_db):
    mongo_db.al_iterations.insert_many([
        {"campaign": "pruned", "iteration": 1, "stage": "stage2", "refit_version": 6,
         "relaxation_test": {"n": 4, "convergence": 1.0, "mae_mev": 0.25}},
        {"campaign": "pruned", "iteration": 2, "stage": "final", "model_version": 7, "n_kept": 5, "n_snapshots": 10,
         "relaxation_test": {"n": 4, "convergence": 0.75, "mae_mev": 0.5},
         "before_pruning": {"model_version": 6, "iteration": 1,
                            "relaxation_test": {"n": 4, "convergence": 1.0, "mae_mev": 0.25}}},
    ])
    text = format_summary(summary(mongo_db, "pruned"))
    assert "pruned: kept 5 of 10 relaxation snapshots" in text
    assert "before pruning (the paper's final model): model 6, relaxation test 100% converged, MAE 0.250" in text
