"""Each model version's test metrics: energy and force errors against the stored labels, and
the calibration of sigma, read back from the store like a campaign step does."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.campaign.context import CampaignContext
from perovflow.campaign.fitting import test_errors as errors_on_test_set
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters
from perovflow.store.store import Store
from perovflow.structures import generate_pool, generate_test_set
from tests.campaign.helpers import small_settings


def test_energy_and_force_errors_of_a_model_are_measured_against_the_labels(mongo_db):
    settings = small_settings("test-errors")
    ctx = CampaignContext(settings, Store(mongo_db, "test-errors"))
    system, descriptor = settings.system.perovskite(), ctx.descriptor
    train = descriptor.create(generate_pool(system, phases=("Pm-3m",), per_composition=1, seed=1)[:12])
    model = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-3, gamma=1e-2)).fit(
        train, -3.0 + 0.01 * np.sin(train.sum(axis=1)))

    ids = ctx.store.add_structures(generate_test_set(system, phases=("Pnma",), per_composition=1, seed=2)[:6],
                                   role="test")
    structures = ctx.store.structures(ids)
    features = descriptor.create(structures)
    ctx.store.save_features(descriptor.settings.hash, "test", 0, ids, features, descriptor.settings.as_dict())
    rng = np.random.default_rng(0)
    energy_shift = np.array([1.0, -1.0, 2.0, -2.0, 3.0, -3.0]) * 1e-3  # eV/atom: labels above/below the ML
    force_shifts = []
    for k, (sid, atoms) in enumerate(zip(ids, structures)):
        _, ml_forces = model.energy_and_forces(*descriptor.create_with_derivatives(atoms))
        shift = rng.normal(scale=0.05, size=ml_forces.shape)  # eV/Å
        label = {"energy": 0.0, "energy_per_atom": model.predict(features[k:k + 1])[0] + energy_shift[k],
                 "forces": (ml_forces + shift).tolist()}
        if k == 5:
            label.pop("forces")  # a label without forces only counts for the energies
        else:
            force_shifts.append(shift.ravel())
        ctx.store.add_calculation(sid, ctx.engine.name, ctx.engine.settings_hash, label)

    metrics = errors_on_test_set(ctx, model).as_metrics()
    force_errors = -np.concatenate(force_shifts) * 1e3  # meV/Å, ML minus label
    assert metrics["n_test"] == 6 and metrics["n_test_forces"] == 5
    assert metrics["test_energy_mae_mev_per_atom"] == pytest.approx(2.0, rel=1e-6)
    assert metrics["test_energy_rmse_mev_per_atom"] == pytest.approx(np.sqrt(14 / 3), rel=1e-6)
    assert metrics["test_force_mae_mev_per_angstrom"] == pytest.approx(np.abs(force_errors).mean(), rel=1e-6)
    assert metrics["test_force_rmse_mev_per_angstrom"] == pytest.approx(np.sqrt((force_errors ** 2).mean()),
                                                                      rel=1e-6)
    sigma = model.sigma(features) * 1e3  # meV/atom
    smallest = np.argsort(sigma)[:2]  # the first sigma tercile of six
    rmse = np.sqrt((energy_shift[smallest] ** 2).mean()) * 1e3
    assert metrics["calibration_rmse_over_sigma_terciles"][0] == pytest.approx(rmse / sigma[smallest].mean())
    assert metrics["calibration_n"] == 6 and 0 <= metrics["calibration_miscalibration_area"] <= 0.5
