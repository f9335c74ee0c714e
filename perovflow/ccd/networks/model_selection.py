"""k-fold cross-validation over architectures, cluster sets and polynomial orders.

Features are computed once for the union of all clusters at the highest order (a pair
orbit or an invariant of degree k is the same in every set that holds it); each
candidate takes its orbits and degrees from that bank. The k folds of a candidate are
trained together as one ensemble.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from ase import Atoms

from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, ClusterSet, CubicPerovskite
from perovflow.ccd.networks.committee import CCDNNCommittee
from perovflow.ccd.networks.network import GroupedEnsemble
from perovflow.ccd.networks.training import TrainingSchedule, predict_rows, train_ensemble
from perovflow.models.folds import kfold_splits


@dataclass(frozen=True)
class Candidate:
    """One hyperparameter set."""

    clusters: ClusterSet
    order: int
    architecture: str
    hidden: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.architecture}/{self.clusters.label}/order{self.order}/{'x'.join(map(str, self.hidden))}"

    def as_dict(self) -> dict:
        return {"clusters": self.clusters.as_dict(), "order": self.order,
                "architecture": self.architecture, "hidden": list(self.hidden), "label": self.label}


def kfold(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) index pairs of the model selection
    (:func:`perovflow.models.folds.kfold_splits`), with this campaign's error message."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= n:
        raise ValueError(f"selection.folds: expected 2..{n} folds for {n} structures, got {k!r}")
    return kfold_splits(n, k, seed)


class FeatureBank:
    """Cluster features of many structures for the union of the candidates' clusters."""

    def __init__(self, reference: CubicPerovskite, candidates: Sequence[Candidate], metric: str = "linear",
                 optimised: bool = False, optimised_sigma: float = 0.15):
        cutoffs = {(c.clusters.pair_cutoff, c.clusters.triplet_cutoff) for c in candidates}
        if len(cutoffs) != 1:
            raise ValueError("cluster_sets: all sets of one selection must share pair_cutoff and triplet_cutoff")
        pc, tc = cutoffs.pop()
        union = ClusterSet(n_pairs=max(c.clusters.n_pairs for c in candidates),
                           n_triplets=max(c.clusters.n_triplets for c in candidates),
                           octahedron=any(c.clusters.octahedron for c in candidates),
                           tetrahedron=any(c.clusters.tetrahedron for c in candidates),
                           pair_cutoff=pc, triplet_cutoff=tc)
        self.reference = reference
        self.metric, self.optimised, self.optimised_sigma = metric, optimised, optimised_sigma
        self.settings = CCDSettings(clusters=union, order=max(c.order for c in candidates), metric=metric,
                                    optimised=optimised, optimised_sigma=optimised_sigma)
        self.descriptor = CCDDescriptor(reference, self.settings)
        self.features: list[np.ndarray] = []

    def add(self, structures: Sequence[Atoms]) -> None:
        new = self.descriptor.cluster_features(structures)
        self.features = new if not self.features else [np.concatenate([a, b]) for a, b in zip(self.features, new)]

    def settings_for(self, candidate: Candidate) -> CCDSettings:
        return CCDSettings(clusters=candidate.clusters, order=candidate.order, metric=self.metric,
                           optimised=self.optimised, optimised_sigma=self.optimised_sigma)

    def subset(self, candidate: Candidate, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """Per-orbit features in the layout of ``CCDDescriptor(settings_for(candidate))``."""
        names = [o.name for o in candidate.clusters.orbits()]
        out = []
        for name in names:
            k = self.descriptor.names.index(name)
            degrees = self.descriptor.orbits[k].invariants.degrees
            f = self.features[k] if rows is None else self.features[k][rows]
            out.append(f[..., degrees <= candidate.order])
        return out

    def committee(self, candidate: Candidate, n_members: int, schedule: TrainingSchedule,
                  seed: int = 0) -> CCDNNCommittee:
        return CCDNNCommittee(self.reference, self.settings_for(candidate), candidate.architecture,
                              candidate.hidden, n_members, schedule, seed)


def cross_validate(bank: FeatureBank, energy_per_atom: np.ndarray, candidate: Candidate, folds: int,
                   schedule: TrainingSchedule, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> dict:
    """k-fold CV of one candidate: RMSE (eV/atom) on each held-out fold and on its training part."""
    y = np.asarray(energy_per_atom, float)
    splits = kfold(len(y), folds, seed)
    model = bank.committee(candidate, len(splits), schedule, seed)
    groups = model.group_inputs(bank.subset(candidate))
    # scales and target standardisation from all rows: they only set units, not the fit
    model.scales = []
    for g in groups:
        rms = np.sqrt((g**2).reshape(-1, g.shape[-1]).mean(axis=0))
        model.scales.append(np.where(rms > 1e-12, rms, 1.0))
    mean, std = float(y.mean()), float(y.std()) or 1.0
    net = GroupedEnsemble([g.shape[-1] for g in groups], candidate.hidden, len(splits),
                          model.descriptor.supercell.n_atoms, seed=seed)
    inputs = model._tensors(groups)
    targets = torch.as_tensor((y - mean) / std, dtype=torch.float32)
    train_ensemble(net, inputs, targets, [t for t, _ in splits], schedule, seed=seed)
    pred = mean + std * predict_rows(net, inputs).numpy().astype(np.float64)  # (k, n)
    val = [float(np.sqrt(np.mean((pred[m, v] - y[v]) ** 2))) for m, (_, v) in enumerate(splits)]
    trn = [float(np.sqrt(np.mean((pred[m, t] - y[t]) ** 2))) for m, (t, _) in enumerate(splits)]
    result = {**candidate.as_dict(), "cv_rmse": float(np.mean(val)), "cv_rmse_std": float(np.std(val)),
              "train_rmse": float(np.mean(trn)), "fold_rmse": val}
    if progress:
        progress(f"{candidate.label}: CV RMSE {1e3 * result['cv_rmse']:.2f} meV/atom "
                 f"(train {1e3 * result['train_rmse']:.2f})")
    return result
