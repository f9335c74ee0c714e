"""Table S1 of Homm et al. 2025 in campaign files: a preset per column, every value settable,
the CsPb campaign on the CsPb column, and the demo's settings exactly as before."""
from __future__ import annotations

import dataclasses

import pytest

from perovflow.descriptors.mbtr import MBTRSettings
from perovflow.settings import (
    ADDED_SETTINGS,
    TABLE_S1,
    CampaignError,
    CampaignSettings,
    DescriptorSettings,
    ModelSettings,
    load_campaign,
    parse_campaign,
    with_added_settings,
)
from tests.campaign.helpers import small_campaign

CSPB_COLUMN = {"x_min": -0.1, "x_max": 0.6, "n_grid": 50, "sigma": 1.752e-2, "r_cut": 6.27, "w_cut": 1.0e-3,
               "normalization": "none", "alpha": 1.0e-5, "gamma": 1.280e-4}
CSSN_COLUMN = {"x_min": -0.1, "x_max": 0.6, "n_grid": 50, "sigma": 4.279e-2, "r_cut": 7.04, "w_cut": 1.0e-3,
               "normalization": "n_atoms", "alpha": 1.0e-5, "gamma": 4.279e-2}

# what workflows/demo.yaml and cssn_clbri3.yaml resolved to before the presets (commit 5b60567),
# with the MBTR hash that keys their stored features and models
DEMO_BEFORE = {
    "descriptor": {"sigma": 0.04279, "r_cut": 7.04, "n_grid": 50, "x_min": -0.1, "x_max": 0.6, "w_cut": 0.001,
                   "normalization": "n_atoms"},  # not a field then: MBTRSettings' default n_atoms was used
    "model": {"kind": "krr", "alpha": 1e-05, "gamma": 0.04279, "tune": True, "tune_folds": 5,
              "tune_max_points": 4000, "tune_iterations": 10},
    "mbtr_hash": "eaa955e22f4d4d24",
}
CSSN_BEFORE = {
    "descriptor": {**DEMO_BEFORE["descriptor"]},
    "model": {**DEMO_BEFORE["model"], "tune": False, "tune_iterations": 25},
    "mbtr_hash": "dcccf30b51182660",
}


def resolved(campaign: CampaignSettings) -> dict:
    return {**dataclasses.asdict(campaign.descriptor), "alpha": campaign.model.alpha, "gamma": campaign.model.gamma}


def mbtr(campaign: CampaignSettings) -> MBTRSettings:
    """The descriptor settings the campaign steps build (CampaignContext.descriptor)."""
    return MBTRSettings(species=campaign.species, **dataclasses.asdict(campaign.descriptor))


def test_presets_are_the_two_columns_of_table_s1():
    assert {name: {**column["descriptor"], **column["model"]} for name, column in TABLE_S1.items()} == {
        "cspb_clbr3": CSPB_COLUMN, "cssn_clbri3": CSSN_COLUMN}
    # the dataclass defaults are the CsSn column, as before
    assert {**dataclasses.asdict(DescriptorSettings()), "alpha": ModelSettings().alpha,
            "gamma": ModelSettings().gamma} == CSSN_COLUMN


def test_cspb_campaign_uses_the_cspb_column_without_normalisation():
    campaign = load_campaign("workflows/cspb_clbr3.yaml")
    assert resolved(campaign) == CSPB_COLUMN
    assert campaign.descriptor.normalization == "none"
    assert mbtr(campaign).normalization == "none" and mbtr(campaign).sigma == 1.752e-2


@pytest.mark.parametrize(("path", "before"), [("workflows/demo.yaml", DEMO_BEFORE),
                                              ("workflows/cssn_clbri3.yaml", CSSN_BEFORE)])
def test_demo_and_cssn_settings_are_unchanged(path, before):
    campaign = load_campaign(path)
    assert dataclasses.asdict(campaign.descriptor) == before["descriptor"]
    # the paper-scale file now tunes by default (the paper tuned by BOSS); the values are unchanged
    model = dataclasses.asdict(campaign.model)
    # settings added later (the krr-forces ones) are at their defaults, which krr ignores
    added = ADDED_SETTINGS["model"]
    assert {key: model.pop(key) for key in added} == added
    assert {**model, "tune": before["model"]["tune"]} == before["model"]
    assert model["tune"] is True
    assert mbtr(campaign) == MBTRSettings(species=campaign.species)  # MBTRSettings' own defaults, as before
    assert mbtr(campaign).hash == before["mbtr_hash"]  # same stored features and models


