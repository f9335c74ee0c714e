"""Model versions as plain arrays plus JSON metadata, and the checks made when loading one.

A saved MBTR-KRR version carries everything needed to use it again and to know what it
is: weights, training features, hyperparameters, species, the descriptor settings and
their hash, metrics and the hyperparameter-tuning record. Arrays are numeric or unicode
(never ``object``), so the ``.npz`` loads with ``allow_pickle=False``; nothing here
imports a database driver (the store in :mod:`perovflow.store.store` moves the bytes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from perovflow.descriptors.mbtr import MBTRDescriptor, MBTRSettings
from perovflow.models.calculator import MBTRKRRCalculator
from perovflow.models.krr import KernelRidgeEnergy
from perovflow.models.krr_forces import KIND as FORCES_KIND
from perovflow.models.krr_forces import KernelRidgeEnergyForces

KIND = "mbtr-krr"


class DescriptorMismatch(ValueError):
    """The descriptor settings a caller expects differ from those a model was trained with."""


def descriptor_differences(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, tuple]:
    """Fields whose values differ, as {field: (stored, expected)}."""
    keys = sorted(set(stored) | set(expected))
    return {key: (stored.get(key), expected.get(key)) for key in keys
            if _plain(stored.get(key)) != _plain(expected.get(key))}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def check_descriptor(stored: Mapping[str, Any], stored_hash: str | None, expected: MBTRSettings) -> None:
    """Raise :class:`DescriptorMismatch` naming both hashes and the differing fields."""
    expected_dict = expected.as_dict()
    differences = descriptor_differences(stored, expected_dict)
    if differences or (stored_hash is not None and stored_hash != expected.hash):
        detail = ", ".join(f"{key}: model {a!r} vs expected {b!r}" for key, (a, b) in differences.items())
        raise DescriptorMismatch(
            f"model was trained with descriptor {stored_hash} but descriptor {expected.hash} was "
            f"expected; differing fields: {detail or 'none (hash of another settings version)'}")


@dataclass
class SavedModel:
    """A model version with what is needed to use it safely."""

    model: KernelRidgeEnergy | KernelRidgeEnergyForces
    descriptor: dict[str, Any]
    descriptor_hash: str
    species: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    tuning: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> MBTRSettings:
        data = dict(self.descriptor)
        data["species"] = tuple(data["species"])
        return MBTRSettings(**data)

    def check_descriptor(self, expected: MBTRSettings) -> None:
        check_descriptor(self.descriptor, self.descriptor_hash, expected)

    def calculator(self, descriptor: MBTRDescriptor | None = None):
        """An ASE calculator; a given descriptor must have the stored settings."""
        if descriptor is None:
            descriptor = MBTRDescriptor(self.settings)
        else:
            self.check_descriptor(descriptor.settings)
        return MBTRKRRCalculator(self.model, descriptor)


def model_record(model: KernelRidgeEnergy | KernelRidgeEnergyForces, settings: MBTRSettings, metrics: Mapping[str, Any] | None = None,
                 tuning: Any = None, extra: Mapping[str, Any] | None = None,
                 training_ids: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays (for the ``.npz``) and JSON metadata of a fitted model.

    ``tuning`` is a :class:`perovflow.models.tuning.TuningResult` or its ``as_dict()``.
    The descriptor settings are stored in both parts so the ``.npz`` alone is complete.
    """
    if model.weights is None:
        raise ValueError("model is not fitted: nothing to save")
    if len(settings.species) == 0:
        raise ValueError("descriptor settings have no species")
    tuning_dict = tuning.as_dict() if hasattr(tuning, "as_dict") else (dict(tuning) if tuning else None)
    descriptor = settings.as_dict()
    arrays = dict(model.to_arrays())
    arrays["species"] = np.array(list(settings.species), dtype=str)
    arrays["descriptor_json"] = np.array(json.dumps(descriptor, sort_keys=True))
    arrays["descriptor_hash"] = np.array(settings.hash)
    if training_ids is not None:
        if len(training_ids) != len(model.x_train):
            raise ValueError(f"{len(training_ids)} training ids for {len(model.x_train)} training rows")
        arrays["training_ids"] = np.array([str(i) for i in training_ids], dtype=str)
    hyperparameters = {"alpha": model.hyper.alpha, "gamma": model.hyper.gamma, "sigma": settings.sigma}
    forces = isinstance(model, KernelRidgeEnergyForces)
    if forces:
        hyperparameters.update(force_alpha=model.hyper.force_alpha, force_directions=int(model.hyper.directions),
                               force_alpha_rule=model.hyper.force_alpha_rule)
    meta: dict[str, Any] = {
        "kind": FORCES_KIND if forces else KIND,
        "hyperparameters": hyperparameters,
        "amplitude": model.amplitude,
        "amplitude_rule": model.amplitude_rule,
        "n_train": int(len(model.x_train)),
        "n_features": model.n_features,
        "species": list(settings.species),
        "descriptor": descriptor,
        "descriptor_hash": settings.hash,
        "target": "energy_per_atom_eV",
        "metrics": dict(metrics or {}),
        "tuning": tuning_dict,
        **dict(extra or {}),
    }
    json.dumps(meta)  # fail here, not in the store, when something is not plain JSON
    return arrays, meta


def model_from_record(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                      expected: MBTRSettings | None = None) -> SavedModel:
    """Rebuild a saved model; with ``expected`` the descriptor settings must match."""
    if "descriptor_json" in arrays:
        descriptor = json.loads(str(arrays["descriptor_json"]))
        stored_hash = str(arrays["descriptor_hash"])
    elif "descriptor" in meta:  # versions written before the arrays carried the settings
        descriptor, stored_hash = dict(meta["descriptor"]), meta.get("descriptor_hash")
    else:
        raise ValueError("model record has no descriptor settings: cannot tell how to featurize for it")
    if meta.get("descriptor_hash") not in (None, stored_hash):
        raise DescriptorMismatch(f"model file says descriptor {stored_hash} but its metadata says "
                                 f"{meta.get('descriptor_hash')}: the record is inconsistent")
    if expected is not None:
        check_descriptor(descriptor, stored_hash, expected)
    if str(arrays.get("model_kind", KIND)) == FORCES_KIND:
        model = KernelRidgeEnergyForces.from_arrays(arrays)
    else:
        model = KernelRidgeEnergy.from_arrays(arrays)
    species = [str(s) for s in arrays["species"]] if "species" in arrays else list(descriptor["species"])
    saved = SavedModel(model=model, descriptor=descriptor, descriptor_hash=str(stored_hash), species=species,
                       metrics=dict(meta.get("metrics") or {}), tuning=meta.get("tuning"),
                       meta={k: v for k, v in meta.items() if k not in ("_id", "file_id")})
    settings = saved.settings  # also validates the stored settings
    if stored_hash is not None and settings.hash != stored_hash:
        raise DescriptorMismatch(f"stored descriptor settings hash to {settings.hash}, not the recorded "
                                 f"{stored_hash}: the record was changed or written by another version")
    if MBTRDescriptor(settings).n_features != model.n_features:
        raise ValueError(f"model has {model.n_features} features but its descriptor settings make "
                         f"{MBTRDescriptor(settings).n_features}")
    return saved
