"""Cluster- and site-based networks, committee, storage, and the symmetry of the energy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, CubicPerovskite, cubic_group
from perovflow.ccd.networks import CCDNNCommittee, TrainingSchedule
from perovflow.ccd.sampler import build_tilted
from tests.ccd.helpers import cubic_image, distorted
from tests.ccd.networks.helpers import A0, SETTINGS, toy_data

torch.set_num_threads(1)
NO_TRAINING = TrainingSchedule(batch_sizes=(2,), epochs=(0,))


def _untrained(architecture: str) -> CCDNNCommittee:
    """Random weights: invariance must not depend on what was learned."""
    model = CCDNNCommittee(CubicPerovskite(a0=A0), SETTINGS, architecture, (6, 5), n_members=2,
                           schedule=NO_TRAINING, seed=4)
    base = build_tilted("a0a0a0", 0.0, A0 / 2)
    model.fit([distorted(base, s) for s in range(3)], np.array([0.0, 1.0, 2.0]))
    return model


def _low_symmetry_structure() -> object:
    return distorted(build_tilted("a+b-c-", 7.0, A0 / 2), seed=11, displacement=0.05, strain=0.01)


@pytest.mark.parametrize("architecture", ["cluster", "site"])
def test_energy_equal_for_symmetry_equivalent_distortions(architecture):
    model = _untrained(architecture)
    atoms = _low_symmetry_structure()
    ops = cubic_group()
    images = [cubic_image(atoms, ops[k]) for k in (1, 5, 17, 30, 47)]
    e = model.predict([atoms] + images)
    assert np.ptp(e) < 1e-6 * max(1.0, abs(e[0]))
    # not a constant function: another distortion has another energy
    other = model.predict([distorted(build_tilted("a+b-c-", 7.0, A0 / 2), seed=12, displacement=0.05)])
    assert abs(other[0] - e[0]) > 1e-4


def test_tilt_pattern_and_its_cubic_image_have_the_same_energy():
    """a0a0c+ (in-phase about z) and a0b+a0-like rotations about x are related by a 3-fold axis."""
    model = _untrained("cluster")
    about_z = build_tilted("a0a0c+", 8.0, A0 / 2)
    about_x = build_tilted("c+a0a0", 8.0, A0 / 2)
    e = model.predict([about_z, about_x])
    assert abs(e[0] - e[1]) < 1e-6 * max(1.0, abs(e[0]))  # float32 networks


@pytest.mark.parametrize("optimised", [False, True])
def test_the_symmetry_test_can_fail_on_raw_ccds(optimised):
    """Raw CCDs (not the invariants) of the same clusters differ between the two images;
    the invariants (of the plain or the appendix's optimised CCDs) do not."""
    settings = CCDSettings(clusters=SETTINGS.clusters, order=2, optimised=optimised)
    desc = CCDDescriptor(CubicPerovskite(a0=A0), settings)
    atoms = _low_symmetry_structure()
    image = cubic_image(atoms, cubic_group()[5])
    raw = [q.sum(axis=1) for q in desc.ccds([atoms, image])]
    assert max(np.abs(r[0] - r[1]).max() for r in raw) > 1e-3  # sums of raw CCDs are not invariant
    inv = [f.sum(axis=1) for f in desc.cluster_features([atoms, image])]
    assert max(np.abs(f[0] - f[1]).max() for f in inv) < 1e-10


def test_committee_learns_and_has_spread():
    structures, feats, y = toy_data(60)
    schedule = TrainingSchedule(batch_sizes=(10, 100), epochs=(15, 30), learning_rate=0.01)
    model = CCDNNCommittee(CubicPerovskite(a0=A0), SETTINGS, "cluster", (8,), n_members=3, schedule=schedule)
    model.fit(None, y, cluster_features=feats)
    assert model.history[-1] < 0.3 * 1.0  # standardised MSE well below the variance
    rmse = np.sqrt(np.mean((model.predict(cluster_features=feats) - y) ** 2))
    assert rmse < 0.5 * y.std()
    sigma = model.sigma(cluster_features=feats)
    assert sigma.shape == y.shape and np.all(sigma >= 0) and sigma.mean() > 0


def test_save_and_load_plain_arrays_and_json(tmp_path):
    structures, feats, y = toy_data(12, seed=1)
    model = CCDNNCommittee(CubicPerovskite(a0=A0), SETTINGS, "site", (5,), n_members=2,
                           schedule=TrainingSchedule(batch_sizes=(4,), epochs=(2,)))
    model.fit(structures, y)
    npz, meta = model.save(tmp_path / "m")
    with np.load(npz, allow_pickle=False) as data:
        assert all(data[k].dtype.kind == "f" for k in data.files)
    loaded = CCDNNCommittee.load(tmp_path / "m")
    assert np.allclose(loaded.predict(structures), model.predict(structures), atol=1e-10)
    assert np.allclose(loaded.sigma(structures), model.sigma(structures), atol=1e-10)
    assert loaded.metadata()["units"] == {"predict": "eV/atom", "sigma": "eV/atom"}


def test_bad_model_settings_are_named():
    with pytest.raises(ValueError, match="model.architecture"):
        CCDNNCommittee(CubicPerovskite(a0=A0), SETTINGS, "atom")
    with pytest.raises(ValueError, match="model.hidden"):
        CCDNNCommittee(CubicPerovskite(a0=A0), SETTINGS, "cluster", ())
    with pytest.raises(ValueError, match="training.epochs"):
        TrainingSchedule(batch_sizes=(2, 10), epochs=(1,))
    with pytest.raises(ValueError, match="training.learning_rates"):
        TrainingSchedule(batch_sizes=(2, 10), epochs=(1, 1), learning_rates=(0.01,))
    assert TrainingSchedule().batch_sizes == (2, 10, 100, 1000)  # the paper's schedule is the default
    assert TrainingSchedule().epochs == (1000,) * 4