def test_preset_fills_only_what_the_file_leaves_out():
    campaign = parse_campaign(small_campaign(hyperparameters="cspb_clbr3", descriptor={"sigma": 0.03},
                                             model={"gamma": 2e-4}))
    assert resolved(campaign) == {**CSPB_COLUMN, "sigma": 0.03, "gamma": 2e-4}
    assert resolved(parse_campaign(small_campaign())) == CSSN_COLUMN  # no key: the CsSn column, as before
    normalised = parse_campaign(small_campaign(hyperparameters="cspb_clbr3", descriptor={"normalization": "l2"}))
    assert normalised.descriptor.normalization == "l2" and normalised.descriptor.r_cut == 6.27


def test_settings_round_trip_through_job_specs():
    campaign = load_campaign("workflows/cspb_clbr3.yaml")
    assert CampaignSettings.from_dict(campaign.as_dict()) == campaign


def test_campaigns_stored_before_normalisation_was_a_setting_compare_equal():
    from perovflow.fireworks.manager import settings_changes

    campaign = load_campaign("workflows/demo.yaml")
    old = campaign.as_dict()
    del old["descriptor"]["normalization"]
    assert settings_changes(with_added_settings(old), campaign.as_dict()) == []
    cspb = load_campaign("workflows/cspb_clbr3.yaml").as_dict()
    stale = {**cspb, "descriptor": {k: v for k, v in cspb["descriptor"].items() if k != "normalization"}}
    assert settings_changes(with_added_settings(stale), cspb) == ["descriptor.normalization: 'n_atoms' -> 'none'"]


@pytest.mark.parametrize(("change", "field", "allowed"), [
    ({"hyperparameters": "cspbbr3"}, "hyperparameters", "one of cssn_clbri3, cspb_clbr3"),
    ({"hyperparameters": None}, "hyperparameters", "one of cssn_clbri3, cspb_clbr3"),
    ({"descriptor": {"normalization": "atoms"}}, "descriptor.normalization", "one of none, l2, n_atoms, valle_oganov"),
    ({"descriptor": {"normalization": False}}, "descriptor.normalization", "one of none, l2, n_atoms"),
    ({"descriptor": {"sigma": 0}}, "descriptor.sigma", "a positive number in 1/Å (the paper: 0.04279 in "
                                                       "cssn_clbri3, 0.01752 in cspb_clbr3)"),
    ({"descriptor": {"r_cut": -6.27}}, "descriptor.r_cut", "a positive number in Å (the paper: 7.04 in "
                                                          "cssn_clbri3, 6.27 in cspb_clbr3)"),
    ({"descriptor": {"n_grid": 1}}, "descriptor.n_grid", "an integer >= 2"),
    ({"descriptor": {"w_cut": 1.0}}, "descriptor.w_cut", "a number in (0, 1)"),
    ({"descriptor": {"x_min": "low"}}, "descriptor.x_min", "a number in 1/Å"),
    ({"descriptor": {"x_min": 0.6}}, "descriptor.x_min", "smaller than descriptor.x_max"),
    ({"descriptor": {"preset": "cspb_clbr3"}}, "descriptor.preset", "allowed: sigma, r_cut"),
    ({"model": {"gamma": 0}}, "model.gamma", "a positive number"),
    ({"model": {"gamma": "1.28e-4"}}, "model.gamma", "(the paper: 0.04279 in cssn_clbri3, 0.000128 in cspb_clbr3)"),
    ({"model": {"alpha": -1e-5}}, "model.alpha", "a positive number"),
])
def test_bad_table_s1_values_are_named(change, field, allowed):
    data = small_campaign()
    data.update(change)
    with pytest.raises(CampaignError) as error:
        parse_campaign(data)
    message = str(error.value)
    assert message.startswith(field + ":"), message
    assert allowed in message, message
