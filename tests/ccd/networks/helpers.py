"""Shared data of the network and model-selection tests: a toy energy of CCD features."""
from __future__ import annotations

import numpy as np

from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, ClusterSet, CubicPerovskite
from perovflow.ccd.sampler import build_tilted
from tests.ccd.helpers import distorted

A0 = 5.9
SETTINGS = CCDSettings(clusters=ClusterSet(n_pairs=4, n_triplets=1, octahedron=True), order=2)


def toy_data(n: int, seed: int = 0):
    base = build_tilted("a0a0a0", 0.0, A0 / 2)
    structures = [distorted(base, seed * 1000 + i, displacement=0.1, strain=0.015) for i in range(n)]
    desc = CCDDescriptor(CubicPerovskite(a0=A0), SETTINGS)
    feats = desc.cluster_features(structures)
    # a smooth, symmetric toy energy of the clusters (eV/atom)
    y = (0.02 * np.tanh(feats[0][..., 1]).sum(1) + 0.01 * np.sin(feats[-1][..., 0]).sum(1)
         - 0.005 * feats[-1][..., 2].sum(1)) / 40
    return structures, feats, y
