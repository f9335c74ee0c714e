"""A committee of CCD networks: the mean is the prediction, the spread the uncertainty.

Same interface as the MBTR-KRR/GPR model where it matters to a campaign: energies per atom
(``predict``), a standard deviation per atom in eV/atom (``sigma``), and storage as plain
arrays plus JSON (``to_arrays``/``metadata`` and ``from_arrays``; ``save``/``load`` write
``.npz`` + ``.json`` and never pickle, so loading cannot execute code).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from ase import Atoms

from perovflow.ccd.descriptor import CCDDescriptor, CCDSettings, CubicPerovskite
from perovflow.ccd.networks.network import ARCHITECTURES, GroupedEnsemble, check_hidden
from perovflow.ccd.networks.training import TrainingSchedule, predict_rows, train_ensemble

FORMAT = "perovflow.ccdnn/1"


class CCDNNCommittee:
    """``n_members`` networks of one architecture on one CCD descriptor, different seeds."""

    kind = "ccdnn"

    def __init__(self, reference: CubicPerovskite, settings: CCDSettings = CCDSettings(),
                 architecture: str = "cluster", hidden: Sequence[int] = (8,), n_members: int = 5,
                 schedule: TrainingSchedule = TrainingSchedule(), seed: int = 0):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"model.architecture: unknown {architecture!r}; allowed: {list(ARCHITECTURES)}")
        if isinstance(n_members, bool) or int(n_members) < 1:
            raise ValueError(f"model.committee: expected a positive number of networks, got {n_members!r}")
        self.reference = reference
        self.settings = settings
        self.architecture = architecture
        self.hidden = check_hidden(hidden)
        self.n_members = int(n_members)
        self.schedule = schedule
        self.seed = int(seed)
        self._descriptor: CCDDescriptor | None = None
        self.net: GroupedEnsemble | None = None
        self.scales: list[np.ndarray] = []
        self.y_mean = 0.0
        self.y_std = 1.0
        self.history: list[float] = []

    @property
    def descriptor(self) -> CCDDescriptor:
        if self._descriptor is None:
            self._descriptor = CCDDescriptor(self.reference, self.settings)
        return self._descriptor

    # ------------------------------------------------------------------ features
    def group_inputs(self, cluster_features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Network inputs per group from per-orbit cluster features (n, C, F)."""
        if len(cluster_features) != len(self.descriptor.orbits):
            raise ValueError(f"{len(cluster_features)} orbit feature arrays for {len(self.descriptor.orbits)} orbits")
        if self.architecture == "cluster":
            return [np.asarray(f) for f in cluster_features]
        return self.descriptor.site_features(list(cluster_features))

    def _tensors(self, groups: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [torch.as_tensor(g / s, dtype=torch.float32) for g, s in zip(groups, self.scales)]

    def _features(self, structures: Sequence[Atoms] | None, cluster_features) -> list[np.ndarray]:
        if cluster_features is None:
            if structures is None:
                raise ValueError("give structures or their cluster features")
            cluster_features = self.descriptor.cluster_features(structures)
        return self.group_inputs(cluster_features)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, structures: Sequence[Atoms] | None, energy_per_atom: np.ndarray,
            cluster_features: Sequence[np.ndarray] | None = None,
            progress: Callable[[str], None] | None = None) -> CCDNNCommittee:
        y = np.asarray(energy_per_atom, float)
        groups = self._features(structures, cluster_features)
        if len(y) == 0 or len(y) != len(groups[0]):
            raise ValueError(f"{len(groups[0])} structures but {len(y)} energies (need at least one)")
        if not np.all(np.isfinite(y)):
            raise ValueError("training energies contain NaN or inf")
        self.scales = []
        for g in groups:
            rms = np.sqrt((g**2).reshape(-1, g.shape[-1]).mean(axis=0))
            self.scales.append(np.where(rms > 1e-12, rms, 1.0))
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) if y.std() > 0 else 1.0
        self.net = GroupedEnsemble([g.shape[-1] for g in groups], self.hidden, self.n_members,
                                   self.descriptor.supercell.n_atoms, seed=self.seed)
        targets = torch.as_tensor((y - self.y_mean) / self.y_std, dtype=torch.float32)
        rows = [np.arange(len(y))] * self.n_members
        self.history = train_ensemble(self.net, self._tensors(groups), targets, rows, self.schedule,
                                      seed=self.seed, progress=progress)
        return self

    def predict_members(self, structures: Sequence[Atoms] | None = None,
                        cluster_features: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Energies per atom (eV/atom) of every member, shape (n_members, n)."""
        if self.net is None:
            raise RuntimeError("model is not fitted")
        groups = self._features(structures, cluster_features)
        z = predict_rows(self.net, self._tensors(groups)).numpy().astype(np.float64)
        return self.y_mean + self.y_std * z

    def predict(self, structures: Sequence[Atoms] | None = None,
                cluster_features: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Committee mean energy per atom (eV/atom)."""
        return self.predict_members(structures, cluster_features).mean(axis=0)

    def sigma(self, structures: Sequence[Atoms] | None = None,
              cluster_features: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Committee standard deviation of the energy per atom (eV/atom)."""
        members = self.predict_members(structures, cluster_features)
        return members.std(axis=0, ddof=1) if self.n_members > 1 else np.zeros(members.shape[1])

    # ------------------------------------------------------------------ storage
    def metadata(self) -> dict:
        return {"format": FORMAT, "kind": self.kind, "architecture": self.architecture,
                "hidden": list(self.hidden), "n_members": self.n_members, "seed": self.seed,
                "schedule": self.schedule.as_dict(), "descriptor": self.settings.as_dict(),
                "reference": {"a": self.reference.a, "b": self.reference.b, "x": self.reference.x,
                              "a0": self.reference.a0},
                "descriptor_checksum": self.descriptor.checksum(),
                "group_dims": [int(len(s)) for s in self.scales],
                "y_mean": self.y_mean, "y_std": self.y_std, "history": self.history,
                "units": {"predict": "eV/atom", "sigma": "eV/atom"}}

    def to_arrays(self) -> dict[str, np.ndarray]:
        if self.net is None:
            raise RuntimeError("model is not fitted")
        arrays = {f"net_{k}": v for k, v in self.net.state_arrays().items()}
        for i, s in enumerate(self.scales):
            arrays[f"scale_{i}"] = np.asarray(s, float)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict) -> CCDNNCommittee:
        if metadata.get("format") != FORMAT:
            raise ValueError(f"not a CCD-NN committee (format {metadata.get('format')!r}, expected {FORMAT!r})")
        ref = CubicPerovskite(**metadata["reference"])
        model = cls(ref, CCDSettings.from_dict(metadata["descriptor"]), metadata["architecture"],
                    metadata["hidden"], metadata["n_members"], TrainingSchedule(**metadata["schedule"]),
                    metadata["seed"])
        if model.descriptor.checksum() != metadata["descriptor_checksum"]:
            raise ValueError("descriptor checksum differs: this code builds other CCD features than the "
                             "code that trained the model")
        model.scales = [np.asarray(arrays[f"scale_{i}"], float) for i in range(len(metadata["group_dims"]))]
        model.y_mean, model.y_std = float(metadata["y_mean"]), float(metadata["y_std"])
        model.history = list(metadata.get("history", []))
        model.net = GroupedEnsemble(metadata["group_dims"], model.hidden, model.n_members,
                                    model.descriptor.supercell.n_atoms, seed=model.seed)
        model.net.load_arrays({k[4:]: v for k, v in arrays.items() if k.startswith("net_")})
        return model

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``path.npz`` (arrays) and ``path.json`` (metadata)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        npz, meta = path.with_suffix(".npz"), path.with_suffix(".json")
        np.savez(npz, **self.to_arrays())
        meta.write_text(json.dumps(self.metadata(), indent=1))
        return npz, meta

    @classmethod
    def load(cls, path: str | Path) -> CCDNNCommittee:
        path = Path(path)
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return cls.from_arrays(arrays, json.loads(path.with_suffix(".json").read_text()))
