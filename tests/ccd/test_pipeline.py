"""The campaign file and the in-process run (with a fast fake oracle)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from perovflow.ccd.config import CCDConfigError, load_campaign, parse_campaign
from perovflow.ccd.networks import CCDNNCommittee
from perovflow.ccd.pipeline import run_campaign
from perovflow.cli import build_parser
from perovflow.engines.base import Label, settings_hash

YAML = Path(__file__).resolve().parents[2] / "workflows" / "cspbbr3_ccd.yaml"


class FakeOracle:
    """Bond-stretching toy energy: fast, smooth, symmetric; labelled as not DFT."""

    name = "fake"
    is_dft = False
    settings: dict = {}
    settings_hash = settings_hash("fake", {})

    def single_point(self, atoms):
        d = atoms.get_all_distances(mic=True)
        pb, br = atoms.numbers == 82, atoms.numbers == 35
        e = np.sum((np.sort(d[pb][:, br], axis=1)[:, :6] - 2.95) ** 2) \
            - 0.3 * np.sum((np.sort(d[br][:, br], axis=1)[:, 1:9] - 4.17) ** 2)
        return Label(energy=float(e), forces=np.zeros((len(atoms), 3)), engine=self.name)


def _tiny() -> dict:
    data = yaml.safe_load(YAML.read_text())
    data["sampler"].update(tilt_systems=["a0a0a0", "a0a0c+", "a0a0c-", "a+b-b-"], scan_angles=[5, 10],
                           modes_per_system=1, mode_amplitudes=[0.05], strain_magnitudes=[0.02],
                           strain_directions=4, n_random=20, interpolation_points=2)
    data["selection"].update(folds=2, cluster_sets=[{"n_pairs": 2, "n_triplets": 0}], architectures=["cluster", "site"])
    data["training"].update(batch_sizes=[10, 100], epochs=[1, 2])
    data["committee"]["members"] = 2
    data["paths"]["points"] = 2
    return data


def test_shipped_campaign_file_is_valid():
    campaign = load_campaign(YAML)
    assert campaign.engine == "chgnet" and campaign.folds == 10 and campaign.test_fraction == 0.2
    assert campaign.schedule.batch_sizes == (2, 10, 100, 1000)
    assert len(campaign.candidates) >= 2


@pytest.mark.parametrize(("path", "value", "match"), [
    (("descriptor", "metric"), "cubic", "descriptor.metric"),
    (("selection", "architectures"), ["atom"], "selection.architectures"),
    (("selection", "folds"), 1, "selection.folds"),
    (("oracle", "engine"), "vasp", "oracle.engine"),
    (("sampler", "n_random"), -1, "sampler.n_random"),
    (("training", "epochs"), [1], "training.epochs"),
    (("sampler", "colour"), 1, "sampler: unknown field"),
])
def test_campaign_errors_name_the_field(path, value, match):
    data = yaml.safe_load(YAML.read_text())
    data[path[0]][path[1]] = value
    with pytest.raises(CCDConfigError, match=match):
        parse_campaign(data)
    with pytest.raises(CCDConfigError, match="unknown section"):
        parse_campaign({**yaml.safe_load(YAML.read_text()), "modle": {}})


def test_run_end_to_end_and_reuse_labels(tmp_path, capsys):
    campaign = parse_campaign(_tiny())
    oracle = FakeOracle()
    results = run_campaign(campaign, tmp_path, engine=oracle)
    out = capsys.readouterr().out
    assert "[6/6]" in out and "CV RMSE" in out
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["n_train"] + saved["n_test"] == saved["n_structures"]
    assert saved["test_rmse_mev_per_atom"] > 0 and not saved["oracle"]["is_dft"]
    assert set(saved["paths"]) == {"interpolation", "in_phase_tilt", "anti_phase_tilt", "volumetric_strain"}
    for p in saved["paths"].values():
        assert Path(p["plot"]).read_bytes()[:4] == b"\x89PNG"
    model = CCDNNCommittee.load(tmp_path / "model")
    assert model.kind == "ccdnn" and model.n_members == 2
    # a second run relabels nothing
    again = run_campaign(campaign, tmp_path, engine=oracle, progress=lambda m: None)
    assert again["oracle"]["calls"] == 0
    assert again["test_rmse_mev_per_atom"] == pytest.approx(results["test_rmse_mev_per_atom"])


def test_cli_has_the_ccd_command(capsys):
    args = build_parser().parse_args(["ccd", "check", str(YAML)])
    assert args.func(args) == 0
    assert "candidates" in capsys.readouterr().out
