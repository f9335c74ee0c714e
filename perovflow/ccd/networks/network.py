"""Ensembles of small tanh networks over groups of CCD features (Thomas et al. 2019, Eqs. 13 and 16).

A *group* is a cluster orbit (cluster-based network: one network per orbit, evaluated on
every cluster of the orbit and summed) or a site orbit (site-based network: one network
per symmetrically distinct site, evaluated on the site-centred correlation functions of
every site and summed). Each network is shifted so that it is zero for zero input: the
reference crystal then has exactly the learned reference energy.

``n_members`` independent networks (a committee, or the folds of a cross-validation) are
trained together: every parameter has a leading member axis, which amortises the Python
overhead of small batches.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

ARCHITECTURES: tuple[str, ...] = ("cluster", "site")


def check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"model.hidden: expected a non-empty list of positive layer widths, got {list(hidden)}")
    return hidden


class GroupedEnsemble(torch.nn.Module):
    """E/atom (standardised) = b + 1/n_atoms sum_groups sum_items [N_g(x) - N_g(0)]."""

    def __init__(self, input_dims: Sequence[int], hidden: Sequence[int], n_members: int, n_atoms: int,
                 seed: int = 0):
        super().__init__()
        self.input_dims = [int(d) for d in input_dims]
        self.hidden = check_hidden(hidden)
        self.n_members = int(n_members)
        self.n_atoms = int(n_atoms)
        gen = torch.Generator().manual_seed(int(seed))
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        self.layout: list[tuple[int, int]] = []  # (first parameter index, number of layers) per group
        for dim in self.input_dims:
            widths = [dim, *self.hidden, 1]
            self.layout.append((len(self.weights), len(widths) - 1))
            for fan_in, fan_out in zip(widths[:-1], widths[1:]):
                bound = 1.0 / math.sqrt(max(fan_in, 1))
                w = (torch.rand(self.n_members, fan_in, fan_out, generator=gen) * 2 - 1) * bound
                b = (torch.rand(self.n_members, fan_out, generator=gen) * 2 - 1) * bound
                self.weights.append(torch.nn.Parameter(w))
                self.biases.append(torch.nn.Parameter(b))
        self.offset = torch.nn.Parameter(torch.zeros(self.n_members))

    def _hidden(self, group: int, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer of group ``group`` for x (M, B, C, F) -> (M, B, C, H)."""
        start, n_layers = self.layout[group]
        h = x
        for layer in range(start, start + n_layers - 1):
            w, b = self.weights[layer], self.biases[layer]
            h = torch.tanh(torch.matmul(h, w[:, None]) + b[:, None, None, :])
        return h

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``inputs[g]``: (M, B, C_g, F_g) -> standardised energies per atom (M, B)."""
        total = self.offset[:, None]
        for g, x in enumerate(inputs):
            start, n_layers = self.layout[g]
            w_out = self.weights[start + n_layers - 1][:, :, 0]  # (M, H)
            count = x.shape[2]
            h = self._hidden(g, x).sum(dim=2)  # (M, B, H): the output layer is linear
            zero = self._hidden(g, torch.zeros(x.shape[0], 1, 1, x.shape[3], dtype=x.dtype))[:, :, 0]  # (M,1,H)
            total = total + torch.einsum("mbh,mh->mb", h - count * zero, w_out) / self.n_atoms
        return total

    def state_arrays(self) -> dict[str, np.ndarray]:
        out = {"offset": self.offset.detach().cpu().numpy().astype(np.float64)}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"w{i}"] = w.detach().cpu().numpy().astype(np.float64)
            out[f"b{i}"] = b.detach().cpu().numpy().astype(np.float64)
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            self.offset.copy_(torch.as_tensor(np.asarray(arrays["offset"]), dtype=self.offset.dtype))
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                for name, p in ((f"w{i}", w), (f"b{i}", b)):
                    value = np.asarray(arrays[name])
                    if value.shape != tuple(p.shape):
                        raise ValueError(f"model arrays: {name} has shape {value.shape}, expected {tuple(p.shape)}")
                    p.copy_(torch.as_tensor(value, dtype=p.dtype))
