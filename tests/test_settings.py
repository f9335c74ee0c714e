"""Campaign files: every bad field is named with what is allowed."""
from __future__ import annotations

import pytest

from perovflow.settings import CampaignError, load_campaign, parse_campaign
from tests.campaign.helpers import small_campaign


def test_demo_campaign_parses_with_the_papers_defaults():
    campaign = load_campaign("workflows/demo.yaml")
    assert campaign.phases == ("Pm-3m", "P4/mbm", "I4/mcm", "Pnma")
    assert campaign.species == ("Cs", "Pb", "Cl", "Br")
    assert campaign.model.alpha == 1e-5
    assert campaign.descriptor.n_grid == 50  # Table S1 default filled in


@pytest.mark.parametrize("path", ["workflows/demo.yaml", "workflows/cssn_clbri3.yaml", "workflows/cspb_clbr3.yaml"])
def test_shipped_campaigns_parse_with_active_learning(path):
    campaign = load_campaign(path)
    assert campaign.active.enabled and campaign.prune.enabled
    assert campaign.active.threshold_mev == 0.5 and campaign.active.ml_fmax == 0.005  # the paper, IV.B


@pytest.mark.parametrize(("change", "field", "allowed"), [
    ({"colour": "red"}, "colour", "allowed: active, campaign"),
    ({"pool": {"per_composition": -3}}, "pool.per_composition", "positive integer"),
    ({"pool": {"perc_omposition": 3}}, "pool.perc_omposition", "allowed: per_composition"),
    ({"system": {"a": "Cs", "b": "Pb", "x": ["Cl", "Xx"]}}, "system", "Xx"),
    ({"system": {"a": "Cs", "b": "Pb"}}, "system.x", "missing"),
    ({"labelling": {"engine": "vasp"}}, "labelling.engine", "one of chgnet, tblite, cp2k, fhi-aims"),
    ({"labelling": {"engine": "tblite", "options": {"max_iterations": 0}}}, "labelling.options", "max_iterations"),
    ({"labelling": {"engine": "chgnet", "options": {"colour": 1}}}, "labelling.options", "colour"),
    ({"phases": ["Pm-3m", "P1"]}, "phases", "P1"),
    ({"selection": {"clusters": 0}}, "selection.clusters", "positive integer"),
    ({"model": {"alpha": "small"}}, "model.alpha", "positive number"),
    ({"active": {"threshold_drop": 1.5}}, "active.threshold_drop", "a number in (0, 1)"),
    ({"active": {"treshold_mev": 0.5}}, "active.treshold_mev", "allowed: enabled, starts_per_phase"),
    ({"prune": {"keep_fraction": 0}}, "prune.keep_fraction", "a number in (0, 1]"),
    ({"selection": {"clusters": 30, "min_size": 5}}, "selection.min_size", "allowed: min_size <= 3"),
    ({"selection": {"clusters": 101}}, "selection.clusters", "allowed: at most 100"),
    ({"selection": {"method": "dbscan"}}, "selection.method", "one of constrained, k-means-constrained, kmeans"),
])
def test_bad_fields_are_named(change, field, allowed):
    data = small_campaign()
    data.update(change)
    with pytest.raises(CampaignError) as error:
        parse_campaign(data)
    message = str(error.value)
    assert message.startswith(field), message
    assert allowed in message, message


def test_missing_campaign_name_and_system():
    data = small_campaign()
    del data["campaign"]
    with pytest.raises(CampaignError, match="^campaign: missing"):
        parse_campaign(data)
    data = small_campaign()
    del data["system"]
    with pytest.raises(CampaignError, match="^system: missing"):
        parse_campaign(data)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("campaign: x\nsystem: {a: Cs, b: Pb, x: [Cl]}\npool: {seed: -1}\n")
    with pytest.raises(CampaignError, match=r"bad.yaml: pool.seed: got -1"):
        load_campaign(path)
    path.write_text("campaign: [unclosed\n")
    with pytest.raises(CampaignError, match="not valid YAML"):
        load_campaign(path)
