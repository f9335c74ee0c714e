"""Adam on the squared energy error with the batch-size schedule of
Thomas et al. 2019: batch sizes 2, 10, 100 and 1000 with at least 1000 epochs each, Adam, the
least-squares objective of Eq. 18. Those are the defaults here; campaign files scale the
epochs down for a laptop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from perovflow.ccd.networks.network import GroupedEnsemble


@dataclass(frozen=True)
class TrainingSchedule:
    batch_sizes: tuple[int, ...] = (2, 10, 100, 1000)
    epochs: tuple[int, ...] = (1000, 1000, 1000, 1000)
    learning_rate: float = 1.0e-3
    weight_decay: float = 0.0
    learning_rates: tuple[float, ...] | None = None  # one per batch size; overrides learning_rate

    def __post_init__(self) -> None:
        bs = tuple(int(b) for b in self.batch_sizes)
        ep = tuple(int(e) for e in self.epochs)
        if not bs or any(b < 1 for b in bs):
            raise ValueError(f"training.batch_sizes: expected positive integers (the paper: [2, 10, 100, 1000]), got {list(bs)}")
        if len(ep) != len(bs) or any(e < 0 for e in ep):
            raise ValueError(f"training.epochs: expected one non-negative count per batch size ({len(bs)}), got {list(ep)}")
        if not self.learning_rate > 0:
            raise ValueError(f"training.learning_rate: must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"training.weight_decay: must be >= 0, got {self.weight_decay}")
        object.__setattr__(self, "batch_sizes", bs)
        object.__setattr__(self, "epochs", ep)
        if self.learning_rates is not None:
            rates = tuple(float(r) for r in self.learning_rates)
            if len(rates) != len(bs) or any(not r > 0 for r in rates):
                raise ValueError(f"training.learning_rates: expected one rate > 0 per batch size ({len(bs)}), "
                                 f"got {list(rates)}")
            object.__setattr__(self, "learning_rates", rates)

    def rates(self) -> tuple[float, ...]:
        return self.learning_rates or (self.learning_rate,) * len(self.batch_sizes)

    def as_dict(self) -> dict:
        return {"batch_sizes": list(self.batch_sizes), "epochs": list(self.epochs),
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "learning_rates": None if self.learning_rates is None else list(self.learning_rates)}


def _member_batches(train: Sequence[np.ndarray], batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch: (M, b) index arrays; members with fewer rows recycle a few at random."""
    longest = max(len(t) for t in train)
    rows = []
    for t in train:
        perm = rng.permutation(t)
        if len(perm) < longest:
            perm = np.concatenate([perm, rng.choice(t, longest - len(perm))])
        rows.append(perm)
    order = np.stack(rows)
    return [order[:, i:i + batch] for i in range(0, longest, batch)]


def train_ensemble(net: GroupedEnsemble, inputs: Sequence[torch.Tensor], targets: torch.Tensor,
                   train: Sequence[np.ndarray], schedule: TrainingSchedule, seed: int = 0,
                   progress: Callable[[str], None] | None = None) -> list[float]:
    """Train member m on rows ``train[m]`` of ``inputs`` (each (N, C_g, F_g)) against
    ``targets`` (N,); returns the mean training loss after each stage."""
    if len(train) != net.n_members:
        raise ValueError(f"{len(train)} training index sets for {net.n_members} members")
    if any(len(t) == 0 for t in train):
        raise ValueError("a member has an empty training set")
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=schedule.learning_rate, weight_decay=schedule.weight_decay)
    history = []
    for batch, epochs, rate in zip(schedule.batch_sizes, schedule.epochs, schedule.rates()):
        for group in optimiser.param_groups:
            group["lr"] = rate
        for _ in range(epochs):
            for idx in _member_batches(train, batch, rng):
                index = torch.as_tensor(idx)
                pred = net([x[index] for x in inputs])
                loss = ((pred - targets[index]) ** 2).mean(dim=1).sum()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        if epochs:
            with torch.no_grad():
                losses = [float(((predict_rows(net, inputs, t)[m] - targets[t]) ** 2).mean())
                          for m, t in enumerate(train)]
            history.append(float(np.mean(losses)))
            if progress:
                progress(f"batch size {batch}: {epochs} epochs, training MSE (standardised) {history[-1]:.4g}")
    return history


def predict_rows(net: GroupedEnsemble, inputs: Sequence[torch.Tensor], rows: np.ndarray | None = None,
                 chunk: int = 256) -> torch.Tensor:
    """Standardised predictions (M, n_rows) of every member, in chunks."""
    n = inputs[0].shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    out = []
    with torch.no_grad():
        for i in range(0, len(rows), chunk):
            sel = torch.as_tensor(rows[i:i + chunk])
            out.append(net([x[sel].unsqueeze(0).expand(net.n_members, *x[sel].shape) for x in inputs]))
    return torch.cat(out, dim=1) if out else torch.zeros(net.n_members, 0)
