"""A campaign with a calibration set (``pool.calibration_structures``): held-out
structures, drawn like the test set and labelled with it, set sigma's amplitude of every model
version instead of the training set's leave-one-out residuals."""
from __future__ import annotations

import numpy as np
import pytest

from perovflow.analysis.summary import format_summary, summary
from perovflow.campaign.context import CampaignContext
from perovflow.campaign.local import run_local
from perovflow.settings import CampaignError, parse_campaign
from perovflow.store.store import Store
from tests.campaign.helpers import small_campaign, small_settings


def test_held_out_structures_set_sigma_of_every_model(mongo_db):
    campaign = small_settings("held-out", phases=["Pnma"], pool={"calibration_structures": 30},
                              selection={"clusters": 10, "batches": 2})
    assert campaign.pool_sizes() == {"pool": 50, "test": 25, "calibration": 30}
    store = Store(mongo_db, campaign.name)
    run = run_local(campaign, store)
    assert run.states() == {"completed": len(run.outcomes)}, [o for o in run.outcomes if o.state != "completed"]

    ctx = CampaignContext(campaign, store)
    calibration_ids, features = ctx.features("calibration")
    energies = ctx.labelled_energies(calibration_ids)
    assert len(calibration_ids) == len(energies) == 30
    assert not set(calibration_ids) & (set(store.structure_ids("test")) | set(store.structure_ids("pool")))
    y = np.array([energies[sid] for sid in calibration_ids])
    records = store.models()
    assert len(records) == 2
    for record in records:
        assert not set(calibration_ids) & set(record["training_ids"])
        assert record["amplitude_rule"] == "holdout"
        assert record["metrics"]["sigma_calibration"] == "held-out"
        assert record["metrics"]["sigma_calibration_rows"] == 30
        model, _ = ctx.model(record["tag"])
        unit = model.sigma(features) / model.amplitude
        expected = np.sqrt(np.sum((model.predict(features) - y) ** 2) / np.sum(unit ** 2))
        assert model.amplitude == pytest.approx(expected, rel=1e-9)
    assert "sigma set on 30 held-out structures" in format_summary(summary(mongo_db, campaign.name))


def test_without_a_calibration_set_sigma_comes_from_leave_one_out():
    campaign = small_settings("loo")
    assert "calibration" not in campaign.pool_sizes() and campaign.pool.calibration_structures == 0


@pytest.mark.parametrize("overrides, message", [
    ({"pool": {"calibration_structures": -1}}, "pool.calibration_structures: .*non-negative integer"),
    ({"pool": {"calibration_structures": 1},
      "labelling": {"engine": "imported", "options": {"labels": "chgnet-labels"}}, "active": {"enabled": False}},
     "pool.calibration_structures: imported labels .* allowed with labelling.engine imported: 0"),
])
def test_bad_calibration_settings_are_named(overrides, message):
    with pytest.raises(CampaignError, match=message):
        parse_campaign(small_campaign("bad", **overrides))


def test_campaigns_stored_before_the_calibration_set_compare_as_leave_one_out():
    from perovflow.fireworks.manager import settings_changes
    from perovflow.settings import load_campaign, with_added_settings

    for path, change in (("workflows/cssn_clbri3.yaml", []),
                         ("workflows/demo.yaml", ["pool.calibration_structures: 0 -> 100"])):
        today = load_campaign(path).as_dict()
        stored = {**today, "pool": {k: v for k, v in today["pool"].items() if k != "calibration_structures"}}
        assert settings_changes(with_added_settings(stored), today) == change
